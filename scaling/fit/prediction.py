"""`scaling predict`: a fit's loss at given (params, tokens), with the confidence interval of the
law and the prediction interval of a new run (scaling.fit.calibration).

References:
    Efron & Tibshirani 1993, Ch. 13 (percentile confidence interval); see scaling.fit.calibration
    for the prediction interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from scaling.document import Document
from scaling.fit.calibration import confidence_interval, prediction_interval
from scaling.fit.result import EXTRAPOLATION_DECADES, FitResult
from scaling.laws.registry import get_law
from scaling.runs import numeric_column, read_table


@dataclass(frozen=True, kw_only=True)
class PredictionRow:
    """The predicted loss of one (params, tokens)."""

    params: float
    tokens: float
    flops: float
    """6 N D."""
    loss: float
    """The law's loss there (nats/token on the fit's own data)."""
    confidence_interval: list[float] | None
    """Where the law's curve lies (bootstrap percentiles); None without draws."""
    prediction_interval: list[float] | None
    """Where a new run's loss lies; None when the fit has no residual model."""
    decades_past_data: float
    """log10(flops / the largest budget fitted); <= 0 inside the data."""


@dataclass(frozen=True, kw_only=True)
class Prediction(Document):
    """Losses predicted by one fit, with both intervals, and notes."""

    SCHEMA: ClassVar[str] = "scaling.Prediction/1"

    fit: str
    """The fit's label (law and data digest)."""
    level: float
    rows: list[PredictionRow]
    notes: list[str]


def predict_losses(fit: FitResult, params: Any, tokens: Any, level: float | None = None) -> Prediction:
    """The loss `fit` predicts at each (params, tokens) pair, with its intervals (ValueError for
    a fit that predicts no loss from N and D, or bad values)."""
    law = get_law(fit.law)
    if not law.predicts_loss or not {"params", "tokens"} <= set(law.inputs):
        raise ValueError(f"{fit.label} ({fit.law}) does not predict loss from params and tokens; "
                         "predict needs an Approach 3 or Kaplan L(N, D) fit")
    params, tokens = np.atleast_1d(np.asarray(params, dtype=float)), np.atleast_1d(np.asarray(tokens, dtype=float))
    if params.shape != tokens.shape:
        raise ValueError(f"params and tokens differ in length ({params.size} and {tokens.size})")
    for name, values in (("params", params), ("tokens", tokens)):
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"{name} must be positive finite numbers")
    level = level or fit.level
    loss = fit.predict(params, tokens)
    confidence = confidence_interval(fit, params, tokens, level)
    predicted = prediction_interval(fit, params, tokens, level) if fit.residuals else None
    top = fit.residuals["largest_flops"] if fit.residuals else fit.data_range.get("flops", [None, None])[1]
    flops = 6.0 * params * tokens
    rows = [PredictionRow(params=float(params[i]), tokens=float(tokens[i]), flops=float(flops[i]), loss=float(loss[i]),
                          confidence_interval=[float(confidence[0][i]), float(confidence[1][i])] if confidence else None,
                          prediction_interval=[float(predicted[0][i]), float(predicted[1][i])] if predicted else None,
                          decades_past_data=float(math.log10(flops[i] / top)) if top else 0.0)
            for i in range(params.size)]
    notes = []
    if confidence is None:
        notes.append("no confidence interval: the fit has no bootstrap draws (scaling fit --bootstrap K)")
    if predicted is None:
        notes.append("no prediction interval: the fit has no residual model (refit it with this version)")
    elif fit.residuals.get("misspecified"):
        notes.append("the fit's residuals are structured by budget or size: the form misfits its runs, and the "
                     "prediction interval carries that misfit")
    far = [row for row in rows if row.decades_past_data > EXTRAPOLATION_DECADES]
    if far:
        notes.append(f"{len(far)} of {len(rows)} predictions are more than {EXTRAPOLATION_DECADES:g} decades of FLOPs "
                     "past the largest run fitted: extrapolations")
    return Prediction(fit=fit.label, level=level, rows=rows, notes=notes)


MAX_PAIRS = 100_000
"""Most (params, tokens) pairs one `read_pairs` file may hold, checked before any prediction."""


def read_pairs(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(params, tokens) from a CSV with those columns (ValueError naming the file and column)."""
    if not str(path).endswith(".csv"):
        raise ValueError(f"{path}: expected a .csv file with columns params and tokens")
    table = read_table(Path(path))  # bounded in size and width, errors name the file
    if len(table) > MAX_PAIRS:
        raise ValueError(f"{path}: {len(table):,} rows, more than the {MAX_PAIRS:,} one prediction file may hold")
    missing = [c for c in ("params", "tokens") if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column {', '.join(missing)}; need params and tokens")
    values = [numeric_column(table, c).to_numpy(float) for c in ("params", "tokens")]
    for name, column in zip(("params", "tokens"), values):
        if not np.all(np.isfinite(column) & (column > 0)):
            raise ValueError(f"{path}: column {name} has missing, non-numeric or non-positive values")
    return values[0], values[1]
