"""`scaling backtest DATA`: refit below each budget cut-off, predict the larger budgets, show errors.

Parses options, calls `scaling.analysis.backtest.backtest`, renders; fitting code is imported lazily.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer

from scaling.cli.fit import parse_pairs
from scaling.cli._app import app, examples, positive_int
from scaling.cli.plan import Fmt, Format
from scaling.cli.render import Output, Table, flops, show, si

if TYPE_CHECKING:
    from scaling.analysis.backtest import BacktestReport


class BacktestApproach(str, Enum):
    """scaling.analysis.backtest.APPROACHES as a typed choice (kept here so `scaling plan` starts
    without the fitting code; a test holds the two equal)."""

    approach_2 = "2"
    approach_3 = "3"


@app.command("backtest", epilog=examples(
    "scaling backtest porian-2024-rw-tuned",
    "scaling backtest runs/cpu-isoflop --approach 2 --approach 3 --points",
))
def backtest_command(
    data: Annotated[str, typer.Argument(help="Runs: a built-in data set (e.g. porian-2024-rw-tuned), "
                                             "a .csv/.parquet file or a sweep directory.")],
    approach: Annotated[list[BacktestApproach] | None, typer.Option(help="2 (IsoFLOP profiles, loss from Kaplan's L(C) "
                                                            "frontier) or 3 (parametric fit); repeatable "
                                                            "(default: both).")] = None,
    min_budgets: Annotated[int, typer.Option(help="Budgets in the first fit (at least 2).",
                                             callback=positive_int)] = 3,
    drop_highest: Annotated[int, typer.Option(help="Approach 3: drop this many highest-loss runs per fit.",
                                              min=0)] = 0,
    points: Annotated[bool, typer.Option("--points", help="List every (cut-off, held-out budget) point.")] = False,
    column: Annotated[list[str] | None, typer.Option(help='Map a column: params="Model Size" (repeatable).')] = None,
    where: Annotated[list[str] | None, typer.Option(help='Keep rows where COLUMN OP VALUE holds, e.g. dataset==rw '
                                                     '(repeatable: all must hold).')] = None,
    format: Fmt = Format.table,
) -> None:
    """How well laws fitted on small budgets predicted the larger ones: errors in N_opt and best loss."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.analysis.backtest import APPROACHES, backtest

    report = backtest(data, approaches=[a.value for a in approach] if approach else APPROACHES, min_budgets=min_budgets, drop_highest=drop_highest,
                      columns=parse_pairs(column, "--column"), where=tuple(where or ()))
    show(_render(report, points), format)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _render(report: BacktestReport, with_points: bool) -> Output:
    headers = ["approach", "decades past cut-off", "n", "N_opt |err| median %", "max %",
               "best loss |err| median %", "max %"]
    rows = [[s["approach"], s["decades"], str(s["n"]), _pct(s["params_error_median_pct"]),
             _pct(s["params_error_max_pct"]), _pct(s["loss_error_median_pct"]), _pct(s["loss_error_max_pct"])]
            for s in report.summary]
    tables = [Table(headers, rows)]
    if with_points:
        point_rows = [[p.approach, flops(p.cutoff_flops), flops(p.flops), si(p.observed_params),
                       "-" if p.predicted_params is None else si(p.predicted_params), _pct(p.params_error_pct),
                       f"{p.observed_loss:.3f}", "-" if p.predicted_loss is None else f"{p.predicted_loss:.3f}",
                       _pct(p.loss_error_pct), "yes" if p.scored else "no (edge)"]
                      for p in report.points]
        tables.append(Table(["approach", "cut-off", "budget", "N_opt", "predicted", "err %", "best loss",
                             "predicted", "err %", "scored"], point_rows))
    notes = [f"data: {report.data}",
             f"budgets: {len(report.budgets)} from {report.budgets[0]:.3g} to {report.budgets[-1]:.3g} FLOPs; "
             "each fit uses every budget up to its cut-off and predicts every larger one"]
    notes += [f"{key}: {value}" for key, value in report.conventions.items()]
    unscored = sorted({p.flops for p in report.points if not p.scored})
    if unscored:
        notes.append("not scored (lowest loss at the edge of the sizes sampled): "
                     + ", ".join(f"{c:.3g}" for c in unscored))
    warned = sum(1 for p in report.points if p.note)
    if warned:
        notes.append(f"{warned} points come from fits that warned (see --format json, field note)")
    return Output(tables, notes, [p.__dict__ for p in report.points], report.to_json())
