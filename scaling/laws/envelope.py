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

import logging
from typing import Any

import numpy as np
import pandas as pd

from scaling.laws.base import Array
from scaling.laws.isoflop import power_law
from scaling.laws.result import FitResult

logger = logging.getLogger(__name__)

N_BUDGETS = 1500
"""Log-spaced FLOP values of the envelope (Hoffmann et al. 2022, App. D.1)."""


def _curves(curves: pd.DataFrame) -> list[dict[str, Any]]:
    for column in ("run_id", "params", "tokens", "loss"):
        if column not in curves.columns:
            raise ValueError(f"Approach 1 needs per-step curves with columns run_id, params, tokens "
                             f"(seen), loss; missing {column!r}")
    if "flops" not in curves.columns:
        curves = curves.assign(flops=6.0 * curves["params"] * curves["tokens"])  # Kaplan et al. 2020, Sec. 2.1
    runs = []
    for run_id, curve in curves.groupby("run_id", sort=True):
        curve = curve.sort_values("flops")
        values = [curve[c].to_numpy(float) for c in ("flops", "tokens", "loss")]
        if not all(np.all(np.isfinite(v) & (v > 0)) for v in values):
            raise ValueError(f"run {run_id}: curve has missing, NaN or non-positive values")
        if len(curve) < 2:
            raise ValueError(f"run {run_id} has a single point: Approach 1 needs per-step curves")
        runs.append({"params": float(curve["params"].iloc[0]), "log_flops": np.log(values[0]),
                     "log_tokens": np.log(values[1]), "loss": values[2]})
    return runs


def envelope_optima(curves: pd.DataFrame, n_budgets: int = N_BUDGETS) -> list[dict[str, Any]]:
    """The lowest-loss run at each of `n_budgets` log-spaced C (Hoffmann et al. 2022, App. D.1)."""
    runs = _curves(curves)
    low = min(r["log_flops"][0] for r in runs)
    high = max(r["log_flops"][-1] for r in runs)
    grid = np.linspace(low, high, n_budgets)
    loss = np.full((len(runs), n_budgets), np.inf)
    tokens = np.zeros((len(runs), n_budgets))
    for i, run in enumerate(runs):
        inside = (grid >= run["log_flops"][0]) & (grid <= run["log_flops"][-1])
        loss[i, inside] = np.interp(grid[inside], run["log_flops"], run["loss"])
        tokens[i, inside] = np.exp(np.interp(grid[inside], run["log_flops"], run["log_tokens"]))
    params = np.array([r["params"] for r in runs])
    sizes_present = np.array([np.unique(params[np.isfinite(loss[:, j])]).size for j in range(n_budgets)])
    winner = np.argmin(loss, axis=0)
    smallest, largest = params.min(), params.max()
    optima = []
    for j in np.flatnonzero(sizes_present >= 2):
        best = winner[j]
        optima.append({"flops": float(np.exp(grid[j])), "params": float(params[best]),
                       "tokens": float(tokens[best, j]), "loss": float(loss[best, j]),
                       "edge": bool(params[best] in (smallest, largest))})
    return optima


def fit_envelope(curves: pd.DataFrame, *, n_budgets: int = N_BUDGETS, bootstrap: int = 0,
                 level: float = 0.95, seed: int = 0) -> FitResult:
    """Chinchilla Approach 1 (Hoffmann et al. 2022, Sec. 3.1), bootstrap over whole runs."""
    from scaling.laws.fit import data_digest

    optima = envelope_optima(curves, n_budgets)
    fitted = _allocation(optima)
    samples = _bootstrap(curves, n_budgets, bootstrap, seed) if bootstrap else None
    interior = sum(not o["edge"] for o in optima)
    return FitResult.build(
        law="power_allocation", approach="1", coefficients={"k": fitted["k"], "a": fitted["a"]},
        derived={"a": fitted["a"], "b": fitted["b"], "k_tokens": fitted["k_tokens"]},
        converged=True, message=f"{interior} envelope points fitted, {len(optima) - interior} won by the "
                                "smallest or largest size left out",
        n_points=int(curves["run_id"].nunique()),
        data_digest=data_digest(curves.assign(flops=curves.get("flops", 6.0 * curves["params"] * curves["tokens"])),
                                ("params", "tokens", "flops")),
        optima=_thin(optima), samples=samples, level=level,
        uncertainty=f"bootstrap(n={bootstrap}, seed={seed})" if bootstrap else "none",
        options={"n_budgets": n_budgets, "method": "lowest loss over runs at log-spaced C"})


def _allocation(optima: list[dict[str, Any]]) -> dict[str, float]:
    usable = [o for o in optima if not o["edge"]]
    if len({o["params"] for o in usable}) < 2:
        raise ValueError("the envelope is won by fewer than 2 interior model sizes: train more sizes, "
                         "or longer, so that curves cross")
    flops = np.array([o["flops"] for o in usable])
    k, a = power_law(flops, np.array([o["params"] for o in usable]))
    k_tokens, b = power_law(flops, np.array([o["tokens"] for o in usable]))
    return {"k": k, "a": a, "k_tokens": k_tokens, "b": b}


def _thin(optima: list[dict[str, Any]], keep: int = 60) -> list[dict[str, Any]]:
    # The JSON keeps about `keep` envelope points, evenly spaced in log C, not all 1,500.
    step = max(1, len(optima) // keep)
    return optima[::step]


def _bootstrap(curves: pd.DataFrame, n_budgets: int, n_resamples: int, seed: int) -> dict[str, Array]:
    rng = np.random.default_rng(seed)
    run_ids = np.array(sorted(curves["run_id"].unique()))
    groups = {run_id: frame for run_id, frame in curves.groupby("run_id")}
    draws: dict[str, list[float]] = {"k": [], "a": [], "b": [], "k_tokens": []}
    for i in range(n_resamples):
        # Duplicated runs leave the envelope unchanged, so a resample is its set of distinct runs.
        chosen = np.unique(rng.choice(run_ids, size=run_ids.size))
        resample = pd.concat([groups[r] for r in chosen], ignore_index=True)
        try:
            fitted = _allocation(envelope_optima(resample, n_budgets))
        except ValueError:
            continue
        for name in draws:
            draws[name].append(fitted[name])
    if len(draws["a"]) < 2:
        raise ValueError("bootstrap failed: fewer than 2 resamples had an interior envelope")
    return {name: np.array(values) for name, values in draws.items()}
