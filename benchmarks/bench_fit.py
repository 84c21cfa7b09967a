"""Benchmark: `scaling fit` Approach 3 against the plain procedure, on Epoch's 240 runs.

The plain procedure is Hoffmann et al. 2022's (App. D.2) as Besiroglu et al. 2024 ran it:
scipy L-BFGS-B with numeric (finite-difference) gradients on the summed Huber objective in the
LSE form, from every point of the 4,500-start grid, keeping the best. It takes many minutes
here, so `--starts K` runs K grid points drawn at random (seeded) and extrapolates its time
per start to the full grid; the printout says so. Both run with single-threaded BLAS (see
scaling/laws/_blas.py) so the comparison is not about thread contention.

Usage: python benchmarks/bench_fit.py [--starts 4500] [--bootstrap 1000] [--jobs 2]
Prints: both objective values, the speed ratio (in-process and end to end from the CLI), and
the time of a bootstrap.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time

import numpy as np
import scipy.special
from scipy import optimize

from scaling.fit._blas import single_threaded_blas
from scaling.laws.registry import get_law
from scaling.fit.engine import _prepare_runs, fit_law

DELTA = 1e-3  # Hoffmann et al. 2022, App. D.2
# Hoffmann et al. 2022, App. D.2: the initialisation grid (4,500 points).
GRID = list(itertools.product(np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5), np.arange(-1, 1.01, 0.5),
                              np.arange(0, 25.1, 5), np.arange(0, 25.1, 5)))  # alpha, beta, e, a, b


def plain_objective(x: np.ndarray, log_params: np.ndarray, log_tokens: np.ndarray, log_loss: np.ndarray) -> float:
    """sum Huber_delta(LSE(a - alpha log N, b - beta log D, e) - log L), as Epoch's notebook writes it."""
    alpha, beta, e, a, b = x
    predicted = scipy.special.logsumexp([a - alpha * log_params, b - beta * log_tokens,
                                         e * np.ones_like(log_params)], axis=0)
    return float(scipy.special.huber(DELTA, predicted - log_loss).sum())


def run_plain(starts: int, seed: int, data: tuple[np.ndarray, ...]) -> tuple[float, float, np.ndarray]:
    """Best objective over `starts` grid points, seconds per start, and the best x."""
    order = np.random.default_rng(seed).permutation(len(GRID))[:starts]
    best_value, best_x = np.inf, None
    began = time.perf_counter()
    for index in order:
        result = optimize.minimize(plain_objective, np.array(GRID[index]), args=data, method="L-BFGS-B")
        if result.fun < best_value:
            best_value, best_x = result.fun, result.x
    return best_value, (time.perf_counter() - began) / starts, best_x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=4500, help="grid starts of the plain procedure (<= 4500)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the bootstrap timing (0: skip)")
    parser.add_argument("--jobs", type=int, default=2, help="bootstrap worker processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs, _ = _prepare_runs("chinchilla-2022", 5, "params")
    data = (np.log(runs["params"].to_numpy()), np.log(runs["tokens"].to_numpy()), np.log(runs["loss"].to_numpy()))
    print(f"data: chinchilla-2022 (Epoch AI's digitisation), 5 highest-loss runs dropped, {len(runs)} runs")

    began = time.perf_counter()
    fit = fit_law("chinchilla", runs)
    ours_s = time.perf_counter() - began
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from scaling.cli import main; main()", "fit", "chinchilla-2022", "--approach", "3",
                    "--drop-highest", "5"], check=True, capture_output=True)
    cli_s = time.perf_counter() - began
    print(f"ours:  objective {fit.objective:.10g}  converged {fit.converged}  "
          f"{ours_s:.2f} s in process, {cli_s:.2f} s end to end (`scaling fit`, process start included)")

    with single_threaded_blas():
        plain_value, per_start, plain_x = run_plain(min(args.starts, len(GRID)), args.seed, data)
    full_s = per_start * len(GRID)
    measured = "measured" if args.starts >= len(GRID) else f"extrapolated from {args.starts} random starts"
    print(f"plain: objective {plain_value:.10g} (best of {min(args.starts, len(GRID))} starts)  "
          f"{per_start * 1e3:.1f} ms per start, {full_s:.0f} s for 4,500 starts ({measured})")
    alpha, beta, e, a, b = plain_x
    print(f"plain optimum: E {np.exp(e):.4f} A {np.exp(a):.2f} B {np.exp(b):.2f} alpha {alpha:.4f} beta {beta:.4f}")
    print("ours optimum:  " + " ".join(f"{k} {v:.4g}" for k, v in fit.coefficients.items()))
    verdict = "same or better" if fit.objective <= plain_value * (1 + 1e-9) else "WORSE"
    print(f"objective: ours {verdict} (ours - plain = {fit.objective - plain_value:+.3e})")
    print(f"speed ratio: {full_s / ours_s:.0f}x in process, {full_s / cli_s:.0f}x end to end from the CLI")

    if args.bootstrap:
        began = time.perf_counter()
        boot = fit_law("chinchilla", runs, bootstrap=args.bootstrap, n_jobs=args.jobs)
        boot_s = time.perf_counter() - began
        low, high = boot.intervals["a"]
        print(f"bootstrap: {args.bootstrap} resamples on {args.jobs} workers in {boot_s:.1f} s "
              f"(fit included); a = {boot.derived['a']:.4f} [{low:.4f}, {high:.4f}] (95%)")


if __name__ == "__main__":
    get_law("chinchilla")
    main()
