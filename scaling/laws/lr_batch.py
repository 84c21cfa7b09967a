"""Hyperparameter laws: the compute-optimal peak learning rate and batch size as power laws.

Legend: C = training FLOPs (the runs' own convention), eta = peak learning rate,
B = tokens per optimizer step; k, p = scale and exponent (DeepSeek's 0.3118 and -0.1250).

    eta_opt(C) = k C^p,   B_opt(C) = k C^p

One form serves both: `fit_law` fits it with the runs' "loss" column holding the quantity (an
optimal LR or batch per run), so the residuals are log eta_hat - log eta, as DeepSeek's straight
lines in log-log. It predicts no loss, so planning refuses it.

References:
    DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Sec. 3.1, Eq. 1 and Fig. 3:
        eta_opt = 0.3118 C^-0.1250, B_opt = 0.2920 C^0.3271 (C in FLOPs, their M D convention),
        fitted to the runs within 0.25% of the best generalization error per budget.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy.typing as npt

from scaling.laws.base import Array, Law, positive_array


class HyperparameterPowerLaw(Law):
    name = "hyperparameter_power"
    param_names = ("k", "p")
    inputs = ("flops",)
    reference = "DeepSeek-AI 2024, Sec. 3.1, Eq. 1, Fig. 3 (eta_opt = 0.3118 C^-0.1250, B_opt = 0.2920 C^0.3271)"
    predicts_loss = False
    log_coefficients = ("k",)
    # log k from about e^-30 to e^15 and p from -1 to 1 cover LRs and batches at 1e9-1e25 FLOPs
    init_grid = {"k": (-30.0, -20.0, -10.0, -5.0, 0.0, 5.0, 15.0), "p": (-1.0, -0.5, -0.25, -0.1, 0.0, 0.1, 0.25, 0.5, 1.0)}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """y = k C^p: the optimal LR or batch tokens at FLOPs C (DeepSeek-AI 2024, Eq. 1)."""
        C = positive_array("flops", flops)
        return coefficients["k"] * C ** coefficients["p"]


HYPERPARAMETER_POWER = HyperparameterPowerLaw()
