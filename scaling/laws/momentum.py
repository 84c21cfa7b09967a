"""Tissue et al. 2024's loss-curve law: the loss after s steps from the learning-rate schedule's
forward area and its annealing area (a momentum of LR drops), for one model on one data set.

Legend: s = optimizer steps done, eta_i = the LR of step i (1-based), S1 = forward area,
S2 = annealing area, lambda = the momentum's decay (fixed, not fitted: `MOMENTUM_DECAY`),
L0 = the loss an infinite area reaches, A, alpha = the power law in S1, C = the annealing gain.

Convention here (the paper fits after warmup): warmup steps add their LR to S1 and nothing to S2,
so a rising LR is never counted as negative annealing.

References:
    Tissue et al. 2024, "Scaling Law with Learning Rate Annealing", arXiv:2408.11029, Eq. 1
    (L(s) = L0 + A S1^-alpha - C S2) and Eq. 3 (S2 = sum_i m_i, m_i = lambda m_{i-1} + eta_{i-1} - eta_i),
    Sec. 3 (lambda = 0.999 in their fits).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from scaling.laws.base import Array, Law, done_steps
from scaling.schedules import Schedule

MOMENTUM_DECAY = 0.999
"""lambda in Eq. 3 (Tissue et al. 2024, Sec. 3: 0.999 fits their runs; 0.99-0.9999 change little)."""
CURVE_INPUTS = ("lr_area", "lr_annealing")
"""The per-row inputs a curve law reads: S1 and S2 at the row's step (`annealing_areas`)."""


ZERO_LR = 1e-6
"""A step's LR of 0 (a cooldown to 0 ends at one) counts as this fraction of the peak: it adds
nothing that matters to the LR areas, and keeps LR powers finite."""


class MomentumLaw(Law):
    name = "momentum_curve"
    param_names = ("L0", "A", "alpha", "C")
    inputs = CURVE_INPUTS
    curve = True
    reference = "Tissue et al. 2024, arXiv:2408.11029, Eq. 1 and Eq. 3 (lambda = 0.999)"
    log_coefficients = ("L0", "A", "C")
    # Starts in the optimiser's coordinates (log L0, log A, alpha, log C): losses of nats/token
    # around 0.5-5, areas of LR x steps from 1e-3 to 1e3.
    init_grid = {"L0": (-0.5, 0.0, 0.5, 1.0, 1.5), "A": (-3.0, -1.5, 0.0, 1.5),
                 "alpha": (0.1, 0.3, 0.6, 1.0), "C": (-8.0, -5.0, -2.0, 1.0, 4.0)}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None, *,
                lr_area: npt.ArrayLike | None = None, lr_annealing: npt.ArrayLike | None = None) -> Array:
        """L(s) = L0 + A S1^(-alpha) - C S2   (Tissue et al. 2024, Eq. 1)."""
        c = coefficients
        if lr_area is None or lr_annealing is None:
            raise TypeError(f"law {self.name!r} predicts a curve from lr_area and lr_annealing, not (params, tokens)")
        S1 = np.asarray(lr_area)
        S2 = np.asarray(lr_annealing)
        return c["L0"] + c["A"] * S1 ** (-c["alpha"]) - c["C"] * S2

    def curve_inputs(self, schedule: Schedule, steps: npt.ArrayLike) -> dict[str, Array]:
        """S1 and S2 (`annealing_areas`, O(T) for the whole schedule) after each of `steps` done."""
        done = done_steps(schedule, steps)
        area, annealing = annealing_areas(schedule.lr_at(np.arange(schedule.steps)), schedule.warmup_steps)
        return {"lr_area": area[done - 1], "lr_annealing": annealing[done - 1]}


MOMENTUM_CURVE = MomentumLaw()


def annealing_areas(lr: npt.ArrayLike, warmup_steps: int = 0,
                    decay: float = MOMENTUM_DECAY) -> tuple[Array, Array]:
    """S1 and S2 after each number of steps done, 1..T, from the LR of every step, in O(T).

    S1(s) = sum_{i<=s} eta_i;  S2(s) = sum_{i<=s} m_i,  m_i = lambda m_{i-1} + (eta_{i-1} - eta_i),
    m_0 = 0, eta_0 = eta_1, and no drop counted inside the warmup (Tissue et al. 2024, Eq. 3).
    """
    eta = np.asarray(lr, dtype=np.float64)
    if eta.ndim != 1 or eta.size == 0 or not np.all(np.isfinite(eta) & (eta >= 0)) or not eta.max() > 0:
        raise ValueError("lr must be a non-empty 1-D array of finite learning rates >= 0, not all 0")
    eta = np.maximum(eta, ZERO_LR * eta.max())
    if not 0 <= decay < 1:
        raise ValueError(f"decay must be in [0, 1), got {decay!r}")
    # lazy: scipy stays out of the start-up of `scaling plan`, which imports every law
    from scipy.signal import lfilter

    drops = np.diff(eta, prepend=eta[0]) * -1.0
    drops[:warmup_steps] = 0.0
    momentum = lfilter([1.0], [1.0, -decay], drops)  # m_i = lambda m_{i-1} + drop_i, linear in T
    return np.cumsum(eta), np.cumsum(momentum)
