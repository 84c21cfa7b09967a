"""Benchmark: the polish step of an Approach 3 fit with BLAS threads pinned to one, and not.

scipy's L-BFGS-B calls BLAS on tiny matrices; an OpenBLAS thread pool then busy-waits
(scaling/laws/_blas.py). This times the same polish (the 8 best screened starts on Epoch's
240 runs) unpinned and inside `single_threaded_blas()`, interleaved, and prints the median of
each and their ratio, and which BLAS libraries threadpoolctl found.

Usage: python benchmarks/bench_blas.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

from threadpoolctl import threadpool_info

from scaling.fit._blas import single_threaded_blas
from scaling.laws.registry import get_law
from scaling.fit.engine import _prepare_runs, make_problem, polish, screen_starts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings of each mode (medians printed)")
    args = parser.parse_args()
    runs, _ = _prepare_runs("chinchilla-2022", 5, "params")
    problem = make_problem(get_law("chinchilla"), runs)
    model = problem.model
    starts = screen_starts(problem, model)[: problem.n_polish]
    for library in threadpool_info():
        print(f"{library['user_api']}: {library['internal_api']} {library.get('version')} "
              f"{library['num_threads']} threads ({library['filepath']})")
    modes = {"unpinned": contextlib.nullcontext, "single_threaded_blas": single_threaded_blas}
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, context in modes.items():
            with context():
                began = time.perf_counter()
                polish(problem, model, starts)
                times[name].append(time.perf_counter() - began)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:22s} median {value:.3f} s over {args.repeats} polishes of {len(starts)} starts")
    print(f"ratio unpinned / pinned: {medians['unpinned'] / medians['single_threaded_blas']:.1f}x")


if __name__ == "__main__":
    main()
