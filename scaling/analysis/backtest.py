"""Back-testing a scaling law: refit on the runs below each budget cut-off and predict the
held-out larger budgets, so a user sees how far a law fitted on small runs can be trusted.

At each held-out budget C the truth is read from that budget's runs alone: the compute-optimal
N from a local parabola in log N through the lowest-loss runs (as Approach 2 locates it), and
the best loss, the lowest loss observed there (runs of one size, seeds, averaged first). A budget
whose lowest loss sits at the smallest or largest size sampled has no trustworthy optimum and is
reported but not scored.
Predictions: Approach 2 gives N_opt(C) from its IsoFLOP power law, and the best loss from
Kaplan's compute frontier L(C) = (C_c / C)^alpha_C (Kaplan et al. 2020, Eq. 1.3) fitted to the
same budgets' minima; Approach 3 (parametric fit of L(N, D)) gives N_opt(C) and the loss there,
L(N_opt, D_opt).

References:
    Hoffmann et al. 2022 (Chinchilla), Sec. 3.2 (Approach 2) and Sec. 3.3 (Approach 3);
    Porian et al. 2024, arXiv:2406.19146, Sec. 2 (optimum by local interpolation; their
    IsoFLOP runs are the bundled `porian-2024-*` data sets).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from scaling.document import Document
from scaling.runs import RunsSource
from scaling.fit.approaches import fit_approach, fit_frontier, prepare
from scaling.fit.isoflop import budget_labels, budget_optimum

logger = logging.getLogger(__name__)

SCHEMA = "scaling.Backtest/1"
APPROACHES = ("2", "3")
"""Approach 1 needs each run's training curve, which published run tables do not carry."""
EXTRAPOLATION_BINS = (0.5, 1.0, 2.0)
"""Summary bins of extrapolation distance, in decades of FLOPs past the cut-off."""
CONVENTIONS = {
    "params": "as the data counts them (see the data set's provenance); fits and truth use the same column",
    "flops": "the runs' training FLOPs column (C = 6 N D when the data gives no FLOPs)",
    "budget": "C as the runs spent it, not Kaplan's C_min",
    "truth": ("per held-out budget: compute-optimal N from a local parabola in log N; best loss = lowest observed "
              "(runs of one size, i.e. seeds, averaged first)"),
}


@dataclass(frozen=True, kw_only=True)
class BacktestPoint:
    """One approach, fitted below one cut-off, predicting one held-out budget."""

    approach: str
    cutoff_flops: float
    """Largest budget fitted on."""
    n_runs_fitted: int
    flops: float
    """The held-out budget."""
    extrapolation_decades: float
    """log10(flops / cutoff_flops)."""
    observed_params: float
    observed_loss: float
    predicted_params: float | None
    """None when the fit failed."""
    predicted_loss: float | None
    """None for a failed fit."""
    params_error_pct: float | None
    """100 (predicted / observed - 1)."""
    loss_error_pct: float | None
    scored: bool
    """False when the held-out budget's optimum lies at the edge of its sampled sizes."""
    note: str = ""
    """Fit warnings or failures, verbatim, joined."""


@dataclass(frozen=True, kw_only=True)
class BacktestReport(Document):
    """Every back-test point, with per-approach error summaries by extrapolation distance."""

    SCHEMA: ClassVar[str] = SCHEMA

    data: str
    approaches: tuple[str, ...]
    budgets: tuple[float, ...]
    """Every budget in the data (grouped IsoFLOP budgets), ascending."""
    points: tuple[BacktestPoint, ...]
    summary: tuple[dict[str, Any], ...]
    conventions: dict[str, str] = field(default_factory=lambda: dict(CONVENTIONS))

    _frame_rows = "points"

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "approaches": list(self.approaches), "budgets": list(self.budgets),
                "conventions": self.conventions, "summary": list(self.summary),
                "points": [asdict(p) for p in self.points]}


def backtest(runs: pd.DataFrame | RunsSource, *, approaches: Sequence[str] = APPROACHES, min_budgets: int = 3,
             drop_highest: int = 0, columns: Mapping[str, str] | None = None,
             where: Sequence[str] = ()) -> BacktestReport:
    """Refit each approach on the budgets up to each cut-off; score its predictions above it.

    Parameters
    ----------
    runs
        Runs table or anything `read_runs` accepts (a built-in data set name, a CSV, a sweep).
    approaches
        Any of "2" (IsoFLOP profiles; loss from Kaplan's L(C) frontier through their minima) and
        "3" (parametric Chinchilla fit).
    min_budgets
        Fewest budgets a fit may use: the first cut-off keeps this many.
    drop_highest
        Approach 3 drops this many highest-loss runs of each fitted subset (Besiroglu et al. 2024: 5).
    columns, where
        Column mapping and row filters, as `scaling.runs.read_runs` takes them.
    """
    bad = [a for a in approaches if a not in APPROACHES]
    if bad or not approaches:
        raise ValueError(f"approach must be one of {', '.join(APPROACHES)} (approach 1 needs training curves); "
                         f"got {', '.join(bad) or 'none'}")
    if min_budgets < 2:
        raise ValueError(f"min_budgets must be at least 2, got {min_budgets}")
    frame = prepare(runs, columns=columns, where=where).runs
    if not 0 <= drop_highest < len(frame):
        raise ValueError(f"`drop_highest` must be in [0, {len(frame)}) for these {len(frame)} runs, got {drop_highest}")
    labels = budget_labels(frame)
    budgets = [_budget_truth(frame[labels == label]) for label in np.unique(labels)]
    budgets = [b for b in budgets if b is not None]
    if len(budgets) < min_budgets + 1:
        raise ValueError(f"back-testing needs at least {min_budgets + 1} budgets with 3 or more model sizes each; "
                         f"the data has {len(budgets)}")
    points = []
    for cut in range(min_budgets, len(budgets)):
        fitted = pd.concat([b["runs"] for b in budgets[:cut]], ignore_index=True)
        for approach in approaches:
            estimate, loss_law, note = _refit(approach, fitted, drop_highest)
            for truth in budgets[cut:]:
                points.append(_score(approach, estimate, loss_law, note, budgets[cut - 1]["flops"], len(fitted),
                                     truth))
    return BacktestReport(data=str(frame.attrs.get("source", runs if isinstance(runs, str) else "runs table")),
                          approaches=tuple(approaches), budgets=tuple(b["flops"] for b in budgets),
                          points=tuple(points), summary=tuple(summarise(points)))


def summarise(points: Sequence[BacktestPoint]) -> list[dict[str, Any]]:
    """Median and largest absolute errors per approach and extrapolation bin (scored points only)."""
    edges = (0.0, *EXTRAPOLATION_BINS, math.inf)
    rows = []
    for approach in dict.fromkeys(p.approach for p in points):
        for low, high in zip(edges[:-1], edges[1:]):
            chosen = [p for p in points if p.approach == approach and p.scored and p.predicted_params is not None
                      and low < p.extrapolation_decades <= high]
            if not chosen:
                continue
            params_errors = np.abs([p.params_error_pct for p in chosen])
            losses = [abs(p.loss_error_pct) for p in chosen if p.loss_error_pct is not None]
            rows.append({"approach": approach, "decades": f"({low:g}, {high:g}]", "n": len(chosen),
                         "params_error_median_pct": float(np.median(params_errors)),
                         "params_error_max_pct": float(params_errors.max()),
                         "loss_error_median_pct": float(np.median(losses)) if losses else None,
                         "loss_error_max_pct": float(max(losses)) if losses else None})
    return rows


def _budget_truth(runs: pd.DataFrame) -> dict[str, Any] | None:
    """The budget's optimum and best loss; `runs` are already one row per configuration."""
    params = runs["params"].to_numpy(float)
    if np.unique(params).size < 3:
        return None
    optimum = budget_optimum(params, runs["tokens"].to_numpy(float), runs["loss"].to_numpy(float))
    return {"runs": runs, "flops": float(np.exp(np.log(runs["flops"].to_numpy(float)).mean())),
            "params": optimum["params"], "loss": float(runs["loss"].min()), "edge": optimum["edge"]}


def _refit(approach: str, runs: pd.DataFrame, drop_highest: int) -> tuple[Any, Any, str]:
    """The approach's allocation fit to `runs` (through the approach registry), the fit that
    predicts its loss, and their warnings; (None, None, reason) when it cannot fit."""
    # Record rather than print warnings: each refit's warnings belong to its points' `note`.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if approach == "2":
                estimate = fit_approach("2", runs)["approach_2"]
                loss_law = fit_frontier(estimate.optima)
            else:
                estimate = loss_law = fit_approach("3", runs, drop_highest=min(drop_highest, max(len(runs) - 6, 0)))[
                    "approach_3"]
        except ValueError as exc:
            return None, None, f"fit failed: {exc}"
    note = "; ".join(dict.fromkeys(str(w.message) for w in caught))
    if not (getattr(estimate, "converged", True) and getattr(loss_law, "converged", True)):
        note = "; ".join(filter(None, ["fit did not converge", note]))
    return estimate, loss_law, note


def _score(approach: str, estimate: Any, loss_law: Any, note: str, cutoff: float, n_runs: int,
           truth: dict[str, Any]) -> BacktestPoint:
    predicted_params = predicted_loss = None
    if estimate is not None:
        params, tokens = (float(np.ravel(x)[0]) for x in estimate.optimal(truth["flops"]))
        predicted_params = params
        predicted_loss = float(np.ravel(loss_law.predict(params, tokens))[0])
    return BacktestPoint(
        approach=approach, cutoff_flops=cutoff, n_runs_fitted=n_runs, flops=truth["flops"],
        extrapolation_decades=math.log10(truth["flops"] / cutoff), observed_params=truth["params"],
        observed_loss=truth["loss"], predicted_params=predicted_params, predicted_loss=predicted_loss,
        params_error_pct=None if predicted_params is None else 100.0 * (predicted_params / truth["params"] - 1.0),
        loss_error_pct=None if predicted_loss is None else 100.0 * (predicted_loss / truth["loss"] - 1.0),
        scored=not truth["edge"], note=note)
