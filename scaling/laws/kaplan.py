"""Kaplan et al. 2020 scaling laws: L(N), L(D), L(N, D), L(C_min) and the Table 6 allocation.

Legend: N = non-embedding parameters (Kaplan's convention, Eq. 2.1), D = tokens,
C_min = compute at the critical batch (Eq. 5.5), in FLOPs at the API and in PF-days inside
the formulas (1 PF-day = 8.64e19 FLOPs). N_c, D_c, C_c and the alpha_* are Kaplan's symbols;
N_e, p_N etc. are Table 6's "scale" and "power". Losses are nats/token on WebText2 with
GPT-2's BPE (50,257 tokens): not comparable with losses measured on other data.

References:
    Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361,
    Eq. 1.1-1.5, 5.5, Table 2 (joint L(N, D) fit), Table 5 (single-variable fits), Table 6
    (compute-efficient allocation).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy.typing as npt

from scaling.laws.base import Array, Law, positive_array

PF_DAY = 1e15 * 24 * 3600
"""FLOPs in one PF-day, 8.64e19 (Kaplan et al. 2020, Sec. 1.3 / Table 1 notation)."""


# Fitting metadata (scaling.fit.engine): starting values in the optimiser's coordinates, log for
# N_c, D_c, C_c, E. They span Table 5's values (log 8.8e13 = 32) and small-scale fits.
_LOG_SCALES = (10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0)
_EXPONENTS = (0.03, 0.06, 0.1, 0.2, 0.4, 0.8)
_LOG_OFFSETS = (-1.0, 0.0, 0.5, 1.0)


class KaplanParamsLaw(Law):
    name = "kaplan_n"
    param_names = ("N_c", "alpha_N")
    inputs = ("params",)
    reference = "Kaplan et al. 2020, Eq. 1.1 (Table 5: alpha_N = 0.076, N_c = 8.8e13)"
    log_coefficients = ("N_c",)
    init_grid = {"N_c": _LOG_SCALES, "alpha_N": _EXPONENTS}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """L(N) = (N_c / N)^alpha_N   (Kaplan et al. 2020, Eq. 1.1; models trained to convergence)."""
        c = coefficients
        N = positive_array("params", params)
        return (c["N_c"] / N) ** c["alpha_N"]


class KaplanParamsOffsetLaw(Law):
    name = "kaplan_n_offset"
    param_names = ("E", "N_c", "alpha_N")
    inputs = ("params",)
    reference = "Kaplan et al. 2020, Eq. 1.1 plus an irreducible offset E (as in Hoffmann et al. 2022, Eq. 2)"
    log_coefficients = ("E", "N_c")
    init_grid = {"E": _LOG_OFFSETS, "N_c": _LOG_SCALES, "alpha_N": _EXPONENTS}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """L(N) = E + (N_c / N)^alpha_N   (Kaplan et al. 2020, Eq. 1.1 with an offset E)."""
        c = coefficients
        N = positive_array("params", params)
        return c["E"] + (c["N_c"] / N) ** c["alpha_N"]


class KaplanTokensLaw(Law):
    name = "kaplan_d"
    param_names = ("D_c", "alpha_D")
    inputs = ("tokens",)
    reference = "Kaplan et al. 2020, Eq. 1.2 (Table 5: alpha_D = 0.095, D_c = 5.4e13)"
    log_coefficients = ("D_c",)
    init_grid = {"D_c": _LOG_SCALES, "alpha_D": _EXPONENTS}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """L(D) = (D_c / D)^alpha_D   (Kaplan et al. 2020, Eq. 1.2; large models, early stopping)."""
        c = coefficients
        D = positive_array("tokens", tokens)
        return (c["D_c"] / D) ** c["alpha_D"]


class KaplanJointLaw(Law):
    name = "kaplan_nd"
    param_names = ("N_c", "D_c", "alpha_N", "alpha_D")
    inputs = ("params", "tokens")
    reference = "Kaplan et al. 2020, Eq. 1.5 (Table 2: alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13)"
    log_coefficients = ("N_c", "D_c")
    init_grid = {"N_c": _LOG_SCALES, "D_c": _LOG_SCALES, "alpha_N": _EXPONENTS, "alpha_D": _EXPONENTS}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """L(N, D) = [ (N_c / N)^(alpha_N / alpha_D) + D_c / D ]^alpha_D   (Kaplan et al. 2020, Eq. 1.5)."""
        c = coefficients
        N = positive_array("params", params)
        D = positive_array("tokens", tokens)
        return ((c["N_c"] / N) ** (c["alpha_N"] / c["alpha_D"]) + c["D_c"] / D) ** c["alpha_D"]

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Minimum of Eq. 1.5 on the line C = 6 N D (not Kaplan's Table 6 allocation).

        With p = alpha_N / alpha_D, minimising (N_c/N)^p + 6 D_c N / C over N gives
            N_opt = (p N_c^p C / (6 D_c))^(1/(1+p)),   D_opt = C / (6 N_opt),
        so N_opt ~ C^(alpha_D/(alpha_N+alpha_D)) (about C^0.57 with Table 2's values). Kaplan's
        0.73 comes from the L(N, S) / critical-batch analysis instead (Kaplan et al. 2020, Sec. 5 and Table 6).
        """
        c = coefficients
        C = positive_array("flops", flops)
        p = c["alpha_N"] / c["alpha_D"]
        N = (p * c["N_c"] ** p * C / (6.0 * c["D_c"])) ** (1.0 / (1.0 + p))
        return N, C / (6.0 * N)


class KaplanComputeLaw(Law):
    name = "kaplan_c"
    param_names = ("C_c", "alpha_C")
    inputs = ("flops",)
    reference = "Kaplan et al. 2020, Eq. 1.3 (Table 5: alpha_C^min = 0.050, C_c^min = 3.1e8 PF-days)"
    log_coefficients = ("C_c",)
    # log C_c in PF-days: small sweeps (1e11-1e13 FLOPs are 1e-9-1e-7 PF-days) fit C_c << 1.
    init_grid = {"C_c": (-20.0, -15.0, -10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0), "alpha_C": _EXPONENTS}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """L(C_min) = (C_c^min / C_min)^alpha_C^min   (Kaplan et al. 2020, Eq. 1.3).

        `flops` is C_min in FLOPs; C_c is in PF-days, as in Table 5.
        """
        c = coefficients
        C_min = positive_array("flops", flops) / PF_DAY
        return (c["C_c"] / C_min) ** c["alpha_C"]


class KaplanAllocationLaw(Law):
    name = "kaplan_allocation"
    param_names = ("N_e", "p_N", "D_e", "p_D", "B_e", "p_B", "S_e", "p_S")
    inputs = ("flops",)
    reference = "Kaplan et al. 2020, Table 6 (compute-efficient allocation, C_min in PF-days)"
    predicts_loss = False

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Compute-efficient (N, D) for `flops` = C_min in FLOPs (Kaplan et al. 2020, Table 6).

            N_opt = N_e C_min^p_N  (1.3e9, 0.73),   D_opt = D_e C_min^p_D  (2e10, 0.27),
        C_min in PF-days, N non-embedding. 6 N_opt D_opt is about 1.8 C_min, not exactly C.
        """
        c = coefficients
        C_min = positive_array("flops", flops) / PF_DAY
        return c["N_e"] * C_min ** c["p_N"], c["D_e"] * C_min ** c["p_D"]

    def details(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> dict[str, Array]:
        """Batch size and minimum steps at `flops` = C_min in FLOPs (Kaplan et al. 2020, Table 6).

            B = B_e C_min^p_B tokens (2.0e6, 0.24),   S_min = S_e C_min^p_S steps (5.4e3, 0.03)
        """
        c = coefficients
        C_min = positive_array("flops", flops) / PF_DAY
        return {"batch_tokens": c["B_e"] * C_min ** c["p_B"], "steps_min": c["S_e"] * C_min ** c["p_S"]}


KAPLAN_N = KaplanParamsLaw()
KAPLAN_N_OFFSET = KaplanParamsOffsetLaw()
KAPLAN_D = KaplanTokensLaw()
KAPLAN_ND = KaplanJointLaw()
KAPLAN_C = KaplanComputeLaw()
KAPLAN_ALLOCATION = KaplanAllocationLaw()

TABLE5 = {"N_c": 8.8e13, "alpha_N": 0.076, "D_c": 5.4e13, "alpha_D": 0.095, "C_c": 3.1e8, "alpha_C": 0.050}
"""Kaplan et al. 2020, Table 5 (single-variable fits; N_c, D_c in parameters/tokens, C_c in PF-days)."""
TABLE2 = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
"""Kaplan et al. 2020, Table 2 (joint fit of Eq. 1.5)."""
TABLE6 = {"N_e": 1.3e9, "p_N": 0.73, "D_e": 2e10, "p_D": 0.27,
          "B_e": 2.0e6, "p_B": 0.24, "S_e": 5.4e3, "p_S": 0.03}
"""Kaplan et al. 2020, Table 6 (compute-efficient allocation; scales at C_min = 1 PF-day)."""

CRITICAL_BATCH_FACTOR = 2.0
"""C / C_min when training at the critical batch B = B_crit: C_min = C / (1 + B / B_crit)
(Kaplan et al. 2020, Eq. 5.5), so C = 2 C_min. Hoffmann et al. 2022, App. D.4 read Kaplan's
allocation this way when comparing it with theirs."""
