"""`FitResult`: a fitted law with its uncertainty, diagnostics and a versioned JSON form.

It implements `LawEstimate` (scaling.laws.base), so `scaling plan --law fit.json` uses a fit
wherever a published preset goes. Intervals are percentile intervals over bootstrap draws,
which are kept, so intervals at any budget (N_opt(C), D_opt(C), loss at the optimum) come
from the same draws.

References:
    Efron & Tibshirani 1993, "An Introduction to the Bootstrap", Ch. 13 (percentile interval);
    Hoffmann et al. 2022, Eq. 4 (derived a, b); Besiroglu et al. 2024, Sec. 4 (bootstrap over runs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from scaling.document import Document
from scaling.fit.fitfile import FitFileError, READABLE_SCHEMAS, SCHEMA, parse_fit_document, read_fit_text
from scaling.laws.base import Array, LawEstimate
from scaling.laws.presets import get_preset
from scaling.laws.registry import get_law

_EXPONENT_BUDGETS = np.array([1e20, 1e22])  # any two budgets: the allocations are power laws


class FitWarning(UserWarning):
    """A fit that did not converge, or whose uncertainty could not be estimated."""


EXTRAPOLATION_DECADES = 2.0
"""A budget more than this many decades of FLOPs past the largest run fitted gets a note: the
Chinchilla fits extrapolated about 1.5-2 decades (Hoffmann et al. 2022, Sec. 3.4), and a
back-test of the shipped Porian runs (`scaling backtest`) shows errors growing past that."""


def extrapolation_note(flops: float, top: float) -> str | None:
    """The note for a budget `flops` more than EXTRAPOLATION_DECADES past `top`, the largest run
    fitted; None within them."""
    decades = math.log10(flops / top)
    if decades <= EXTRAPOLATION_DECADES:
        return None
    return (f"C {flops:.3g} is {decades:.1f} decades past the largest run fitted ({top:.3g} FLOPs): an extrapolation "
            f"(more than {EXTRAPOLATION_DECADES:g} decades); treat its optimum as a guess")


@dataclass(frozen=True, kw_only=True)
class FitResult(Document):
    """A fitted law: coefficients, uncertainty, convergence and the data it came from."""

    SCHEMA: ClassVar[str] = SCHEMA

    law: str
    """Registry key of the functional form ("chinchilla", "kaplan_nd", "power_allocation")."""
    coefficients: dict[str, float]
    """Point estimate, paper spelling (E, A, B, alpha, beta; N_c, alpha_N; k, a)."""
    converged: bool
    """False when the optimiser did not converge (a FitWarning was raised too)."""
    message: str
    """The solver's message, verbatim."""
    n_points: int
    """Runs (or budgets) fitted."""
    data_digest: str
    """sha256 of the fitted rows."""
    approach: str | None = None
    """The approach registry's name for the fit ("1", "2", "3", "kaplan": scaling.fit.approaches);
    None for a fit made outside the registry (`fit_law` called directly)."""
    objective: float | None = None
    """Summed Huber value at the optimum in the optimiser's (LSE) coordinates; None for OLS fits."""
    edge_of_grid: list[str] = field(default_factory=list)
    """Coefficients whose optimum lies outside the starting grid's span."""
    derived: dict[str, float] = field(default_factory=dict)
    """a, b with N_opt ~ C^a and D_opt ~ C^b, where the law allocates compute."""
    stderr: dict[str, float] | None = None
    """Bootstrap standard deviations; None when not estimated (never NaN)."""
    cov: list[list[float]] | None = None
    """Bootstrap covariance in `coefficients` order; None when not estimated."""
    uncertainty: str = "none"
    """"bootstrap(n=1000, seed=0)" or "none"."""
    level: float = 0.95
    """Level of `intervals` (two-sided, percentile)."""
    intervals: dict[str, list[float]] = field(default_factory=dict)
    """[low, high] for each coefficient and derived quantity."""
    samples: dict[str, list[float]] | None = None
    """Bootstrap draws of each coefficient and derived quantity (failed resamples removed)."""
    params_convention: str = "total"
    """"total" or "non-embedding": which parameter count the fit used."""
    optima: list[dict[str, float]] = field(default_factory=list)
    """Approaches 1 and 2: the per-budget optima the power laws were fitted to."""
    not_identifiable: list[str] = field(default_factory=list)
    """Why the data cannot determine the coefficients ([] when it can; see scaling.fit.identify)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Everything needed to refit: delta, tie, fix, dropped runs, starts."""
    data_range: dict[str, list[float]] = field(default_factory=dict)
    """[min, max] of params, tokens, flops and loss over the runs fitted (how far a plan extrapolates)."""
    columns: dict[str, str] = field(default_factory=dict)
    """Runs-table name -> source column the runs were read with (`--column`)."""
    where: list[str] = field(default_factory=list)
    """Row filters the runs were read with (`--where`)."""
    flops_convention: str = "6ND"
    """What C means in this fit's allocation: "6ND" (C = 6 N D from each run's params and tokens)
    or "column" (the runs' own flops column, D_opt read from their tokens)."""
    flops_ratio: dict[str, float] = field(default_factory=dict)
    """min, median, max of the runs' flops column over 6 N D ({} when not checked)."""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    """Bootstrap diagnostics (degenerate resamples, draws at a bound) and the misspecification
    check of the residuals; {} when none were computed."""
    residuals: dict[str, Any] | None = None
    """Residual model for prediction intervals of a new run (log-loss residual scale, per-budget
    block resamples); None for fits that do not predict loss."""

    @classmethod
    def build(cls, *, coefficients: Mapping[str, float], samples: Mapping[str, Array] | Array | None = None,
              derived: Mapping[str, float] | None = None, level: float = 0.95, **kwargs: Any) -> FitResult:
        """Assemble a result: derive a, b; turn draws (dict, or rows in coefficient order) into intervals."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        law = get_law(kwargs["law"])
        coefficients = {k: float(v) for k, v in coefficients.items()}
        derived = dict(derived) if derived is not None else allocation_exponents(law.name, coefficients)
        draws: dict[str, Array] | None = None
        if samples is not None:
            if not isinstance(samples, Mapping):
                samples = dict(zip(law.param_names, np.asarray(samples, dtype=float).T))
            draws = {k: np.asarray(v, dtype=float) for k, v in samples.items()}
            if derived and not set(derived) <= set(draws):
                draws.update(allocation_exponents(law.name, {k: draws[k][:, None] for k in law.param_names}))
        extra: dict[str, Any] = {}
        if draws is not None and len(next(iter(draws.values()))) >= 2:
            names = list(coefficients)
            stacked = np.column_stack([draws[k] for k in names])
            extra = {"stderr": dict(zip(names, stacked.std(axis=0, ddof=1).tolist())),
                     "cov": np.atleast_2d(np.cov(stacked, rowvar=False)).tolist(),
                     "intervals": {k: percentile_interval(v, level) for k, v in draws.items()},
                     "samples": {k: v.tolist() for k, v in draws.items()}}
        return cls(coefficients=coefficients, derived={k: float(v) for k, v in derived.items()},
                   level=level, **extra, **kwargs)

    # LawEstimate protocol -------------------------------------------------------------------
    @property
    def label(self) -> str:
        return f"fit:{self.law}@{self.data_digest[:8]}"

    @property
    def predicts_loss(self) -> bool:
        return get_law(self.law).predicts_loss

    def predict(self, params: npt.ArrayLike, tokens: npt.ArrayLike) -> Array:
        """Loss (nats/token) at (params, tokens), flops = 6 params tokens where the law reads C."""
        return _predict(self.law, self.coefficients, params, tokens)

    def optimal(self, flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Compute-optimal (params, tokens) for training FLOPs `flops`."""
        return get_law(self.law).optimal(self.coefficients, flops)

    # Uncertainty ----------------------------------------------------------------------------
    def draws(self) -> dict[str, Array]:
        """Bootstrap coefficient draws as arrays of shape (K, 1) (ValueError without bootstrap)."""
        if not self.samples:
            raise ValueError("this fit has no bootstrap draws; refit with bootstrap > 0")
        return {k: np.asarray(self.samples[k], dtype=float)[:, None] for k in self.coefficients}

    def predict_interval(self, params: npt.ArrayLike, tokens: npt.ArrayLike,
                         level: float | None = None) -> tuple[Array, Array]:
        """Percentile interval of the predicted loss over the bootstrap draws."""
        values = _predict(self.law, self.draws(), params, tokens)
        return interval_rows(values, level or self.level)

    def optimal_interval(self, flops: npt.ArrayLike, level: float | None = None) -> dict[str, tuple[Array, Array]]:
        """Percentile intervals of N_opt(C), D_opt(C) and, if the law predicts one, the loss there."""
        level = level or self.level
        draws = self.draws()
        with np.errstate(divide="ignore", over="ignore"):  # extreme draws overflow: handled below
            params, tokens = get_law(self.law).optimal(draws, np.atleast_1d(np.asarray(flops, dtype=float)))
        out = {"params": interval_rows(params, level), "tokens": interval_rows(tokens, level)}
        if self.predicts_loss:
            # A draw whose optimum overflowed (N or D of 0 or inf, e.g. an exponent near 0) has
            # an unbounded loss there: kept as +inf so the interval says so, never dropped.
            valid = np.isfinite(params) & np.isfinite(tokens) & (params > 0) & (tokens > 0)
            safe = _predict(self.law, draws, np.where(valid, params, 1.0), np.where(valid, tokens, 1.0))
            out["loss"] = interval_rows(np.where(valid, safe, np.inf), level)
        return out

    # JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The body of the JSON document: "law", "approach", "coefficients", the derived a and b
        at the top level (their names listed under "derived"), then the other fields."""
        body = asdict(self)
        derived = body.pop("derived")
        head = {"law": body.pop("law"), "approach": body.pop("approach"), "coefficients": body.pop("coefficients"),
                **derived, "objective": body.pop("objective"), "converged": body.pop("converged")}
        return {**head, "derived": list(derived), **body}

    @staticmethod
    def _frame_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
        """`to_frame()` rows: one per coefficient and derived quantity, with stderr and interval."""
        stderr = document["stderr"] or {}
        values = {**document["coefficients"], **{name: document[name] for name in document["derived"]}}
        return [{"law": document["law"], "approach": document["approach"], "coefficient": name, "estimate": value,
                 "stderr": stderr.get(name), "estimate_interval": document["intervals"].get(name),
                 "interval_level": document["level"] if name in document["intervals"] else None}
                for name, value in values.items()]

    @classmethod
    def from_json(cls, text: str, source: str = "fit") -> FitResult:
        """Read `to_json` output; every key, type and range is validated first (a ValueError,
        `scaling.fit.fitfile.FitFileError`, names `source` and the field)."""
        data = parse_fit_document(text, source)
        data.pop("schema")  # older schemas lack fields added since: their defaults (fitfile.READABLE_SCHEMAS)
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "fit") -> FitResult:
        """Read `to_dict` output (FitFileError, a ValueError, on unknown fields)."""
        data = dict(data)
        derived = {name: data.pop(name) for name in data.pop("derived", [])}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FitFileError(f"{source}: unexpected fields {', '.join(sorted(unknown))}")
        return cls(derived=derived, **data)

    @classmethod
    def read(cls, path: str | Path) -> FitResult:
        """A fit file written by `scaling fit --out` (FitFileError naming the file and field)."""
        return cls.from_json(read_fit_text(Path(path)), str(path))


def allocation_exponents(law_name: str, coefficients: Mapping[str, Any]) -> dict[str, Any]:
    """a, b with N_opt ~ C^a, D_opt ~ C^b, from the law's optimum at two budgets ({} if none).

    For Chinchilla this is a = beta/(alpha+beta), b = alpha/(alpha+beta) (Hoffmann et al. 2022,
    Eq. 4); the log-slope is exact for any power-law allocation.
    """
    law = get_law(law_name)
    try:
        with np.errstate(divide="ignore", over="ignore"):  # extreme bootstrap draws overflow: a = nan
            params, tokens = law.optimal(coefficients, _EXPONENT_BUDGETS)
    except TypeError:
        return {}
    span = math.log(_EXPONENT_BUDGETS[1] / _EXPONENT_BUDGETS[0])
    with np.errstate(all="ignore"):
        a = np.log(params[..., 1] / params[..., 0]) / span
        b = np.log(tokens[..., 1] / tokens[..., 0]) / span
    return {"a": a, "b": b}


def percentile_interval(values: npt.ArrayLike, level: float) -> list[float]:
    """[low, high] percentile interval at `level` (Efron & Tibshirani 1993, Ch. 13)."""
    low, high = np.nanpercentile(np.asarray(values, dtype=float), [50 * (1 - level), 50 * (1 + level)])
    return [float(low), float(high)]


def interval_rows(values: Array, level: float) -> tuple[Array, Array]:
    """Percentile interval over axis 0 of draws (K, ...), +inf draws kept as unbounded."""
    # numpy interpolates inf - inf to nan, so +inf (an unbounded draw) is held at the largest
    # float while the percentiles are taken and restored afterwards.
    big = np.finfo(float).max
    low, high = np.nanpercentile(np.where(np.isposinf(values), big, values),
                                 [50 * (1 - level), 50 * (1 + level)], axis=0)
    return np.where(low >= big / 2, np.inf, low), np.where(high >= big / 2, np.inf, high)


def _predict(law_name: str, coefficients: Mapping[str, Any], params: npt.ArrayLike, tokens: npt.ArrayLike) -> Array:
    N = np.asarray(params, dtype=float)
    D = np.asarray(tokens, dtype=float)
    return get_law(law_name).predict(coefficients, params=N, tokens=D, flops=6.0 * N * D)


def resolve_law(name_or_path: str) -> LawEstimate:
    """A published preset by name, or a fitted law from a `scaling fit` JSON file (a path ending in
    .json): FitResult implements LawEstimate, so a fit plugs in wherever a preset does."""
    if name_or_path.endswith(".json"):
        return FitResult.read(Path(name_or_path))
    return get_preset(name_or_path)
