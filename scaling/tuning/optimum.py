"""The best value of a hyperparameter from a profile of losses: a parabola in log x.

Legend: x = a hyperparameter (peak learning rate, batch tokens), L = final loss (nats/token).

References:
    Yang et al. 2022 (Tensor Programs V), arXiv:2203.03466, Fig. 1 and 3: loss against log2 LR
        per width; the optimum read where each curve bottoms out.
    DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Sec. 3.1: the near-optimal band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def profile_optimum(values: Sequence[float], losses: Sequence[float]) -> tuple[float, bool]:
    """(x_opt, interior): the vertex of the parabola in log x through the lowest mean loss and
    its two neighbours; the grid value itself, interior=False, when the lowest loss sits on the
    grid's edge or the three points do not curve upward (no vertex to trust)."""
    x = np.asarray(values, float)
    y = np.asarray(losses, float)
    if x.size != y.size or x.size == 0 or not np.all(x > 0):
        raise ValueError("a profile needs as many positive values as losses, at least one")
    finite = np.isfinite(y)
    if not finite.any():
        raise ValueError("a profile needs at least one finite loss")
    levels = np.unique(x[finite])
    means = np.array([y[finite & (x == v)].mean() for v in levels])
    best = int(np.argmin(means))
    if best == 0 or best == levels.size - 1:
        return float(levels[best]), False
    log_x = np.log(levels[best - 1:best + 2])
    a, b, _ = np.polyfit(log_x, means[best - 1:best + 2], 2)
    if not a > 0:
        return float(levels[best]), False
    vertex = -b / (2 * a)
    return float(math.exp(min(max(vertex, log_x[0]), log_x[-1]))), True


def near_optimal(losses: Sequence[float], band: float) -> np.ndarray:
    """Mask of the runs whose loss is within `band` (relative, e.g. 0.0025 = 0.25%) of the lowest
    finite loss: DeepSeek-AI 2024, Sec. 3.1, fits its laws to such a band of near-optimal runs."""
    if not (math.isfinite(band) and band >= 0):
        raise ValueError(f"band must be a non-negative fraction, got {band!r}")
    y = np.asarray(losses, float)
    finite = np.isfinite(y)
    if not finite.any():
        raise ValueError("no finite loss to take a band around")
    return finite & (y <= y[finite].min() * (1.0 + band))
