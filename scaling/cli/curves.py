"""`scaling predict-curve FIT --schedule S --steps T --lr PEAK` (or `--run DIR`): parse, call
`scaling.fit.curves.predict_curve`, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scaling.cli._app import Format, app, examples, finite_range, positive_finite, positive_int
from scaling.cli.render import Output, Table, show


@app.command("predict-curve", epilog=examples(
    "scaling predict-curve curve-fit.json --schedule wsd:cooldown_fraction=0.2 --steps 5000 --lr 3e-3",
    "scaling predict-curve curve-fit.json --run runs/train/0123456789ab --format json",
))
def predict_curve_command(
    fit: Annotated[Path, typer.Argument(help="A loss-curve fit .json (law momentum_curve; scaling.fit.engine.fit_curves).")],
    schedule: Annotated[str | None, typer.Option(help="Planned schedule: cosine, wsd, stepped or constant, with shape "
                                                      "fields after a colon (docs/curves.md).")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps of the planned run (with --run: instead of "
                                                   "the run's own).", callback=positive_int)] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate of the planned run.",
                                             callback=positive_finite)] = None,
    warmup_steps: Annotated[int, typer.Option(help="Linear warmup steps of the planned run.", min=0)] = 0,
    run: Annotated[Path | None, typer.Option(help="A run directory: predict along its schedule and compare its "
                                                  "logged curve.")] = None,
    points: Annotated[int, typer.Option(help="Steps listed along the curve.", min=1, max=1000)] = 10,
    level: Annotated[float | None, typer.Option(help="Interval level, in [0.5, 0.999] (default: the fit's).",
                                                callback=finite_range(0.5, 0.999))] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """A curve law's loss along a schedule, or a run's estimated final loss and its drift from the law."""
    # lazy: start-up speed (scipy and pandas load only when predicting)
    from scaling.fit.curves import predict_curve
    from scaling.fit.result import FitResult

    prediction = predict_curve(FitResult.read(fit), schedule=schedule, steps=steps, peak_lr=lr,
                               warmup_steps=warmup_steps, run_dir=run, points=points, level=level)
    show(render_curve(prediction), format)


def render_curve(prediction: Any) -> Output:
    """One row per listed step: loss and interval; notes for the final loss and a run's drift."""
    level = f"{100 * prediction.level:g}%"

    def span(interval: list[float] | None) -> str:
        return f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "-"

    rows = [[str(p.step), f"{p.loss:.4g}", span(p.interval)] for p in prediction.points]
    table = Table(["step", "loss", f"{level} interval"], rows, align="rrr")
    notes = [f"{prediction.schedule} over {prediction.steps} steps, peak LR {prediction.peak_lr:.4g}, "
             f"warmup {prediction.warmup_steps}; predicted by {prediction.fit}",
             f"final loss {prediction.final_loss:.4g} {span(prediction.final_interval)}"]
    if prediction.run is not None and prediction.drift is not None:
        notes.append(f"run {prediction.run}: step {prediction.observed_steps}, loss {prediction.observed_loss:.4g}, "
                     f"drift {100 * prediction.drift:+.2f}% from the law")
    records = [{"step": p.step, "loss": p.loss, "low": (p.interval or [None, None])[0],
                "high": (p.interval or [None, None])[1], "level": prediction.level} for p in prediction.points]
    return Output([table], notes=[*notes, *prediction.notes], records=records, document=prediction.to_document())
