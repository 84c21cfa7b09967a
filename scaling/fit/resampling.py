"""Bootstrap over runs for `fit_law`: resample runs with replacement, refit, keep the draws.

Each resample is refitted from the full-data optimum and the best variable-projection /
grid starts of that resample (so a resample whose optimum moves to another basin can follow
it), in parallel over processes. Seeds come from one SeedSequence, so the draws do not depend
on the number of workers.

References:
    Efron & Tibshirani 1993, "An Introduction to the Bootstrap", Ch. 6 (resampling cases);
    Besiroglu et al. 2024, Sec. 4 (4,000 resamples of Chinchilla's runs).
"""

from __future__ import annotations

import logging
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from scaling.fit._blas import single_threaded_blas
from scaling.laws.base import Array
from scaling.fit.result import FitWarning

if TYPE_CHECKING:
    from scaling.fit.engine import Problem

logger = logging.getLogger(__name__)


def bootstrap_coefficients(problem: Problem, theta: Array, n_resamples: int, *, seed: int = 0,
                           n_jobs: int | None = None) -> Array:
    """Coefficient draws (K', p), one row per converged resample, in `param_names` order
    (zero rows, with a FitWarning, when fewer than two resamples converged).

    Parameters
    ----------
    problem, theta
        The fitted problem and its optimum (optimiser coordinates).
    n_resamples
        K, resamples of the runs with replacement.
    n_jobs
        Worker processes; None uses every available core, 1 runs in this process.
    """
    if n_resamples < 2:
        raise ValueError(f"bootstrap needs at least 2 resamples, got {n_resamples}")
    seeds = np.random.SeedSequence(seed).spawn(n_resamples)
    workers = min(n_jobs or available_cores(), n_resamples)
    # Contiguous blocks, so concatenating the workers' draws keeps the seeds' order.
    bounds = np.linspace(0, n_resamples, workers + 1).astype(int)
    chunks = [seeds[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]
    if workers == 1:
        parts = [_fit_resamples(problem, theta, chunks[0])]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_fit_resamples, [problem] * workers, [theta] * workers, chunks))
    rows = np.concatenate([p for p in parts if len(p)]) if any(len(p) for p in parts) else np.empty((0, theta.size))
    failed = n_resamples - len(rows)
    if failed:
        warnings.warn(f"{failed} of {n_resamples} bootstrap refits did not converge and were left out",
                      FitWarning, stacklevel=3)
    if len(rows) < 2:  # no interval can be formed; the caller reports the fit without one
        warnings.warn("bootstrap failed: fewer than 2 resamples converged; no intervals",
                      FitWarning, stacklevel=3)
        return np.empty((0, len(problem.law.param_names)))
    model = problem.model
    coefficients = model.coefficients(rows.T)
    return np.column_stack([coefficients[name] for name in problem.law.param_names])


def available_cores() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _fit_resamples(problem: Problem, theta: Array, seeds: list[np.random.SeedSequence]) -> Array:

    with single_threaded_blas():
        return _refit_each(problem, theta, seeds)


def _refit_each(problem: Problem, theta: Array, seeds: list[np.random.SeedSequence]) -> Array:
    from scaling.fit.engine import COARSE_PROFILE_EXPONENTS, _accepted, polish, screen_starts
    from scaling.fit.objective import ChinchillaLseModel

    n = problem.log_loss.size
    rows = []
    for seed in seeds:
        index = np.random.default_rng(seed).integers(0, n, size=n)
        resample = replace(problem, log_loss=problem.log_loss[index],
                           inputs={k: v[index] for k, v in problem.inputs.items()})
        model = resample.model
        best_theta, best, _ = polish(resample, model, theta[None])
        # A second basin: the best screened start (Chinchilla: a coarse variable-projection
        # grid; small laws: their whole grid) is polished too when, unpolished, it already
        # beats the polished full-data start. On the Epoch runs the full 5,656-start fit never
        # found a better optimum than this in 40 resamples checked.
        screened = screen_starts(resample, model, grid=not isinstance(model, ChinchillaLseModel),
                                 exponents=COARSE_PROFILE_EXPONENTS)[:1]
        if len(screened) and resample.batch_objective(model, screened)[0] < best.fun * resample.delta:
            other_theta, other, _ = polish(resample, model, screened)
            if other.fun < best.fun:
                best_theta, best = other_theta, other
        if _accepted(best):
            rows.append(best_theta)
    return np.array(rows).reshape(len(rows), theta.size)

