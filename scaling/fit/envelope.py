"""Chinchilla Approach 1: the lower envelope of training curves -> N_opt = k C^a, D_opt = k' C^b.

Each run's curve gives loss against FLOPs spent so far. At log-spaced budgets C, the run with
the lowest loss (interpolated linearly in log C) is the compute-optimal one: its N, and the
tokens it had seen at C, are the optimum there. Budgets where fewer than two sizes have
reached C, or where the winner is the smallest or largest size (the optimum may lie outside
the sizes trained), are left out of the power laws.

Legend: C = FLOPs spent, N = params, D = tokens seen, L = loss.

References:
    Hoffmann et al. 2022, Sec. 3.1 and App. D.1 (Approach 1: 1,500 log-spaced FLOP values,
    lowest loss over runs, a = 0.50, b = 0.50).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scaling.fit import resampling
from scaling.fit.isoflop import allocation_from_optima
from scaling.fit.result import FitResult
from scaling.laws.base import Array
from scaling.fit.engine import data_digest

logger = logging.getLogger(__name__)

N_BUDGETS = 1500
"""Log-spaced FLOP values of the envelope (Hoffmann et al. 2022, App. D.1)."""


@dataclass(frozen=True)
class _Table:
    """Every run's curve interpolated on one log-spaced C grid: rows are runs, columns budgets."""

    grid: Array
    """log C."""
    loss: Array
    """NaN where the run has not reached (or has passed) that C."""
    tokens: Array
    params: Array
    replicate: Array
    """Group label per run: runs of one configuration that differ only by seed share it."""


def _table(curves: pd.DataFrame, n_budgets: int) -> _Table:
    for column in ("run_id", "params", "tokens", "loss"):
        if column not in curves.columns:
            raise ValueError(f"Approach 1 needs per-step curves with columns run_id, params, tokens "
                             f"(seen), loss; missing {column!r}")
    if "flops" not in curves.columns:
        curves = curves.assign(flops=6.0 * curves["params"] * curves["tokens"])  # Kaplan et al. 2020, Sec. 2.1
    if "replicate" not in curves.columns:
        curves = curves.assign(replicate=curves["run_id"])
    runs = []
    for run_id, curve in curves.groupby("run_id", sort=True):
        curve = curve.sort_values("flops")
        values = [curve[c].to_numpy(float) for c in ("flops", "tokens", "loss")]
        if not all(np.all(np.isfinite(v) & (v > 0)) for v in values):
            raise ValueError(f"run {run_id}: curve has missing, NaN or non-positive values")
        if len(curve) < 2:
            raise ValueError(f"run {run_id} has a single point: Approach 1 needs per-step curves")
        runs.append((float(curve["params"].iloc[0]), str(curve["replicate"].iloc[0]), *np.log(values[:2]), values[2]))
    grid = np.linspace(min(r[2][0] for r in runs), max(r[2][-1] for r in runs), n_budgets)
    loss = np.full((len(runs), n_budgets), np.nan)
    tokens = np.zeros((len(runs), n_budgets))
    for i, (_, _, log_flops, log_tokens, run_loss) in enumerate(runs):
        inside = (grid >= log_flops[0]) & (grid <= log_flops[-1])
        loss[i, inside] = np.interp(grid[inside], log_flops, run_loss)
        tokens[i, inside] = np.exp(np.interp(grid[inside], log_flops, log_tokens))
    replicate = np.unique([r[1] for r in runs], return_inverse=True)[1]
    return _Table(grid, loss, tokens, np.array([r[0] for r in runs]), replicate)


def _optima(table: _Table, rows: Array) -> list[dict[str, Any]]:
    """The envelope of the runs `rows` (distinct indices); seeds of one configuration count
    once, at their mean loss, so a lucky seed does not win the envelope alone."""
    groups, first = np.unique(table.replicate[rows], return_index=True)
    loss = np.full((groups.size, table.grid.size), np.inf)
    for g, group in enumerate(groups):
        members = rows[table.replicate[rows] == group]
        with np.errstate(invalid="ignore"):
            mean = table.loss[members].mean(axis=0)  # NaN where a seed has not reached C
        loss[g] = np.where(np.isfinite(mean), mean, np.inf)
    lead = rows[first]
    params, tokens = table.params[lead], table.tokens[lead]
    reached = np.isfinite(loss)
    sizes, size_of = np.unique(params, return_inverse=True)
    sizes_present = sum(reached[size_of == k].any(axis=0) for k in range(sizes.size))
    winner = np.argmin(loss, axis=0)
    smallest, largest = params.min(), params.max()
    optima = []
    for j in np.flatnonzero(sizes_present >= 2):
        best = winner[j]
        optima.append({"flops": float(np.exp(table.grid[j])), "params": float(params[best]),
                       "tokens": float(tokens[best, j]), "loss": float(loss[best, j]),
                       "edge": bool(params[best] in (smallest, largest))})
    return optima


def envelope_optima(curves: pd.DataFrame, n_budgets: int = N_BUDGETS) -> list[dict[str, Any]]:
    """The lowest-loss run at each of `n_budgets` log-spaced C (Hoffmann et al. 2022, App. D.1);
    runs sharing a `replicate` label (seeds of one configuration) are averaged first."""
    table = _table(curves, n_budgets)
    return _optima(table, np.arange(table.params.size))


def fit_envelope(curves: pd.DataFrame, *, n_budgets: int = N_BUDGETS, bootstrap: int = 0,
                 level: float = 0.95, seed: int = 0) -> FitResult:
    """Chinchilla Approach 1 (Hoffmann et al. 2022, Sec. 3.1), bootstrap over whole runs."""
    table = _table(curves, n_budgets)
    optima = _optima(table, np.arange(table.params.size))
    fitted = allocation_from_optima(optima)
    samples, uncertainty = None, "none"
    if bootstrap:
        # Whole runs are resampled; a duplicated run leaves the envelope unchanged, so a resample
        # is its set of distinct runs (Efron & Tibshirani 1993, Ch. 6: resampling cases).
        result = resampling.bootstrap(functools.partial(_resample, table), bootstrap, seed=seed, what="resamples")
        samples, uncertainty = result.draws, result.uncertainty
    interior = sum(not o["edge"] for o in optima)
    return FitResult.build(
        law="power_allocation", coefficients={"k": fitted["k"], "a": fitted["a"]},
        derived={"a": fitted["a"], "b": fitted["b"], "k_tokens": fitted["k_tokens"]},
        converged=True, message=f"{interior} envelope points fitted, {len(optima) - interior} won by the "
                                "smallest or largest size left out",
        n_points=int(curves["run_id"].nunique()),
        data_digest=data_digest(curves.assign(flops=curves.get("flops", 6.0 * curves["params"] * curves["tokens"])),
                                ("params", "tokens", "flops")),
        optima=_thin(optima), samples=samples, level=level,
        uncertainty=uncertainty, options={"n_budgets": n_budgets, "method": "lowest loss over runs at log-spaced C"})


def _thin(optima: list[dict[str, Any]], keep: int = 60) -> list[dict[str, Any]]:
    # The JSON keeps about `keep` envelope points, evenly spaced in log C, not all 1,500.
    step = max(1, len(optima) // keep)
    return optima[::step]


def _resample(table: _Table, rng: np.random.Generator) -> dict[str, float]:
    n_runs = table.params.size
    return allocation_from_optima(_optima(table, np.unique(rng.integers(0, n_runs, n_runs))))
