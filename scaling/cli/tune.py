"""`scaling tune`: run a tune spec's LR x batch grid and fit eta_opt(C), B_opt(C) into a rules
file. Parse, delegate to scaling.tuning.grid.tune, render (table, csv, or the rules file as json)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scaling.atomic import check_target
from scaling.cli._app import MAX_WORKERS, Format, app, command_line, examples, resamples
from scaling.cli.progress import ProgressView, sweep_status
from scaling.cli.render import Output, Table, flops, show

if TYPE_CHECKING:
    from scaling.tuning.grid import TuneResult


@app.command("tune", epilog=examples("scaling tune cpu-tune --out scratch-runs --figure tune.png"))
def tune_command(
    spec: Annotated[str, typer.Argument(help="Tune spec: a sweep spec (TOML or bundled name, e.g. cpu-tune) "
                                             "with a [tune] LR x batch grid.")],
    workers: Annotated[int | None, typer.Option(help="Local worker processes; default: one per CPU core.",
                                                min=1, max=MAX_WORKERS)] = None,
    out: Annotated[Path, typer.Option(help="Run store root; runs go to OUT/<name>/.")] = Path("runs"),
    rules: Annotated[Path | None, typer.Option(help="Rules file to write (default OUT/<name>/rules.json).")] = None,
    figure: Annotated[Path | None, typer.Option(help="Figure of loss vs LR and batch per budget (.png/.svg/.pdf).")] = None,
    band: Annotated[float | None, typer.Option(help="Near-optimal band: runs within this fraction of each "
                                                    "budget's best loss (default: the spec's, else 0.0025).",
                                               min=0.0, max=0.99)] = None,
    bootstrap: Annotated[int | None, typer.Option(help="Bootstrap resamples for the intervals (default: the spec's).",
                                                  callback=resamples)] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format: the optimum per budget as a table "
                                                            "or csv, or the rules file as json.")] = Format.table,
) -> None:
    """Tune LR and batch on a small grid at a few budgets; write rules `rules = "rules:FILE"` reads."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.plot.figures import FORMATS as FIGURE_FORMATS
    from scaling.plot.figures import save_figure
    from scaling.plot.tuning import tune_figure
    from scaling.sweep.specfile import load_spec
    from scaling.tuning.grid import tune

    sweep = load_spec(spec)
    for argument, target, suffixes in (("figure", figure, FIGURE_FORMATS), ("rules", rules, ())):
        if target is not None:  # before the grid trains, not after
            check_target(target, argument=argument, suffixes=suffixes)
    with ProgressView(sweep.name, 0, unit="runs") as view:
        result, rules_path = tune(sweep, out, workers=workers, rules_path=rules, band=band, bootstrap=bootstrap,
                                  progress=lambda s: view.update(s.done, sweep_status(s), total=s.total),
                                  command=command_line())
    if figure is not None:  # the library fits; the plot room draws
        save_figure(tune_figure(result), figure)
    show(_render(result, rules_path, figure), format)


def _render(result: TuneResult, rules_path: Path, figure: Path | None) -> Output:
    """The optimum per budget (table, csv) and the rules file's document (json)."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.tuning.grid import optimum_table

    rows = optimum_table(result)
    table = Table(["budget", "runs", "band", "best lr", "best batch", "best loss", "eta_opt(C)", "B_opt(C)"],
                  [[flops(r["budget_flops"]), str(r["runs"]), str(r["near_optimal_runs"]), f"{r['best_lr']:.3g}",
                    f"{r['best_batch_tokens']:.0f}", f"{r['best_loss']:.4f}", f"{r['eta_opt']:.3g}",
                    f"{r['B_opt']:.0f}"] for r in rows], align="rrrrrrrr")
    laws = "\n".join(f"{label} = {rule.k:.4g} C^{rule.p:.4f}"
                     + "".join(f", {k} [{lo:.3g}, {hi:.3g}]" for k, (lo, hi) in rule.intervals.items())
                     for label, rule in (("eta_opt", result.rules.lr), ("B_opt", result.rules.batch_tokens)))
    wrote = (f"wrote {rules_path}" + (f" and {figure}" if figure else "")
             + f"; use it with rules = \"rules:{rules_path}\"")
    return Output([table, laws], notes=list(result.rules.notes), records=rows,
                  document=result.rules.to_json(), footer=[wrote])
