"""How long a sweep's runs take: the ETA while a sweep runs (`run_cost`, fitted to the runs
trained so far).

The fit is a three-column non-negative least squares (scipy.optimize.nnls), not a law: laws are
fitted by the one engine, scaling.fit.engine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ETA_FIT_RUNS = 4
"""Runs trained before the ETA weighs runs by their fitted seconds instead of their FLOPs."""


def run_cost(trained: list[tuple[float, float, float]]) -> Callable[[float, float], float] | None:
    """seconds(steps, flops) = setup + a steps + b flops fitted to the (steps, flops, seconds) of
    the runs trained (a, b, setup >= 0); None when nothing positive fits."""
    # lazy: scipy loads only when the ETA is fitted
    from scipy.optimize import nnls

    design = np.array([[1.0, steps, flops] for steps, flops, _ in trained])
    scale = np.maximum(design.max(axis=0), 1e-30)  # columns of order 1: steps and FLOPs differ by 1e9
    coef, _ = nnls(design / scale, np.array([seconds for *_, seconds in trained]))
    setup, per_step, per_flop = coef / scale
    if not (per_step > 0 or per_flop > 0):
        return None
    return lambda steps, flops: float(setup + per_step * steps + per_flop * flops)
