"""Synthetic loss curves of a known momentum law (Tissue et al. 2024) under named schedules,
shared by the law's tests and the curve-prediction tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scaling.laws.momentum import MOMENTUM_CURVE, annealing_areas
from scaling.schedules import parse_schedule

STEPS, WARMUP, PEAK = 2000, 50, 3e-3
SCHEDULES = ("cosine", "wsd:cooldown_fraction=0.2", "constant", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3")


def synthetic_curve(run_id: str, text: str, truth: dict[str, float], every: int = 10) -> pd.DataFrame:
    lr = parse_schedule(text, peak_lr=PEAK, steps=STEPS, warmup_steps=WARMUP).lr_at(np.arange(STEPS))
    area, annealing = annealing_areas(lr, WARMUP)
    done = np.arange(every, STEPS + 1, every)
    loss = MOMENTUM_CURVE.predict(truth, lr_area=area[done - 1], lr_annealing=annealing[done - 1])
    return pd.DataFrame({"run_id": run_id, "step": done, "loss": loss, "lr_area": area[done - 1],
                         "lr_annealing": annealing[done - 1]})
