"""Benchmark: `scaling fit --approach 3` time and peak memory against the number of rows.

Each size is a CSV (params, tokens, loss) drawn from Chinchilla's law (Hoffmann et al. 2022,
Eq. 2, Approach 3 constants as Besiroglu et al. 2024 refit them) with 1% log-normal noise on
log-uniform N in [1e7, 1e10] and D in [1e9, 1e12]; each fit runs end to end from the CLI in
its own process, whose peak resident memory (ru_maxrss) and wall time are reported, with the
fitted exponents against the truth.

Usage: python benchmarks/bench_fit_rows.py [--rows 1e3 1e4 1e5 1e6]
Goal: a 1e6-row fit in under 60 s and under 2 GB on 2 cores. Measured here (2 shared cores):
1e3 rows 6.1 s / 258 MB, 1e4 10.6 s / 264 MB, 1e5 11.4 s / 309 MB, 1e6 19.7 s / 623 MB, every
fit within 0.002 of the true exponents. Before the screen was bounded, 1e4 rows took 28 s and
4.6 GB and 1e6 rows was ended by the out-of-memory killer at 24 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

TRUTH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
"""Besiroglu et al. 2024, Eq. 4 (their refit of Hoffmann et al. 2022's Approach 3)."""


def write_runs(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    params = np.exp(rng.uniform(np.log(1e7), np.log(1e10), rows))
    tokens = np.exp(rng.uniform(np.log(1e9), np.log(1e12), rows))
    loss = TRUTH["E"] + TRUTH["A"] * params ** -TRUTH["alpha"] + TRUTH["B"] * tokens ** -TRUTH["beta"]
    loss *= np.exp(rng.normal(0.0, 0.01, rows))
    pd.DataFrame({"params": params, "tokens": tokens, "loss": loss}).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6])
    args = parser.parse_args()
    print(f"{'rows':>9}  {'wall s':>7}  {'peak MB':>8}  {'alpha':>7}  {'beta':>7}  objective")
    with tempfile.TemporaryDirectory() as folder:
        for rows in (int(r) for r in args.rows):
            path = Path(folder) / f"runs{rows}.csv"
            write_runs(path, rows)
            wall, peak_mb, result = measure(path)
            fit = result.get("approach_3", result)
            coefficients = fit["coefficients"]
            print(f"{rows:>9}  {wall:>7.1f}  {peak_mb:>8.0f}  {coefficients['alpha']:>7.4f}  "
                  f"{coefficients['beta']:>7.4f}  {fit.get('objective')}")
    print(f"truth: alpha {TRUTH['alpha']}, beta {TRUTH['beta']}")


def measure(path: Path) -> tuple[float, float, dict]:
    """Run one fit in a child process; peak memory from the child's rusage."""
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "scaling", "fit", str(path), "--approach", "3",
                                "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout = process.stdout.read() if process.stdout else b""
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"fit failed on {path}: {stderr.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, json.loads(stdout)


if __name__ == "__main__":
    main()
