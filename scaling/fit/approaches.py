"""The approach registry and the one preparation step every fit of runs goes through.

`prepare(source)` turns a source (a sweep directory, a CSV/parquet file, a built-in data set,
a DataFrame) into `Prepared`: the runs table in one parameter convention with seeds of one
configuration averaged (`scaling.runs.average_seeds`), and the per-step curves where the source
has them. Decided here, once, for `scaling fit`, the plots, the back-test, the notebooks and
the study scripts:

- curves: the TRAINING-loss curves (`CURVE_SPLIT`), as Hoffmann et al. 2022 (App. D.1) smooth
  the training loss; held-out evaluations are too sparse (a few per run) for an envelope;
- edge optima: a budget whose lowest loss is at the smallest or largest size sampled is left
  out of every power law and of Kaplan's L(C) frontier (`isoflop.interior_optima`);
- parameters: "total" or Kaplan's "non-embedding" count, with C = 6 N D recomputed for it.

`APPROACHES` maps a name to its fit: "1" the envelope of training curves (`fit_envelope`), "2"
IsoFLOP profiles (`fit_isoflop`), "3" Chinchilla's parametric fit (`fit_law("chinchilla")`),
"kaplan" Kaplan's joint law L(N, D) plus the compute frontier L(C) through the per-budget
minima. `fit_approach` stamps the registry's name on every result it returns.

References:
    Hoffmann et al. 2022, Sec. 3.1-3.3 and App. D.1; Kaplan et al. 2020, Sec. 2.1, Eq. 1.3, 1.5.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scaling.fit.calibration import residual_model, warn_misfit
from scaling.fit.convention import check_flops
from scaling.fit.engine import fit_law
from scaling.fit.resampling import check_resamples
from scaling.fit.envelope import fit_envelope
from scaling.fit.identify import NotIdentifiable
from scaling.fit.isoflop import fit_isoflop, interior_optima, isoflop_optima
from scaling.fit.names import CHOICES
from scaling.fit.result import FitResult, interval_rows
from scaling.laws.registry import get_law
from scaling.atomic import write_json
from scaling.runs import RunsSource, average_seeds, read_curves, read_runs

logger = logging.getLogger(__name__)

CURVE_SPLIT = "train"
"""Which curves Approach 1 reads (see the module docstring)."""
CONVENTIONS = {"params": "total", "params_nonembedding": "non-embedding"}
"""`params_column` -> the `params_convention` a result records."""


@dataclass(frozen=True)
class Prepared:
    """Runs ready for every approach: one row per configuration, one parameter convention."""

    runs: pd.DataFrame
    """One row per configuration (seeds averaged, `n_seeds` where several)."""
    all_runs: pd.DataFrame
    """Every run, seeds apart (plots draw them faint)."""
    curves: pd.DataFrame | None
    """Per-step training curves (run_id, params, tokens, flops, loss, replicate), or None."""
    params_convention: str = "total"
    columns: dict[str, str] = field(default_factory=dict)
    """Runs-table name -> source column the runs were read with."""
    where: tuple[str, ...] = ()
    """Row filters the runs were read with."""
    flops_ratio: dict[str, float] = field(default_factory=dict)
    """min, median, max of the source's flops / (6 N D) (scaling.fit.convention)."""

    def data_range(self) -> dict[str, list[float]]:
        """[min, max] of params, tokens, flops and loss over the runs table."""
        return {name: [float(self.runs[name].min()), float(self.runs[name].max())]
                for name in ("params", "tokens", "flops", "loss")}

    def subset(self, run_ids: Sequence[str]) -> Prepared:
        """The same preparation restricted to the runs `run_ids` (a back-test's fitted runs)."""
        keep = {str(r) for r in run_ids}

        def rows(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["run_id"].astype(str).isin(keep)].reset_index(drop=True)

        all_runs = rows(self.all_runs)
        return replace(self, all_runs=all_runs, runs=average_seeds(all_runs),
                       curves=None if self.curves is None else rows(self.curves))


def prepare(source: RunsSource | Prepared, *, columns: Mapping[str, str] | None = None,
            drop_invalid: bool = False, params_column: str = "params", where: Sequence[str] = ()) -> Prepared:
    """Read `source` once for every approach (see the module docstring for what is decided);
    `columns` and `where` as `scaling.runs.read_runs` takes them, recorded in every fit."""
    if isinstance(source, Prepared):
        return source
    if params_column not in CONVENTIONS:
        raise ValueError(f"params_column must be 'params' or 'params_nonembedding', got {params_column!r}")
    runs, curves = _read(source, columns, drop_invalid, tuple(where))
    ratio = check_flops(runs)  # the source's own column, before any convention recomputes it
    if params_column == "params_nonembedding":
        runs, curves = _non_embedding(runs, curves)
    return Prepared(runs=average_seeds(runs), all_runs=runs, curves=curves,
                    params_convention=CONVENTIONS[params_column], columns=dict(columns or {}), where=tuple(where),
                    flops_ratio=ratio)


@dataclass(frozen=True)
class Approach:
    """One way of fitting runs: its name and one fit per result it returns."""

    name: str
    title: str
    fits: dict[str, Callable[..., FitResult]]
    """Result key -> (prepared, bootstrap=, level=, seed=, n_jobs=, **options) -> FitResult."""
    options: tuple[str, ...]
    """The options it takes (LAW_OPTIONS for the parametric fits, ISOFLOP_OPTIONS for Approach 2)."""


def _envelope(prepared: Prepared, *, bootstrap: int, level: float, seed: int, n_jobs: int | None,
              **law_options: Any) -> FitResult:
    if prepared.curves is None:
        raise ValueError("Approach 1 needs per-step curves (a sweep directory, or several rows per run_id); "
                         "these runs have one final loss each")
    return fit_envelope(prepared.curves, bootstrap=bootstrap, level=level, seed=seed)


def _isoflop(prepared: Prepared, *, bootstrap: int, level: float, seed: int, n_jobs: int | None,
             **options: Any) -> FitResult:
    return fit_isoflop(prepared.runs, bootstrap=bootstrap, level=level, seed=seed, **options)


def _parametric(law: str) -> Callable[..., FitResult]:
    def fit(prepared: Prepared, **options: Any) -> FitResult:
        return fit_law(law, prepared.runs, **options)
    return fit


def with_residuals(result: FitResult, prepared: Prepared, options: Mapping[str, Any]) -> FitResult:
    """`result` with its residual model (scaling.fit.calibration) on the runs it fitted, the
    error growth measured by leave-future-out refits under the same objective options, and a
    FitWarning when the residuals are structured."""
    runs = prepared.runs[~prepared.runs["run_id"].isin(result.options.get("dropped_runs", []))]
    same = {k: options[k] for k in ("delta", "tie", "fix", "objective") if k in options}
    model = residual_model(result, runs.reset_index(drop=True),
                           refit=functools.partial(_forward_refit, result.law, same), level=result.level)
    warn_misfit(f"{result.law} fit", model)
    return replace(result, residuals=model)


def _forward_refit(law: str, options: dict[str, Any], runs: pd.DataFrame) -> FitResult:
    return fit_law(law, runs, n_polish=4, **options)  # 4 polished starts: these refits only measure errors


def _frontier(prepared: Prepared, *, bootstrap: int, level: float, seed: int, n_jobs: int | None,
              **law_options: Any) -> FitResult:
    return fit_frontier(isoflop_optima(prepared.runs), bootstrap=bootstrap, level=level, seed=seed, n_jobs=n_jobs)


def fit_frontier(optima: Sequence[Mapping[str, Any]], **options: Any) -> FitResult:
    """Kaplan's compute frontier L(C) = (C_c / C)^alpha_C (Kaplan et al. 2020, Eq. 1.3) through
    the interior per-budget minima (edge minima are left out, as for the power laws)."""
    interior = interior_optima(list(optima))
    if len(interior) < 3:
        raise NotIdentifiable(f"the compute frontier L(C) needs IsoFLOP profiles (3 or more sizes at one budget, "
                              f"minimum inside them) at 3 or more budgets; these runs have {len(interior)}")
    frontier = pd.DataFrame(interior)[["params", "tokens", "flops", "loss"]]
    return fit_law("kaplan_c", frontier, **options)


LAW_OPTIONS = ("fix", "drop_highest", "tie", "delta", "objective")
"""Options of the parametric fits (scaling.fit.engine.fit_law)."""
ISOFLOP_OPTIONS = ("window", "fit_in", "round_budgets", "flops_convention")
"""Options of Approach 2 (scaling.fit.isoflop.fit_isoflop)."""
APPROACHES: dict[str, Approach] = {
    "1": Approach("1", "Chinchilla Approach 1: envelope of training curves", {"approach_1": _envelope}, ()),
    "2": Approach("2", "Chinchilla Approach 2: IsoFLOP profiles", {"approach_2": _isoflop}, ISOFLOP_OPTIONS),
    "3": Approach("3", "Chinchilla Approach 3: parametric L(N, D)", {"approach_3": _parametric("chinchilla")},
                  LAW_OPTIONS),
    "kaplan": Approach("kaplan", "Kaplan et al. 2020: L(N, D) and the frontier L(C)",
                       {"kaplan_nd": _parametric("kaplan_nd"), "kaplan_c": _frontier}, LAW_OPTIONS),
}
_FITS_RUNS_TABLE = ("approach_2", "approach_3", "kaplan_nd")
"""Results whose n_points counts the runs table's configurations (the others count curves or minima)."""
_LAW_OPTIONS_OF = {"kaplan_c": ()}
"""Keys of a parametric approach that take none of its law options (the frontier fits budget minima)."""


def fit_approach(name: str, source: RunsSource | Prepared, *, bootstrap: int = 0, level: float = 0.95, seed: int = 0,
                 n_jobs: int | None = None, skipped: list[str] | None = None, residuals: bool = False,
                 **law_options: Any) -> dict[str, FitResult]:
    """Fit `source` by the registered approach `name`; every result carries `approach=name`.
    `residuals` adds the residual model (prediction intervals) to the fits of a loss law of N
    and D (`with_residuals`: a few refits more; `fit_runs`, what `scaling fit` calls, asks for it).

    An approach with several results (kaplan) keeps those that fit and notes the others in
    `skipped` ("kaplan_c: ..."); ValueError when none fits, or when a one-result approach fails.
    """
    if name not in APPROACHES:
        raise ValueError(f"approach must be one of {', '.join(CHOICES)}, got {name!r}")
    approach = APPROACHES[name]
    prepared = prepare(source, params_column=law_options.pop("params_column", "params"))
    foreign = sorted(set(law_options) - set(approach.options))
    if foreign:
        takers = sorted({a.name for a in APPROACHES.values() if set(foreign) & set(a.options)})
        raise ValueError(f"{', '.join(foreign)} apply to approach{'es' if len(takers) > 1 else ''} "
                         f"{' and '.join(takers)} only, not approach {name}")
    boot = {"bootstrap": bootstrap, "level": level, "seed": seed, "n_jobs": n_jobs}
    averaged = len(prepared.runs) < len(prepared.all_runs)
    results: dict[str, FitResult] = {}
    notes: list[str] = []
    for key, fit in approach.fits.items():
        options = {k: v for k, v in law_options.items() if k in _LAW_OPTIONS_OF.get(key, law_options)}
        try:
            result = fit(prepared, **boot, **options)
        except ValueError as exc:
            if len(approach.fits) == 1:
                raise
            notes.append(f"{key}: {exc}")
            logger.info("skipped %s: %s", key, exc)
            continue
        if residuals and key in _FITS_RUNS_TABLE and result.predicts_loss:
            result = with_residuals(result, prepared, options)
        extra = {"seeds_averaged": f"{len(prepared.all_runs)} runs"} if averaged and key in _FITS_RUNS_TABLE else {}
        results[key] = replace(result, approach=name, params_convention=prepared.params_convention,
                               options={**result.options, **extra}, data_range=prepared.data_range(),
                               columns=prepared.columns, where=list(prepared.where),
                               flops_ratio=prepared.flops_ratio)
    if not results:
        raise ValueError(f"approach {name} could not be fitted: {'; '.join(notes)}")
    if skipped is not None:
        skipped.extend(notes)
    return results


def fit_runs(source: RunsSource | Prepared, approach: str = "3", *, columns: Mapping[str, str] | None = None,
             drop_invalid: bool = False, where: Sequence[str] = (), bootstrap: int = 0, level: float = 0.95,
             seed: int = 0, n_jobs: int | None = None, **law_options: Any) -> tuple[dict[str, FitResult], list[str]]:
    """Fit `source` by `approach` (a registry name or "all"); returns {key: FitResult} and notes
    on what was skipped ("1: ...", "kaplan_c: ..."). Keys: "approach_1", "approach_2",
    "approach_3", "kaplan_nd", "kaplan_c". `law_options` go to the approaches that take them
    (LAW_OPTIONS to the parametric fits, ISOFLOP_OPTIONS to Approach 2); `params_column` chooses the parameter convention for every approach."""
    if approach not in CHOICES:
        raise ValueError(f"approach must be one of {', '.join(CHOICES)}, got {approach!r}")
    check_resamples(bootstrap, level)  # before reading the runs: a refusal costs nothing
    prepared = prepare(source, columns=columns, drop_invalid=drop_invalid, where=where,
                       params_column=law_options.pop("params_column", "params"))
    wanted = tuple(APPROACHES) if approach == "all" else (approach,)
    boot = {"bootstrap": bootstrap, "level": level, "seed": seed, "n_jobs": n_jobs}
    results: dict[str, FitResult] = {}
    skipped: list[str] = []
    for name in wanted:
        # One approach gets every option (fit_approach refuses a foreign one); "all" gives each its own.
        options = law_options if approach != "all" else {k: v for k, v in law_options.items()
                                                          if k in APPROACHES[name].options}
        try:
            results.update(fit_approach(name, prepared, **boot, skipped=skipped, residuals=True, **options))
        except ValueError as exc:
            if approach != "all":
                raise
            skipped.append(f"{name}: {exc}")
            logger.info("skipped approach %s: %s", name, exc)
    if not results:
        raise ValueError(f"no approach could be fitted: {'; '.join(skipped)}")
    return results, skipped


def _non_embedding(runs: pd.DataFrame, curves: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Runs and curves in Kaplan's convention: N = non-embedding parameters and C = 6 N D.

    Kaplan et al. 2020, Sec. 2.1 count both without embeddings; Pearce & Song 2024 show this
    convention, at small scale, pulls the fitted exponent toward Kaplan's. Budgets keep their
    sweep labels (`budget_flops`) so IsoFLOP profiles stay grouped as they were run.
    """
    if "params_nonembedding" not in runs.columns:
        raise ValueError("runs have no 'params_nonembedding' column for the non-embedding convention")
    params = runs["params_nonembedding"].to_numpy(float)
    runs = runs.assign(params=params, flops=6.0 * params * runs["tokens"].to_numpy(float))
    if curves is not None and "run_id" in runs.columns:
        by_run = dict(zip(runs["run_id"].astype(str), params))
        curve_params = curves["run_id"].astype(str).map(by_run).to_numpy(float)
        curves = curves.assign(params=curve_params, flops=6.0 * curve_params * curves["tokens"].to_numpy(float))
    return runs, curves


def _read(source: RunsSource, columns: Mapping[str, str] | None, drop_invalid: bool,
          where: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Final runs table and, where the source has them, per-step curves."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        runs = read_runs(source, columns=columns, drop_invalid=drop_invalid, where=where)
        curves = read_curves(source, split=CURVE_SPLIT)
        if where:  # the curves of the runs kept
            curves = curves[curves["run_id"].astype(str).isin(set(runs["run_id"].astype(str)))].reset_index(drop=True)
        return runs, curves
    table = read_runs(source, columns=columns, drop_invalid=drop_invalid, where=where)
    if "run_id" in table.columns and table["run_id"].duplicated().any():
        # Several rows per run: curves. Each run's final row is its entry in the runs table.
        final = table.sort_values("tokens").groupby("run_id", sort=False).tail(1)
        return final.reset_index(drop=True), table
    return table, None


def write_results(results: Mapping[str, FitResult], out: Path) -> list[Path]:
    """Write one FitResult JSON per fit: `out` itself for one, `<stem>.<key>.json` for several."""
    if len(results) == 1:
        paths = {key: out for key in results}
    else:
        paths = {key: out.with_name(f"{out.stem}.{key}{out.suffix or '.json'}") for key in results}
    for key, path in paths.items():
        write_json(path, results[key].to_document(), sort_keys=False)
    return list(paths.values())


def summary(results: Mapping[str, FitResult], budgets: Sequence[float]) -> dict[str, Any]:
    """What the fit table shows: {key: FitResult document without its draws, plus the optimum
    and its intervals at `budgets` ("at_budgets")}."""
    out: dict[str, Any] = {}
    for key, result in results.items():
        data = result.to_dict()
        data.pop("samples", None)
        data["at_budgets"] = at_budgets(result, budgets)
        out[key] = data
    return out


def at_budgets(result: FitResult, budgets: Sequence[float]) -> list[dict[str, Any]]:
    """Optimum (params, tokens, loss) with intervals at each budget, where the law allocates."""
    rows: list[dict[str, Any]] = []
    try:
        params, tokens = result.optimal(list(budgets))
    except TypeError:
        return _frontier_rows(result, budgets)
    intervals = result.optimal_interval(list(budgets)) if result.samples else {}
    for i, budget in enumerate(budgets):
        row: dict[str, Any] = {"flops": float(budget), "params": float(params[i]), "tokens": float(tokens[i])}
        if result.predicts_loss:
            row["loss"] = float(result.predict(params[i], tokens[i]))
        for name, (low, high) in intervals.items():
            row[f"{name}_interval"] = [float(low[i]), float(high[i])]
        rows.append(row)
    return rows


def _frontier_rows(result: FitResult, budgets: Sequence[float]) -> list[dict[str, Any]]:
    """Loss at each budget, with its interval, for a law of C alone (Kaplan's frontier L(C),
    Kaplan et al. 2020, Eq. 1.3); [] for a law that neither allocates nor reads C alone."""
    law = get_law(result.law)
    if tuple(law.inputs) != ("flops",) or not law.predicts_loss:
        return []
    flops = np.asarray(budgets, dtype=float)
    loss = law.predict(result.coefficients, flops=flops)
    interval = interval_rows(law.predict(result.draws(), flops=flops), result.level) if result.samples else None
    return [{"flops": float(c), "loss": float(loss[i]),
             **({"loss_interval": [float(interval[0][i]), float(interval[1][i])]} if interval else {})}
            for i, c in enumerate(flops)]
