"""Synthetic loss curves of a known curve law (Tissue et al. 2024's momentum law, Luo et al.
2025's multi-power law) under named schedules, as the rows `fit_curves` reads, shared by the
laws' tests and the curve-prediction tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.fit.curves import run_schedule_of
from scaling.laws.registry import get_law
from scaling.rundir.curve import curve_bytes
from scaling.schedules import Schedule, parse_schedule

STEPS, WARMUP, PEAK = 2000, 50, 3e-3
SCHEDULES = ("cosine", "wsd:cooldown_fraction=0.2", "constant", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3")
MULTI_POWER_TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 100.0, "C": 0.3, "beta": 0.5, "gamma": 0.5}
"""An MPL whose loss reduction is 4-7% of the loss at the end of a decay (Luo et al. 2025 fit
alpha, beta, gamma about 0.4-0.6)."""
TEMPLATE = sorted((Path(__file__).parent.parent / "runs" / "cpu-isoflop").glob("*/curve.parquet"))[0].parent
"""A real run of the CPU study (its config makes the synthetic runs' schedules)."""
RUN_TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 10.0, "C": 0.3, "beta": 0.5, "gamma": 0.5}
"""An MPL for runs at peak LR 0.0125 (B scaled down with the larger drops: LD about 5% of the loss)."""


def schedule_of(text: str, steps: int = STEPS) -> Schedule:
    return parse_schedule(text, peak_lr=PEAK, steps=steps, warmup_steps=WARMUP)


def synthetic_curve(run_id: str, text: str, truth: dict[str, float], every: int = 10,
                    law: str = "momentum_curve", steps: int = STEPS) -> pd.DataFrame:
    """Rows run_id, step, loss, schedule of `law` with coefficients `truth`, every `every` steps."""
    schedule = schedule_of(text, steps)
    done = np.arange(every, steps + 1, every)
    loss = get_law(law).predict(truth, **get_law(law).curve_inputs(schedule, done))
    return pd.DataFrame({"run_id": run_id, "step": done, "loss": loss, "schedule": schedule})


def synthetic_run(run_dir: Path, text: str, truth: dict[str, float], *, law: str = "multi_power_curve",
                  stop: int | None = None, val_steps: tuple[int, ...] = (258, 516, 773, 1031),
                  val_gap: float = 0.0) -> Path:
    """A run directory (the CPU study's run `TEMPLATE`, its schedule set to `text`: 1031 steps,
    warmup 176, peak LR 0.0125) whose curve.parquet logs `law`'s loss every 2 steps up to `stop`
    (default: all), and val rows at `val_steps` (up to `stop`) `val_gap` above the law. No
    record.json: a running run when `stop` is short of the end."""
    config = json.loads((TEMPLATE / "config.json").read_text())
    config["config"]["schedule"] = text
    config["run_id"] = run_dir.name
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    _, schedule = run_schedule_of(run_dir)
    end = stop or schedule.steps
    model = get_law(law)
    rows = []
    for split, steps, scale in (("train", np.arange(2, end + 1, 2), 1.0),
                                ("val", np.array([s for s in val_steps if s <= end]), 1.0 + val_gap)):
        if steps.size:
            loss = model.predict(truth, **model.curve_inputs(schedule, steps)) * scale
            rows += [{"run_id": run_dir.name, "step": int(s), "split": split, "loss": float(v),
                      "lr": float(schedule.lr_at(s - 1))} for s, v in zip(steps, loss)]
    rows.sort(key=lambda row: (row["step"], row["split"]))
    (run_dir / "curve.parquet").write_bytes(curve_bytes(rows))
    return run_dir
