"""Luo et al. 2025's multi-power law (MPL): the loss after t steps from the schedule's LR area and
a loss reduction summed over every earlier LR drop, each saturating as a power of the area since
it, for one model on one data set.

Legend: t = optimizer steps done, eta_k = the LR of step k (1-based), eta_0 = the peak (so a drop
is eta_{k-1} - eta_k, none inside the warmup), S1(t) + S_W = the LR area of every step done
(warmup included), S_k(t) = sum_{tau=k..t} eta_tau (the area since drop k, its own step
included), L0 = the loss an infinite area reaches, A, alpha = the power law in the area,
B = the reduction per unit of LR dropped, C, beta, gamma = its saturation G.

Cost (the product owner's bound): the exact LD(t) sums t terms at every row, O(T) per row and
O(T^2) per curve. Here a curve is precomputed in O(T) (prefix sums of the LR, of the drops and of
the drop-weighted area and log LR), and each logged row sees its drops in at most `MAX_GROUPS`
(128) groups by distance: the `EXACT_DROPS` (16) most recent steps one by one, then groups whose
distance grows by `GROUP_RATIO` (1.15), each group one term at its drop-weighted mean area and
geometric-mean LR. Rows x groups memory and work: 3 arrays of 8 x 128 bytes per row at most
(a 2,000-step curve needs 51 groups). The grouped sum differs from the exact one by the curvature of
G over a group (its area varies by 15% at most beyond the exact steps): on 1,500-2,000-step cosine and
WSD curves, 2e-3 of the largest LD at most and 1e-4 of the loss (`tests/laws/test_multipower.py` checks it
against the O(T^2) sum).

References:
    Luo et al. 2025, "A Multi-Power Law for Loss Curve Prediction Across Learning Rate
    Schedules", arXiv:2503.12811, Sec. 1, Eq. 1 (the law: L(t) = L0 + A (S1(t) + S_W)^(-alpha)
    - LD(t), LD(t) = B sum_{k=1..t} (eta_{k-1} - eta_k) G(eta_k^(-gamma) S_k(t)),
    G(x) = 1 - (C x + 1)^(-beta), S_k(t) = sum_{tau=k..t} eta_tau), derived in Sec. 3.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from scaling.laws.base import Array, Law, done_steps
from scaling.laws.momentum import ZERO_LR
from scaling.schedules import Schedule

MAX_GROUPS = 128
"""Most groups of LR drops a logged row sees (rows x groups is the memory and work of LD)."""
EXACT_DROPS = 16
"""The most recent steps' drops, each its own group (where G is steepest)."""
GROUP_RATIO = 1.15
"""Beyond them, each group's farthest distance (in steps) is this times its nearest: the area
since the drops varies by about 15% within a group."""
MULTI_POWER_INPUTS = ("lr_area", "drop", "drop_lr", "drop_area")
"""Per row: S1 + S_W (n,); per row and group (n, groups): the LR dropped, its representative LR,
the area since it."""


def group_edges(steps: int) -> Array:
    """Distances (steps between a drop and the row's last step) where the groups start, for a
    curve of `steps` steps: 0, 1, ..., EXACT_DROPS, then growing by GROUP_RATIO, at most MAX_GROUPS."""
    edges = list(range(min(EXACT_DROPS, steps) + 1))
    while edges[-1] < steps and len(edges) < MAX_GROUPS:
        edges.append(max(edges[-1] + 1, round(edges[-1] * GROUP_RATIO)))
    return np.array(edges[:-1], dtype=np.int64)  # the last group reaches back to the first step


def drop_groups(lr: npt.ArrayLike, warmup_steps: int, steps: npt.ArrayLike) -> dict[str, Array]:
    """The MPL's inputs after each of `steps` done (1-based), from the LR of every step, in O(T)
    plus rows x groups.

    Drop of step s (0-based): d_s = eta_{s-1} - eta_s, none in the warmup nor at s = 0 (Luo et al.
    2025, Eq. 1: eta_0 is the peak). Area before step s: P_s = sum_{u<s} eta_u, so the area since
    drop s after t steps is S = P_t - P_s (its own step included). A group j of a row holds the
    drops at distances t - 1 - s in [edge_j, edge_{j+1}); its term uses sum d_s, and the
    |d_s|-weighted means of P_s and log eta_s.
    """
    eta = np.asarray(lr, dtype=np.float64)
    if eta.ndim != 1 or eta.size == 0 or not np.all(np.isfinite(eta) & (eta >= 0)) or not eta.max() > 0:
        raise ValueError("lr must be a non-empty 1-D array of finite learning rates >= 0, not all 0")
    eta = np.maximum(eta, ZERO_LR * eta.max())
    done = np.asarray(steps, dtype=np.int64)
    drop = np.zeros_like(eta)
    drop[1:] = eta[:-1] - eta[1:]
    drop[:warmup_steps] = 0.0
    area = np.concatenate([[0.0], np.cumsum(eta)])  # P_s, s = 0..T
    weight = np.abs(drop)

    def prefix(values: Array) -> Array:
        return np.concatenate([[0.0], np.cumsum(values)])

    sums = [prefix(drop), prefix(weight), prefix(weight * area[:-1]), prefix(weight * np.log(eta))]
    edges = group_edges(eta.size)
    # Group j of row t spans steps [t - edge_{j+1}, t - edge_j) (the last from step 0): bounds (n, K+1).
    bounds = np.clip(done[:, None] - np.append(edges, done.max(initial=0) + 1)[None, :], 0, None)
    dropped, mass, area_mass, log_lr_mass = (total[bounds[:, :-1]] - total[bounds[:, 1:]] for total in sums)
    held = mass > 0
    safe = np.where(held, mass, 1.0)
    since = np.where(held, area[done][:, None] - area_mass / safe, 1.0)
    return {"lr_area": area[done], "drop": np.where(held, dropped, 0.0),
            "drop_lr": np.where(held, np.exp(log_lr_mass / safe), 1.0), "drop_area": since}


class MultiPowerLaw(Law):
    name = "multi_power_curve"
    param_names = ("L0", "A", "alpha", "B", "C", "beta", "gamma")
    inputs = MULTI_POWER_INPUTS
    curve = True
    empty_group = {"drop": 0.0, "drop_lr": 1.0, "drop_area": 1.0}
    reference = "Luo et al. 2025, arXiv:2503.12811, Eq. 1 (multi-power law)"
    log_coefficients = ("L0", "A", "B", "C")
    # Starts in the optimiser's coordinates (log L0, log A, alpha, log B, log C, beta, gamma): the
    # engine adds variable-projection starts (L0, A, B are linear given the rest), so the grid
    # only brackets the ranges (Luo et al. 2025 fit alpha, beta, gamma about 0.4-0.6).
    init_grid = {"L0": (-0.5, 1.5), "A": (-3.0, 1.5), "alpha": (0.1, 1.0), "B": (0.0, 8.0),
                 "C": (-6.0, 6.0), "beta": (0.2, 2.0), "gamma": (0.0, 1.0)}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None, *,
                lr_area: npt.ArrayLike | None = None, drop: npt.ArrayLike | None = None,
                drop_lr: npt.ArrayLike | None = None, drop_area: npt.ArrayLike | None = None) -> Array:
        """L(t) = L0 + A (S1(t) + S_W)^(-alpha) - LD(t),
        LD(t) = B sum_groups drop G(drop_lr^(-gamma) drop_area),  G(x) = 1 - (C x + 1)^(-beta)
        (Luo et al. 2025, Eq. 1, its sum over drops grouped as in `drop_groups`).

        Coefficients may be arrays of shape (..., 1) (draws or starts): the result is (..., rows)."""
        if lr_area is None or drop is None or drop_lr is None or drop_area is None:
            raise TypeError(f"law {self.name!r} predicts a curve from {', '.join(MULTI_POWER_INPUTS)} "
                            "(its curve_inputs), not (params, tokens)")
        c = {name: np.asarray(coefficients[name]) for name in self.param_names}
        x = np.asarray(drop_lr) ** (-c["gamma"][..., None]) * np.asarray(drop_area)
        saturation = 1.0 - (c["C"][..., None] * x + 1.0) ** (-c["beta"][..., None])
        reduction = c["B"] * (np.asarray(drop) * saturation).sum(axis=-1)
        return c["L0"] + c["A"] * np.asarray(lr_area) ** (-c["alpha"]) - reduction

    def curve_inputs(self, schedule: Schedule, steps: npt.ArrayLike) -> dict[str, Array]:
        """`drop_groups` of the schedule's LR after each of `steps` done."""
        done = done_steps(schedule, steps)
        return drop_groups(schedule.lr_at(np.arange(schedule.steps)), schedule.warmup_steps, done)


MULTI_POWER_CURVE = MultiPowerLaw()
