"""Benchmark: fitting the loss-curve laws through the engine (scaling.fit.engine.fit_curves):
Tissue et al. 2024's momentum law on one run's logged curve at several curve lengths, with the
time to compute its areas, and Luo et al. 2025's multi-power law on one and on 5 curves.

Synthetic curves (peak LR 3e-3, 1% warmup; WSD with a 20% linear cooldown unless named) from
known coefficients with 0.3% multiplicative noise, logged at every `every`-th step. Prints seconds
per fit (median of `--repeats`), the rows fitted and the seconds to compute S1, S2 over T steps
(linear in T).

Usage: python benchmarks/bench_curve_fit.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from scaling.fit.engine import fit_curves
from scaling.fit.result import FitWarning
from scaling.laws.momentum import annealing_areas
from scaling.laws.registry import get_law
from scaling.schedules import parse_schedule

TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}
MULTI_POWER_TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "B": 100.0, "C": 0.3, "beta": 0.5, "gamma": 0.5}
FIVE_SCHEDULES = ("cosine", "wsd", "constant", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3", "stepped")


def curve(steps: int, every: int, rng: np.random.Generator, law: str = "momentum_curve",
          text: str = "wsd", run_id: str = "run") -> pd.DataFrame:
    schedule = parse_schedule(text, peak_lr=3e-3, steps=steps, warmup_steps=steps // 100)
    done = np.arange(every, steps + 1, every)
    model = get_law(law)
    loss = model.predict(MULTI_POWER_TRUTH if law == "multi_power_curve" else TRUTH,
                         **model.curve_inputs(schedule, done))
    return pd.DataFrame({"run_id": run_id, "step": done, "loss": loss * np.exp(rng.normal(0, 0.003, done.size)),
                         "schedule": schedule})


def timed(law: str, rows: pd.DataFrame, repeats: int) -> tuple[float, object]:
    times, fit = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)  # one curve: no bootstrap asked, said once here
            fit = fit_curves(law, rows, n_jobs=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times), fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings per size (median printed)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for steps, every in ((2_000, 10), (2_000, 1), (100_000, 100), (100_000, 10)):
        seconds, fit = timed("momentum_curve", curve(steps, every, rng), args.repeats)
        print(f"momentum T={steps:>7} rows={steps // every:>6}: fit {seconds:.2f} s, converged={fit.converged}, "
              f"alpha={fit.coefficients['alpha']:.4f} (truth {TRUTH['alpha']})")
    for texts in (FIVE_SCHEDULES[:1], FIVE_SCHEDULES):
        rows = pd.concat([curve(2_000, 10, rng, "multi_power_curve", text, f"run{i}") for i, text in enumerate(texts)])
        seconds, fit = timed("multi_power_curve", rows, args.repeats)
        print(f"multi-power {len(texts)} curve(s) T=2000 rows={len(rows):>5}: fit {seconds:.2f} s, "
              f"converged={fit.converged}, alpha={fit.coefficients['alpha']:.4f} (truth {MULTI_POWER_TRUTH['alpha']})")
    for steps in (10**5, 10**6, 10**7):
        lr = parse_schedule("cosine", peak_lr=3e-3, steps=steps, warmup_steps=steps // 100).lr_at(np.arange(steps))
        start = time.perf_counter()
        annealing_areas(lr, steps // 100)
        print(f"areas over T={steps:>8}: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
