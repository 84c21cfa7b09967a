"""`scaling tune`: run a tune spec's LR x batch grid and fit eta_opt(C), B_opt(C) into a rules
file. Parse, delegate to scaling.tuning.grid.tune, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scaling.atomic import check_target
from scaling.cli._app import app, examples, positive_int


@app.command("tune", epilog=examples("scaling tune cpu-tune --out scratch-runs --figure tune.png"))
def tune_command(
    spec: Annotated[str, typer.Argument(help="Tune spec: a sweep spec (TOML or bundled name, e.g. cpu-tune) "
                                             "with a [tune] LR x batch grid.")],
    workers: Annotated[int | None, typer.Option(help="Local worker processes; default: one per CPU core.",
                                                callback=positive_int)] = None,
    out: Annotated[Path, typer.Option(help="Run store root; runs go to OUT/<name>/.")] = Path("runs"),
    rules: Annotated[Path | None, typer.Option(help="Rules file to write (default OUT/<name>/rules.json).")] = None,
    figure: Annotated[Path | None, typer.Option(help="Figure of loss vs LR and batch per budget (.png/.svg/.pdf).")] = None,
    band: Annotated[float | None, typer.Option(help="Near-optimal band: runs within this fraction of each "
                                                    "budget's best loss (default: the spec's, else 0.0025).",
                                               min=0.0, max=0.99)] = None,
    bootstrap: Annotated[int | None, typer.Option(help="Bootstrap resamples for the intervals (default: the spec's).",
                                                  min=0)] = None,
) -> None:
    """Tune LR and batch on a small grid at a few budgets; write rules `rules = "rules:FILE"` reads."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.cli.progress import ProgressView
    from scaling.cli.sweep import _command_line, _sweep_status
    from scaling.plot.figures import FORMATS as FIGURE_FORMATS
    from scaling.sweep.spec import load_spec
    from scaling.tuning.grid import optimum_table, tune

    sweep = load_spec(spec)
    for argument, target, suffixes in (("figure", figure, FIGURE_FORMATS), ("rules", rules, ())):
        if target is not None:  # before the grid trains, not after
            check_target(target, argument=argument, suffixes=suffixes)
    with ProgressView(sweep.name, 0, unit="runs") as view:
        result, rules_path = tune(sweep, out, workers=workers, rules_path=rules, band=band, bootstrap=bootstrap,
                                  progress=lambda s: view.update(s.done, _sweep_status(s), total=s.total),
                                  command=_command_line())
    if figure is not None:  # the library fits; the plot room draws
        from scaling.plot.figures import save_figure
        from scaling.plot.tuning import tune_figure

        save_figure(tune_figure(result), figure)
    typer.echo("")
    typer.echo(f"{'budget':>8} {'runs':>4} {'band':>4} {'best lr':>9} {'best batch':>10} {'best loss':>9} "
               f"{'eta_opt(C)':>10} {'B_opt(C)':>9}")
    for row in optimum_table(result):
        typer.echo(f"{row['budget_flops']:>8.2g} {row['runs']:>4} {row['near_optimal_runs']:>4} {row['best_lr']:>9.3g} "
                   f"{row['best_batch_tokens']:>10.0f} {row['best_loss']:>9.4f} {row['eta_opt']:>10.3g} {row['B_opt']:>9.0f}")
    for label, rule in (("eta_opt", result.rules.lr), ("B_opt", result.rules.batch_tokens)):
        spans = "".join(f", {k} [{lo:.3g}, {hi:.3g}]" for k, (lo, hi) in rule.intervals.items())
        typer.echo(f"{label} = {rule.k:.4g} C^{rule.p:.4f}{spans}")
    for note in result.rules.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {rules_path}" + (f" and {figure}" if figure else "")
               + f"; use it with rules = \"rules:{rules_path}\"")
