"""`scaling fit-curve RUNS... --out FIT` (fit a loss-curve law to logged curves) and
`scaling predict-curve FIT --schedule S --steps T --lr PEAK` (or `--run DIR`): parse, call
`scaling.fit.curves`, render."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from scaling.atomic import check_target, write_atomic
from scaling.cli._app import Format, app, examples, finite_range, positive_finite, positive_int, resamples
from scaling.cli.render import Output, Table, show


class Split(str, Enum):
    """Which logged rows a curve law is fitted to (and scored on)."""

    train = "train"
    val = "val"


class CurveLaw(str, Enum):
    """The loss-curve laws `scaling fit-curve --law` fits (docs/curves.md says which to use when)."""

    momentum_curve = "momentum_curve"
    multi_power_curve = "multi_power_curve"


@app.command("fit-curve", epilog=examples(
    "scaling fit-curve runs/cpu-isoflop/008229a5f667 --out curve-fit.json",
    "scaling fit-curve runs/my-wsd-sweep --bootstrap 200 --format json",
    "scaling fit-curve runs/my-wsd-sweep --law multi_power_curve --out mpl-fit.json",
))
def fit_curve_command(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN_OR_SWEEP_DIR", help="Run directories, or sweep directories (their runs), of one "
                                                    "model on one data set.")],
    out: Annotated[Path | None, typer.Option(help="Write the FitResult JSON here (for `scaling predict-curve`).")] = None,
    law: Annotated[CurveLaw, typer.Option(help="momentum_curve (Tissue et al. 2024, 4 coefficients) or "
                                               "multi_power_curve (Luo et al. 2025, 7; needs curves with an "
                                               "LR decay).")] = CurveLaw.momentum_curve,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples of whole curves (0: none; an interval needs "
                                                "two curves or more).", callback=resamples)] = 0,
    level: Annotated[float, typer.Option(help="Interval level, in [0.5, 0.999].",
                                         callback=finite_range(0.5, 0.999))] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.", min=0, max=2**32 - 1)] = 0,
    split: Annotated[Split, typer.Option(help="Fit the logged train rows (many, each a log interval's mean) "
                                              "or the held-out val rows (few, on fixed windows).")] = Split.train,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Fit a loss-curve law (Tissue et al. 2024's, or Luo et al. 2025's multi-power law) to runs'
    logged train curves, whatever their schedules."""
    # lazy: start-up speed (scipy and pandas load only when fitting)
    from scaling.fit.curves import fit_run_curves

    if out is not None:  # before fitting
        check_target(out, argument="out", suffixes=(".json",))
    fit = fit_run_curves(list(runs), law=law.value, split=split.value, bootstrap=bootstrap, level=level, seed=seed)
    if out is not None:
        write_atomic(out, fit.to_json().encode())
    show(render_curve_fit(fit, out), format)


def render_curve_fit(fit: Any, out: Path | None) -> Output:
    """One row per coefficient: estimate and interval; notes on convergence, curves and the file."""
    level = f"{100 * fit.level:g}%"
    rows = [[name, f"{value:.5g}", "[{:.5g}, {:.5g}]".format(*fit.intervals[name]) if name in fit.intervals else "-"]
            for name, value in fit.coefficients.items()]
    notes = [f"{fit.law} fitted to {fit.n_points} logged {fit.options.get('split', 'train')} rows of "
             f"{fit.options.get('curves', '?')} curve(s)"
             f"{'' if fit.converged else '; NOT CONVERGED: ' + fit.message}"]
    notes += [f"not identifiable: {reason}" for reason in fit.not_identifiable]
    if out is not None:
        notes.append(f"wrote {out} (scaling predict-curve {out} ...)")
    records = [{"coefficient": name, "value": value, "low": (fit.intervals.get(name) or [None, None])[0],
                "high": (fit.intervals.get(name) or [None, None])[1]} for name, value in fit.coefficients.items()]
    return Output([Table(["coefficient", "value", f"{level} interval"], rows, align="lrr")], notes=notes,
                  records=records, document=fit.to_document())


@app.command("predict-curve", epilog=examples(
    "scaling predict-curve curve-fit.json --schedule wsd:cooldown_fraction=0.2 --steps 5000 --lr 3e-3",
    "scaling predict-curve curve-fit.json --run runs/train/0123456789ab --format json",
))
def predict_curve_command(
    fit: Annotated[Path, typer.Argument(help="A loss-curve fit .json (momentum_curve or multi_power_curve; "
                                                   "`scaling fit-curve --out`).")],
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
    """A curve law's loss along a schedule, or a run's estimated final loss, its drift from the law and
    the law's errors on it (final loss, mean over the logged rows)."""
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
        notes.append(f"held out: final {prediction.final_split} loss at step {prediction.final_step} "
                     f"{prediction.final_observed:.4g}, law {prediction.final_predicted:.4g} "
                     f"({100 * prediction.final_error:+.2f}%)")
        if prediction.mean_relative_error is not None:
            scatter = (f" (the rows' own scatter: {100 * prediction.row_scatter:.2f}%)"
                       if prediction.row_scatter is not None else "")
            notes.append(f"held out: mean relative error {100 * prediction.mean_relative_error:.2f}% over "
                         f"{prediction.error_rows} logged {prediction.final_split} rows after warmup{scatter}")
    records = [{"step": p.step, "loss": p.loss, "low": (p.interval or [None, None])[0],
                "high": (p.interval or [None, None])[1], "level": prediction.level} for p in prediction.points]
    return Output([table], notes=[*notes, *prediction.notes], records=records, document=prediction.to_document())
