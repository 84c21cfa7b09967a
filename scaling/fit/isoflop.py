"""Chinchilla Approach 2: IsoFLOP profiles -> per-budget optima -> N_opt = k C^a, D_opt = k' C^b.

Runs are grouped by budget (a sweep's own budget labels, exact FLOP values, or log-binned when
C varies a little within a budget). Each budget's loss-minimising N comes from a parabola in log N through only the
points next to the lowest loss (never one global parabola over a wide range, which is biased
when the profile is not parabolic); a minimum at the edge of the sampled sizes is flagged,
warned about and left out of the power laws.

Legend: C = budget FLOPs, N = params, D = tokens, L = loss; x = log N.

References:
    Hoffmann et al. 2022, Sec. 3.2 (Approach 2, a = 0.49, b = 0.51);
    Porian et al. 2024, arXiv:2406.19146, Sec. 2 (optimum by interpolation near the minimum).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from scaling.laws.base import Array
from scaling.fit.identify import NotIdentifiable, allocation_flags, warn_flags
from scaling.fit.result import FitResult, FitWarning
from scaling.runs import RunsSource, average_seeds, read_runs

RANK_WARNING = getattr(np.exceptions, "RankWarning", None) or np.RankWarning
"""polyfit's warning: numpy.exceptions from numpy 2.0, the top-level numpy before."""

logger = logging.getLogger(__name__)

BUDGET_GAP_DECADES = 0.05
"""Sorted log10 budgets further apart than this (about 12%) start a new budget group."""


def group_budgets(flops: Array, gap_decades: float = BUDGET_GAP_DECADES) -> Array:
    """Budget label per run: runs share a budget when their log10 C values chain within the gap."""
    log_flops = np.log10(flops)
    order = np.argsort(log_flops)
    breaks = np.concatenate([[0], np.cumsum(np.diff(log_flops[order]) > gap_decades)])
    labels = np.empty(len(flops), dtype=int)
    labels[order] = breaks
    return labels


def budget_labels(runs: pd.DataFrame, gap_decades: float = BUDGET_GAP_DECADES) -> Array:
    """Budget label per run: the sweep's own `budget_flops` where the runs carry it (a sweep
    directory's summary), else `group_budgets` over the FLOPs column."""
    if "budget_flops" in runs.columns and runs["budget_flops"].notna().all():
        return np.unique(runs["budget_flops"].to_numpy(float), return_inverse=True)[1]
    return group_budgets(runs["flops"].to_numpy(float), gap_decades)


def budget_optimum(params: Array, tokens: Array, loss: Array, window: int = 2) -> dict[str, Any]:
    """Loss-minimising (params, tokens, loss) of one IsoFLOP profile, from a local parabola.

    Fit L = c2 x^2 + c1 x + c0, x = log N, through the lowest-loss size and `window` sizes on each
    side; the vertex x* = -c1 / (2 c2) is the optimum (Hoffmann et al. 2022, Sec. 3.2, applied
    locally as Porian et al. 2024, Sec. 2 advise). The vertex is used only inside those runs
    and within the local rise of the lowest loss (scattered or repeated sizes can give a flat,
    meaningless parabola); otherwise the lowest-loss size itself. D_opt = C / (6 N_opt) with C the
    geometric mean of the runs' 6 N D (their tokens, whatever FLOP accounting). `edge` is True
    when the lowest loss is the smallest or largest N sampled: the optimum may lie outside.
    Runs of one size (seeds, or a bootstrap's repeated draws) count once, at their mean loss.
    """
    x, y, counts = profile(params, loss)
    best = int(np.argmin(y))
    edge = best in (0, len(y) - 1)
    vertex, vertex_loss = float(x[best]), float(y[best])
    parabola, (x_low, x_high) = _parabola(x, y, counts, window)
    if parabola is not None and parabola[0] > 0:
        c2, c1, c0 = parabola
        candidate = -c1 / (2 * c2)
        candidate_loss = c0 + c1 * candidate + c2 * candidate**2
        local_rise = y[max(0, best - window):best + window + 1].max() - y[best]
        if x_low <= candidate <= x_high and abs(candidate_loss - y[best]) <= local_rise:
            vertex, vertex_loss = float(candidate), float(candidate_loss)
    flops = 6.0 * params * tokens
    budget = float(np.exp(np.log(flops).mean()))
    return {"params": float(np.exp(vertex)), "tokens": budget / (6.0 * float(np.exp(vertex))),
            "loss": vertex_loss, "n_runs": int(len(params)), "edge": bool(edge)}


def local_parabola(params: Array, loss: Array, window: int = 2) -> tuple[Array | None, tuple[float, float]]:
    """The local parabola `budget_optimum` uses: (c2, c1, c0) of L = c2 x^2 + c1 x + c0, x = log N,
    through the lowest-loss size and `window` sizes on each side (None with fewer than 3 sizes
    there), and the span (x_low, x_high) of those sizes. Plots draw it (scaling.plot)."""
    return _parabola(*profile(params, loss), window)


def _parabola(x: Array, y: Array, counts: Array, window: int) -> tuple[Array | None, tuple[float, float]]:
    best = int(np.argmin(y))
    local = slice(max(0, best - window), min(len(y), best + window + 1))
    span = (float(x[local].min()), float(x[local].max()))
    if x[local].size < 3:
        return None, span
    # Weighted by runs per size: the same fit as through every run (a bootstrap's pairs).
    return np.polyfit(x[local], y[local], 2, w=np.sqrt(counts[local])), span


def profile(params: Array, loss: Array) -> tuple[Array, Array, Array]:
    """One IsoFLOP profile as (log N, mean loss, runs), one point per distinct size, sorted by
    size: repeated runs of a size (seeds) are averaged, so the window spans sizes, not runs."""
    sizes, inverse = np.unique(params, return_inverse=True)
    counts = np.bincount(inverse)
    return np.log(sizes), np.bincount(inverse, weights=loss) / counts, counts.astype(float)


def isoflop_optima(runs: pd.DataFrame, *, window: int = 2,
                   gap_decades: float = BUDGET_GAP_DECADES) -> list[dict[str, Any]]:
    """One optimum per budget with at least three distinct sizes, sorted by budget."""
    columns = [runs[c].to_numpy(float) for c in ("flops", "params", "tokens", "loss")]
    return _optima(*columns, budget_labels(runs, gap_decades), window)


def _optima(flops: Array, params: Array, tokens: Array, loss: Array, labels: Array,
            window: int) -> list[dict[str, Any]]:
    optima = []
    for label in np.unique(labels):
        member = labels == label
        if np.unique(params[member]).size < 3:
            logger.info("budget group %d has fewer than 3 distinct sizes; skipped", label)
            continue
        optimum = budget_optimum(params[member], tokens[member], loss[member], window)
        optima.append({"flops": float(np.exp(np.log(flops[member]).mean())), **optimum})
    return optima


def power_law(flops: Array, values: Array) -> tuple[float, float]:
    """(k, a) of values = k C^a by least squares in log space (Hoffmann et al. 2022, Sec. 3.1-3.2)."""
    a, log_k = np.polyfit(np.log(flops), np.log(values), 1)
    return float(np.exp(log_k)), float(a)


def allocation_from_optima(optima: list[dict[str, Any]]) -> dict[str, float]:
    """k, a (N_opt = k C^a), k_tokens, b (D_opt = k_tokens C^b) from the non-edge optima."""
    usable = [o for o in optima if not o["edge"]]
    if not optima:
        raise NotIdentifiable("no IsoFLOP profile: Approach 2 needs runs at shared budgets (flops), "
                              "3 or more sizes at each of 2 or more budgets")
    if len(usable) < 2:
        raise NotIdentifiable(f"need at least 2 budgets whose minimum is inside the sampled sizes, "
                         f"found {len(usable)} of {len(optima)}")
    flops = np.array([o["flops"] for o in usable])
    k, a = power_law(flops, np.array([o["params"] for o in usable]))
    k_tokens, b = power_law(flops, np.array([o["tokens"] for o in usable]))
    return {"k": k, "a": a, "k_tokens": k_tokens, "b": b}


def fit_isoflop(runs: pd.DataFrame | RunsSource, *, window: int = 2, gap_decades: float = BUDGET_GAP_DECADES,
                bootstrap: int = 0, level: float = 0.95, seed: int = 0) -> FitResult:
    """Chinchilla Approach 2 (Hoffmann et al. 2022, Sec. 3.2) with bootstrap over runs.

    The bootstrap resamples runs with replacement within each budget (so every budget keeps
    its profile) and recomputes every optimum and both power laws.
    """
    from scaling.fit.engine import data_digest

    runs = average_seeds(read_runs(runs))  # seeds count once, so the bootstrap resamples configurations
    optima = isoflop_optima(runs, window=window, gap_decades=gap_decades)
    edges = [o["flops"] for o in optima if o["edge"]]
    if edges:
        warnings.warn(f"{len(edges)} of {len(optima)} budgets have their lowest loss at the smallest or "
                      f"largest size sampled (C = {', '.join(f'{c:.3g}' for c in edges)}); left out of the "
                      "power laws: sample wider sizes there", FitWarning, stacklevel=2)
    fitted = allocation_from_optima(optima)
    flags = allocation_flags(len(optima) - len(edges))
    warn_flags("Approach 2", flags)
    samples = _bootstrap(runs, bootstrap, seed, window, gap_decades) if bootstrap else None
    return FitResult.build(
        law="power_allocation", approach="2", coefficients={"k": fitted["k"], "a": fitted["a"]},
        derived={"a": fitted["a"], "b": fitted["b"], "k_tokens": fitted["k_tokens"]},
        converged=True, message=f"{len(optima) - len(edges)} budgets fitted, {len(edges)} at an edge",
        n_points=len(runs), data_digest=data_digest(runs, ("params", "tokens", "flops")),
        optima=optima, samples=samples, level=level, not_identifiable=flags,
        uncertainty=f"bootstrap(n={bootstrap}, seed={seed})" if bootstrap else "none",
        options={"window": window, "gap_decades": gap_decades, "method": "local parabola in log N"})


def _bootstrap(runs: pd.DataFrame, n_resamples: int, seed: int, window: int,
               gap_decades: float) -> dict[str, Array]:
    if n_resamples < 2:
        raise ValueError(f"bootstrap needs at least 2 resamples, got {n_resamples}")
    rng = np.random.default_rng(seed)
    columns = [runs[c].to_numpy(float) for c in ("flops", "params", "tokens", "loss")]
    labels = budget_labels(runs, gap_decades)
    members = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    draws: dict[str, list[float]] = {"k": [], "a": [], "b": [], "k_tokens": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RANK_WARNING)  # duplicated points: a refit
        for _ in range(n_resamples):
            index = np.concatenate([rng.choice(m, size=m.size) for m in members])
            try:
                optima = _optima(*(c[index] for c in columns), labels[index], window)
                fitted = allocation_from_optima(optima)
            except ValueError:  # a resample left fewer than 2 interior budgets
                continue
            for name in draws:
                draws[name].append(fitted[name])
    if len(draws["a"]) < n_resamples:
        warnings.warn(f"{n_resamples - len(draws['a'])} of {n_resamples} resamples had too few interior "
                      "budgets and were left out", FitWarning, stacklevel=3)
    return {name: np.array(values) for name, values in draws.items()}
