"""`scaling tune`: an LR x batch grid at a few budgets, run by the sweep runner, and the laws
eta_opt(C) = k C^p, B_opt(C) = k C^p fitted to its near-optimal runs.

A tune spec is a sweep spec with a [tune] table (scaling.tuning.spec): every planned run (one or
a few sizes per IsoFLOP budget) is crossed with the grid, the sweep runner trains them into the
run store (finished runs are skipped), and the runs within `band` of each budget's best loss
(DeepSeek-AI 2024's near-optimal band) give the points both laws are fitted to, through the
project's one engine (`fit_law` with the `hyperparameter_power` form, scaling.laws.lr_batch)
with bootstrap intervals. The result is written as a rules file (scaling.training.rules) that
sweep specs and `scaling train` read with `rules = "rules:PATH"`.

Legend: C = a run's training FLOPs (the spec's flops_method), eta = peak LR, B = batch tokens.

References:
    DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Sec. 3.1, Fig. 2-3, Eq. 1.
    Porian et al. 2024, arXiv:2406.19146 (per-size LR and batch tuning decides small-scale laws).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scaling.fit.identify import NotIdentifiable
from scaling.fit.result import FitWarning
from scaling.tuning.optimum import near_optimal
from scaling.tuning.spec import TuneGrid
from scaling.training.rules import PowerRule, TuneRules
from scaling.atomic import make_dirs, write_atomic, write_json
from scaling.fit.engine import fit_law
from scaling.rundir.summary import read_summary, summary_path
from scaling.sweep.scheduler import run_sweep

if TYPE_CHECKING:
    from scaling.fit.result import FitResult
    from scaling.sweep.spec import SweepConfig

log = logging.getLogger(__name__)

# Huber threshold on log residuals of the hyperparameter fits: 1 (a factor e) makes the fit least
# squares in log-log for the grid's factor-of-2 scatter, as DeepSeek's straight lines are.
HYPERPARAMETER_DELTA = 1.0


@dataclass(frozen=True)
class TuneResult:
    """The rules, the two fits behind them, and the runs with their near-optimal flags."""

    rules: TuneRules
    lr_fit: FitResult | None
    """None when the data cannot identify the law (the rule is then a constant; see rules.notes)."""
    batch_fit: FitResult | None
    runs: pd.DataFrame
    """One row per finished run: budget_flops, flops, lr, batch_tokens, loss, near_optimal."""
    edges: tuple[str, ...]
    """Budgets whose best run sits on the grid's edge in LR or batch (the grid may be too narrow)."""


def mark_band(runs: pd.DataFrame, band: float) -> pd.DataFrame:
    """`runs` with a `near_optimal` column: loss within `band` of its budget's best."""
    runs = runs.copy()
    runs["near_optimal"] = False
    for _, group in runs.groupby("budget_flops"):
        runs.loc[group.index, "near_optimal"] = near_optimal(group["loss"].to_numpy(float), band)
    return runs


def grid_edges(runs: pd.DataFrame) -> tuple[str, ...]:
    """Budgets whose best run uses the smallest or largest LR or batch of that budget's grid."""
    edges = []
    for budget, group in runs.groupby("budget_flops"):
        best = group.loc[group["loss"].idxmin()]
        for column, name in (("lr", "LR"), ("batch_tokens", "batch")):
            values = group[column]
            if values.nunique() > 1 and best[column] in (values.min(), values.max()):
                edges.append(f"{budget:.3g} FLOPs: best {name} {best[column]:.3g} on the grid's edge")
    return tuple(edges)


def fit_rules(runs: pd.DataFrame, *, band: float, bootstrap: int = 200, name: str = "tuned",
              flops_convention: str = "6ND", parametrization: str = "standard", seed: int = 0) -> TuneResult:
    """Fit eta_opt(C) and B_opt(C) to the near-optimal runs of an LR x batch grid.

    Parameters
    ----------
    runs
        Finished runs with budget_flops, flops, lr, batch_tokens, loss (a tune sweep's summary).
    band
        Relative loss band per budget (0.0025 = DeepSeek's 0.25%).
    bootstrap
        Resamples of the near-optimal runs for the intervals on k and p (0: none).
    """
    needed = {"budget_flops", "flops", "lr", "batch_tokens", "loss"}
    missing = sorted(needed - set(runs.columns))
    if missing:
        raise ValueError(f"tune runs need columns {', '.join(sorted(needed))}; missing {', '.join(missing)}")
    runs = runs.dropna(subset=["loss"]).reset_index(drop=True)
    if runs["budget_flops"].nunique() < 2:
        raise ValueError("fitting eta_opt(C) and B_opt(C) needs runs at two or more budgets")
    runs = mark_band(runs, band)
    chosen = runs[runs["near_optimal"]]
    fits: dict[str, FitResult | None] = {}
    rules_by_column: dict[str, PowerRule] = {}
    unidentified: list[str] = []
    for column in ("lr", "batch_tokens"):
        table = pd.DataFrame({"run_id": chosen.get("run_id", pd.Series(range(len(chosen)))).astype(str).to_numpy(),
                              "params": 1.0, "flops": chosen["flops"].to_numpy(float),
                              "loss": chosen[column].to_numpy(float)})
        # The engine fits log(quantity) against log C: the "loss" column carries the quantity.
        try:
            fits[column] = fit_law("hyperparameter_power", table, delta=HYPERPARAMETER_DELTA,
                                   bootstrap=bootstrap if len(table) > 2 else 0, seed=seed, n_jobs=1)
        except NotIdentifiable as exc:  # e.g. every near-optimal run has one batch: no trend in C
            fits[column] = None
            constant = float(np.exp(np.log(table["loss"]).mean()))
            unidentified.append(f"{column}: not identifiable ({exc}); the rule is the constant {constant:.4g}")
            warnings.warn(f"tune: {unidentified[-1]}", FitWarning, stacklevel=2)
            rules_by_column[column] = PowerRule(k=constant, p=0.0)
        else:
            rules_by_column[column] = _power_rule(fits[column])
    edges = grid_edges(runs)
    for edge in edges:
        warnings.warn(f"tune: {edge}; widen the grid there", FitWarning, stacklevel=2)
    notes = [f"fitted to {len(chosen)} near-optimal runs of {len(runs)} (within {band:.2%} of each budget's "
             f"best loss) at {runs['budget_flops'].nunique()} budgets, Huber on log values "
             f"(delta {HYPERPARAMETER_DELTA:g})", *edges, *unidentified]
    if len(chosen) <= 2:
        notes.append("no intervals: too few near-optimal runs to resample")
    rules = TuneRules(name=name, source="scaling tune: an LR x batch grid fitted as DeepSeek-AI 2024, Sec. 3.1",
                      flops_convention=flops_convention, band=band,
                      budgets=tuple(sorted(float(b) for b in runs["budget_flops"].unique())),
                      parametrization=parametrization, notes=tuple(notes),
                      lr=rules_by_column["lr"], batch_tokens=rules_by_column["batch_tokens"])
    return TuneResult(rules=rules, lr_fit=fits["lr"], batch_fit=fits["batch_tokens"], runs=runs, edges=edges)


def _power_rule(fit: FitResult) -> PowerRule:
    return PowerRule(k=fit.coefficients["k"], p=fit.coefficients["p"],
                     intervals={k: list(v) for k, v in fit.intervals.items() if k in ("k", "p")})


def tune(spec: SweepConfig, out: Path = Path("runs"), *, workers: int | None = None, rules_path: Path | None = None,
         band: float | None = None, bootstrap: int | None = None,
         progress: Any = None, command: str | None = None, train_fn: Any = None,
         ) -> tuple[TuneResult, Path]:
    """Run `spec`'s grid (skipping finished runs), fit the rules, write them (default
    OUT/<name>/rules.json, fits in OUT/<name>/fits/); `scaling tune --figure` draws it (scaling.plot.tuning)."""
    grid = spec.tables.get("tune")
    if not isinstance(grid, TuneGrid):
        raise ValueError(f"sweep {spec.name} has no [tune] table: `scaling tune` needs an LR x batch grid")
    state = run_sweep(spec, out, workers=workers, progress=progress, command=command, train_fn=train_fn)
    if state.failed:
        log.warning("tune %s: %d runs failed; fitting the others", spec.name, state.failed)
    sweep_dir = Path(out) / spec.name
    runs = read_summary(summary_path(sweep_dir))
    runs = runs[runs["status"] == "ok"]
    result = fit_rules(runs, band=grid.band if band is None else band,
                       bootstrap=grid.bootstrap if bootstrap is None else bootstrap, name=spec.name,
                       flops_convention=spec.flops_method, parametrization=spec.shape.parametrization)
    rules_path = rules_path or sweep_dir / "rules.json"
    make_dirs(rules_path.parent)
    write_atomic(rules_path, result.rules.to_json().encode())
    make_dirs(sweep_dir / "fits")
    for label, fit in (("lr", result.lr_fit), ("batch", result.batch_fit)):
        if fit is not None:
            write_json(sweep_dir / "fits" / f"tune-{label}.json", fit.to_document())
    return result, rules_path


def optimum_table(result: TuneResult) -> list[dict[str, float]]:
    """Per budget: the best run's LR, batch and loss, and the fitted eta_opt(C), B_opt(C)."""
    rows = []
    for budget, group in result.runs.groupby("budget_flops"):
        best = group.loc[group["loss"].idxmin()]
        flops = float(np.exp(np.log(group["flops"]).mean()))
        rows.append({"budget_flops": float(budget), "best_lr": float(best["lr"]),
                     "best_batch_tokens": float(best["batch_tokens"]), "best_loss": float(best["loss"]),
                     "near_optimal_runs": int(group["near_optimal"].sum()), "runs": len(group),
                     "eta_opt": result.rules.lr(flops), "B_opt": result.rules.batch_tokens(flops)})
    return rows
