"""`scaling predict FIT --params N --tokens D` (or `--csv FILE`): parse, call
`scaling.fit.prediction.predict_losses`, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scaling.cli._app import Format, app, examples, finite_range, positive_finite
from scaling.cli.render import Output, Table, quantity, show


@app.command("predict", epilog=examples(
    "scaling predict fit.json --params 1e9 --tokens 2e10",
    "scaling predict fit.json --csv pairs.csv --format csv",
))
def predict_command(
    fit: Annotated[Path, typer.Argument(help="A fit .json written by `scaling fit --out` (Approach 3 or Kaplan L(N, D)).")],
    params: Annotated[float | None, typer.Option(help="Parameters of the run to predict.", callback=positive_finite)] = None,
    tokens: Annotated[float | None, typer.Option(help="Training tokens of the run to predict.",
                                                 callback=positive_finite)] = None,
    csv: Annotated[Path | None, typer.Option(help="A CSV of runs to predict, columns params and tokens.")] = None,
    level: Annotated[float | None, typer.Option(help="Interval level, in [0.5, 0.999] (default: the fit's).",
                                                callback=finite_range(0.5, 0.999))] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """A fit's loss at (params, tokens), with the law's confidence interval and a new run's prediction interval."""
    # lazy: start-up speed (scipy and pandas load only when predicting)
    from scaling.fit.prediction import predict_losses, read_pairs
    from scaling.fit.result import FitResult

    if csv is not None and (params is not None or tokens is not None):
        raise ValueError("give --csv or --params with --tokens, not both")
    if csv is None and (params is None or tokens is None):
        raise ValueError("give --params and --tokens (or --csv FILE with columns params and tokens)")
    pairs = read_pairs(str(csv)) if csv is not None else ([params], [tokens])
    show(render_prediction(predict_losses(FitResult.read(fit), *pairs, level=level)), format)


def render_prediction(prediction: Any) -> Output:
    """One row per (params, tokens): loss, both intervals, decades past the data."""
    level = f"{100 * prediction.level:g}%"

    def span(interval: list[float] | None) -> str:
        return f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "-"

    rows = [[quantity(r.params), quantity(r.tokens), f"{r.flops:.3g}", f"{r.loss:.4g}", span(r.confidence_interval),
             span(r.prediction_interval), f"{r.decades_past_data:+.1f}"] for r in prediction.rows]
    table = Table(["params", "tokens", "flops", "loss", f"law {level} (confidence)", f"new run {level} (prediction)",
                   "decades past data"], rows, align="rrrr")
    records = [{"params": r.params, "tokens": r.tokens, "flops": r.flops, "loss": r.loss,
                "confidence_low": (r.confidence_interval or [None, None])[0],
                "confidence_high": (r.confidence_interval or [None, None])[1],
                "prediction_low": (r.prediction_interval or [None, None])[0],
                "prediction_high": (r.prediction_interval or [None, None])[1],
                "decades_past_data": r.decades_past_data, "level": prediction.level} for r in prediction.rows]
    return Output([table], notes=[f"predicted by {prediction.fit}", *prediction.notes], records=records,
                  document=prediction.to_document())
