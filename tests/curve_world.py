"""Synthetic loss curves of a known curve law (Tissue et al. 2024's momentum law, Luo et al.
2025's multi-power law) under named schedules, as the rows `fit_curves` reads, shared by the
laws' tests and the curve-prediction tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.laws.registry import get_law
from scaling.schedules import Schedule, parse_schedule

STEPS, WARMUP, PEAK = 2000, 50, 3e-3
SCHEDULES = ("cosine", "wsd:cooldown_fraction=0.2", "constant", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3")
MULTI_POWER_TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 100.0, "C": 0.3, "beta": 0.5, "gamma": 0.5}
"""An MPL whose loss reduction is 4-7% of the loss at the end of a decay (Luo et al. 2025 fit
alpha, beta, gamma about 0.4-0.6)."""


def schedule_of(text: str, steps: int = STEPS) -> Schedule:
    return parse_schedule(text, peak_lr=PEAK, steps=steps, warmup_steps=WARMUP)


def synthetic_curve(run_id: str, text: str, truth: dict[str, float], every: int = 10,
                    law: str = "momentum_curve", steps: int = STEPS) -> pd.DataFrame:
    """Rows run_id, step, loss, schedule of `law` with coefficients `truth`, every `every` steps."""
    schedule = schedule_of(text, steps)
    done = np.arange(every, steps + 1, every)
    loss = get_law(law).predict(truth, **get_law(law).curve_inputs(schedule, done))
    return pd.DataFrame({"run_id": run_id, "step": done, "loss": loss, "schedule": schedule})
