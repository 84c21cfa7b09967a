"""Allocation-only rules: a power law N_opt = k C^a, and a fixed tokens-per-parameter ratio.

They give (N, D) for a FLOP budget C = 6 N D but predict no loss.
Legend: N = parameters, D = tokens, C = training FLOPs; k, a the power law's scale and
exponent; r = D / N.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Table 3 (Approach 1) and Table A3
    (Approach 2), whose rows give N_opt ~ C^a; Sec. 3 and Table 3 (about 20 tokens per
    parameter at the compute optimum).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from scaling.laws.base import Array, Law, positive_array


class PowerAllocationLaw(Law):
    name = "power_allocation"
    param_names = ("k", "a")
    inputs = ("flops",)
    reference = "N_opt = k C^a, D_opt = C / (6 N_opt) (Hoffmann et al. 2022, Sec. 3.1-3.2, Tables 3 and A3)"
    predicts_loss = False

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> tuple[Array, Array]:
        """N_opt = k C^a, D_opt = C / (6 N_opt)   (Hoffmann et al. 2022, Sec. 3.1-3.2, C = 6 N D)."""
        c = coefficients
        C = positive_array("flops", flops)
        N = c["k"] * C ** c["a"]
        return N, C / (6.0 * N)


class TokensPerParamLaw(Law):
    name = "tokens_per_param"
    param_names = ("r",)
    inputs = ("flops",)
    reference = "D = r N with C = 6 N D (r = 20: Hoffmann et al. 2022, Table 3)"
    predicts_loss = False

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> tuple[Array, Array]:
        """N = sqrt(C / (6 r)), D = r N: the fixed-ratio rule solved on C = 6 N D."""
        r = coefficients["r"]
        C = positive_array("flops", flops)
        N = np.sqrt(C / (6.0 * r))
        return N, r * N


POWER_ALLOCATION = PowerAllocationLaw()
TOKENS_PER_PARAM = TokensPerParamLaw()
