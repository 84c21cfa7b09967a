"""The one resampling helper: draw K resamples, re-run one estimator on each, keep the draws.

Every approach's bootstrap goes through `bootstrap`: the caller gives the statistic (a picklable
callable that takes a numpy Generator, draws its resample from it and re-runs the estimator the
point estimate came from), this module owns the seeds, the worker processes and the failure
policy, the same for every approach:

- each resample has its own Generator from one SeedSequence, so the draws do not depend on the
  number of workers;
- a resample whose estimator fails (raises ValueError or returns None) is left out, and a
  FitWarning says how many were;
- a degenerate resample (the statistic raises DegenerateResample: fewer distinct runs than
  free coefficients, a term collapsed to a bound) is counted by kind, left out and reported in
  the diagnostics; when they are the majority the bootstrap is refused (no intervals, a
  FitWarning saying why);
- fewer than 2 successful resamples give no draws (None) with a FitWarning, and the uncertainty
  label says the bootstrap failed; the fit itself is still reported.

References:
    Efron & Tibshirani 1993, "An Introduction to the Bootstrap", Ch. 6 (resampling cases) and
    Ch. 9.5 (resampling residuals, which keeps the design); Besiroglu et al. 2024, Sec. 4
    (4,000 resamples of Chinchilla's runs).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from typing import Any

import numpy as np

from scaling.fit._blas import single_threaded_blas
from scaling.fit.result import FitWarning
from scaling.laws.base import Array

logger = logging.getLogger(__name__)

Statistic = Callable[[np.random.Generator], "Mapping[str, float] | Array | None"]
"""One resample: draw from the Generator, re-run the estimator; None (or ValueError) = failed."""


MAX_RESAMPLES = 100_000
"""Most resamples one bootstrap may ask for, checked before any seed is drawn: 25 times the
4,000 of Besiroglu et al. 2024 (Sec. 4); each resample is a refit."""


def check_resamples(n_resamples: int, level: float | None = None) -> None:
    """ValueError naming `bootstrap` unless 0 (no bootstrap) or 2..MAX_RESAMPLES resamples, and, for a
    `level` interval, at least 1 / (1 - level): fewer leave its percentiles inside the two most
    extreme draws, where 2 resamples gave a 95% interval that excluded its own estimate."""
    if n_resamples == 0:
        return
    if not 2 <= n_resamples <= MAX_RESAMPLES:
        raise ValueError(f"`bootstrap` must be 0 or 2 to {MAX_RESAMPLES:,} resamples, got {n_resamples}")
    if level is not None and n_resamples < min_resamples(level):
        raise ValueError(f"`bootstrap` {n_resamples} is too few for a {level:.3g} interval: "
                         f"give at least {min_resamples(level)} resamples, or 0 for none")


def min_resamples(level: float) -> int:
    """Fewest resamples for a `level` percentile interval: 1 / (1 - level), rounded up."""
    return math.ceil(1.0 / (1.0 - level) - 1e-9)


class DegenerateResample(ValueError):
    """A resample that cannot determine the estimate (fewer distinct runs than free coefficients,
    or a draw whose term collapsed to a bound): counted apart from failures, and left out."""

    def __init__(self, kind: str, message: str):
        super().__init__(kind, message)  # both in args: worker processes send it back pickled
        self.kind, self.message = kind, message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Bootstrap:
    """The draws of one bootstrap and how to label them."""

    draws: dict[str, Array] | Array | None
    """{name: (K',)} or rows (K', p) as the statistic returned them; None when under 2 succeeded."""
    uncertainty: str
    """"bootstrap(n=K, seed=S)", or "none (bootstrap(n=K) failed: ...)"."""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    """{"resamples": K, "used": K', "failed": ..., "degenerate": {kind: count}}."""


def bootstrap(statistic: Statistic, n_resamples: int, *, seed: int = 0, n_jobs: int | None = 1,
              what: str = "resamples") -> Bootstrap:
    """Run `statistic` on `n_resamples` resamples; see the module docstring for the policy.

    Parameters
    ----------
    statistic
        Picklable when `n_jobs` > 1 (a module-level function or a functools.partial of one).
    n_jobs
        Worker processes; None uses every available core, 1 runs in this process.
    what
        How the warnings name a resample ("bootstrap refits", ...).
    """
    if n_resamples < 2:
        raise ValueError(f"bootstrap needs at least 2 resamples, got {n_resamples}")
    check_resamples(n_resamples)  # before the seeds: a billion of them would fill the memory
    seeds = np.random.SeedSequence(seed).spawn(n_resamples)
    workers = min(n_jobs or available_cores(), n_resamples)
    # Contiguous blocks, so concatenating the workers' draws keeps the seeds' order.
    bounds = np.linspace(0, n_resamples, workers + 1).astype(int)
    chunks = [seeds[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
    if workers == 1:
        parts = [_run_chunk(statistic, chunks[0])]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_run_chunk, [statistic] * workers, chunks))
    results = [r for part in parts for r in part if not isinstance(r, DegenerateResample)]
    degenerate: dict[str, int] = {}
    for part in parts:
        for r in part:
            if isinstance(r, DegenerateResample):
                degenerate[r.kind] = degenerate.get(r.kind, 0) + 1
    n_degenerate = sum(degenerate.values())
    failed = n_resamples - len(results) - n_degenerate
    diagnostics = {"resamples": n_resamples, "used": len(results), "failed": failed, "degenerate": degenerate}
    if failed:
        warnings.warn(f"{failed} of {n_resamples} {what} failed and were left out", FitWarning, stacklevel=3)
    if n_degenerate:
        kinds = ", ".join(f"{count} {kind}" for kind, count in degenerate.items())
        if n_degenerate > n_resamples / 2:  # the intervals would describe mostly undetermined fits
            warnings.warn(f"bootstrap refused: {n_degenerate} of {n_resamples} {what} are degenerate ({kinds}); "
                          "no intervals: these runs are too few for the law's coefficients", FitWarning, stacklevel=3)
            return Bootstrap(None, f"none (bootstrap(n={n_resamples}) refused: {n_degenerate} degenerate {what})",
                             diagnostics)
        warnings.warn(f"{n_degenerate} of {n_resamples} {what} were degenerate ({kinds}) and were left out",
                      FitWarning, stacklevel=3)
    if len(results) < 2:
        warnings.warn(f"bootstrap failed: fewer than 2 of {n_resamples} {what} succeeded; no intervals",
                      FitWarning, stacklevel=3)
        return Bootstrap(None, f"none (bootstrap(n={n_resamples}) failed: under 2 {what} succeeded)", diagnostics)
    return Bootstrap(_stack(results), f"bootstrap(n={n_resamples}, seed={seed})", diagnostics)


def available_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _run_chunk(statistic: Statistic,
               seeds: Sequence[np.random.SeedSequence]) -> list[Mapping[str, float] | Array | DegenerateResample]:
    out = []
    with single_threaded_blas():
        for seed in seeds:
            try:
                value = statistic(np.random.default_rng(seed))
            except DegenerateResample as exc:  # counted apart: the diagnostics report them
                out.append(exc)
                continue
            except ValueError as exc:  # the estimator refused this resample (too few budgets, ...)
                logger.debug("resample failed: %s", exc)
                continue
            if value is not None:
                out.append(value)
    return out


def _stack(results: list[Mapping[str, float] | Array]) -> dict[str, Array] | Array:
    if isinstance(results[0], Mapping):
        return {name: np.array([r[name] for r in results], dtype=float) for name in results[0]}  # type: ignore[index]
    return np.array(results, dtype=float)
