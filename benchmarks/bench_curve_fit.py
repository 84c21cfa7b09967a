"""Benchmark: fitting Tissue et al. 2024's loss-curve law to one run's logged curve through the
engine (scaling.fit.engine.fit_curves), and computing its areas, at several curve lengths.

A synthetic WSD curve (peak LR 3e-3, 1% warmup, 20% linear cooldown) from known coefficients
with 0.3% multiplicative noise, logged at every `every`-th step. Prints seconds per fit (median
of `--repeats`), the rows fitted and the seconds to compute S1, S2 over T steps (linear in T).

Usage: python benchmarks/bench_curve_fit.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from scaling.fit.engine import fit_curves
from scaling.laws.momentum import MOMENTUM_CURVE, annealing_areas
from scaling.schedules import parse_schedule

TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}


def curve(steps: int, every: int, rng: np.random.Generator) -> pd.DataFrame:
    schedule = parse_schedule("wsd", peak_lr=3e-3, steps=steps, warmup_steps=steps // 100)
    area, annealing = annealing_areas(schedule.lr_at(np.arange(steps)), steps // 100)
    done = np.arange(every, steps + 1, every)
    loss = MOMENTUM_CURVE.predict(TRUTH, lr_area=area[done - 1], lr_annealing=annealing[done - 1])
    return pd.DataFrame({"run_id": "run", "loss": loss * np.exp(rng.normal(0, 0.003, done.size)),
                         "lr_area": area[done - 1], "lr_annealing": annealing[done - 1]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timings per size (median printed)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for steps, every in ((2_000, 10), (2_000, 1), (100_000, 100), (100_000, 10)):
        rows = curve(steps, every, rng)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fit = fit_curves("momentum_curve", rows, n_jobs=1)
            times.append(time.perf_counter() - start)
        print(f"T={steps:>7} rows={len(rows):>6}: fit {statistics.median(times):.2f} s, converged={fit.converged}, "
              f"alpha={fit.coefficients['alpha']:.4f} (truth {TRUTH['alpha']})")
    for steps in (10**5, 10**6, 10**7):
        lr = parse_schedule("cosine", peak_lr=3e-3, steps=steps, warmup_steps=steps // 100).lr_at(np.arange(steps))
        start = time.perf_counter()
        annealing_areas(lr, steps // 100)
        print(f"areas over T={steps:>8}: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
