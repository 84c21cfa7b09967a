"""`fit_runs`: the fits `scaling fit` offers, by approach, from one data source.

Approach "3" is Chinchilla's parametric fit (`fit_law`), "2" the IsoFLOP profiles
(`fit_isoflop`), "1" the envelope of training curves (`fit_envelope`), "kaplan" Kaplan's joint
law L(N, D) (its allocation exponent a = alpha_D / (alpha_N + alpha_D)) plus the compute
frontier L(C) fitted to the lowest loss at each budget; "all" every one the data supports.
Seeds of one configuration count once, at their mean loss (`scaling.runs.average_seeds`), so
every approach weights configurations alike and a bootstrap resamples configurations.

References:
    Hoffmann et al. 2022, Sec. 3.1-3.3; Kaplan et al. 2020, Eq. 1.3 and 1.5.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from scaling.fit.result import FitResult
from scaling.records import write_atomic
from scaling.runs import RunsSource, average_seeds, read_curves, read_runs

logger = logging.getLogger(__name__)

APPROACHES = ("1", "2", "3", "kaplan", "all")


def fit_runs(source: RunsSource, approach: str = "3", *, columns: Mapping[str, str] | None = None,
             drop_invalid: bool = False, bootstrap: int = 0, level: float = 0.95, seed: int = 0,
             n_jobs: int | None = None, **law_options: Any) -> tuple[dict[str, FitResult], list[str]]:
    """Fit `source` by `approach`; returns {key: FitResult} and notes on approaches skipped.

    Keys: "approach_1", "approach_2", "approach_3", "kaplan_nd", "kaplan_c". `law_options`
    (delta, tie, fix, drop_highest, params_column) go to the parametric fits.
    """
    if approach not in APPROACHES:
        raise ValueError(f"approach must be one of {', '.join(APPROACHES)}, got {approach!r}")
    from scaling.fit.envelope import fit_envelope
    from scaling.fit.engine import fit_law
    from scaling.fit.isoflop import fit_isoflop

    runs, curves = _read(source, columns, drop_invalid)
    convention = law_options.get("params_column", "params")
    if convention == "params_nonembedding":
        runs, curves = _non_embedding(runs, curves)
    n_runs = len(runs)
    runs = average_seeds(runs)  # one point per configuration; Approach 1 averages curves likewise
    wanted = ("1", "2", "3", "kaplan") if approach == "all" else (approach,)
    boot = {"bootstrap": bootstrap, "level": level, "seed": seed}
    results: dict[str, FitResult] = {}
    skipped: list[str] = []
    forms = {"1": ("approach_1",), "2": ("approach_2",), "3": ("approach_3",), "kaplan": ("kaplan_nd", "kaplan_c")}
    for key in (key for name in wanted for key in forms[name]):
        try:
            if key == "approach_1":
                if curves is None:
                    raise ValueError("Approach 1 needs per-step curves (a sweep directory, or several rows "
                                     "per run_id); these runs have one final loss each")
                results[key] = fit_envelope(curves, **boot)
            elif key == "approach_2":
                results[key] = fit_isoflop(runs, **boot)
            elif key == "approach_3":
                results[key] = fit_law("chinchilla", runs, n_jobs=n_jobs, **boot, **law_options)
            elif key == "kaplan_nd":
                results[key] = fit_law("kaplan_nd", runs, n_jobs=n_jobs, **boot, **law_options)
            else:
                results[key] = fit_law("kaplan_c", _frontier(runs), n_jobs=n_jobs, **boot)
        except ValueError as exc:
            if approach != "all" and len(forms[approach]) == 1:
                raise
            skipped.append(f"{key.removeprefix('approach_')}: {exc}")
            logger.info("skipped %s: %s", key, exc)
    if not results:
        raise ValueError(f"no approach could be fitted: {'; '.join(skipped)}")
    if convention == "params_nonembedding":
        results = {key: replace(result, params_convention="non-embedding") for key, result in results.items()}
    if len(runs) < n_runs:
        results = {key: replace(result, options={**result.options, "seeds_averaged": f"{n_runs} runs"})
                   if key in ("approach_2", "approach_3", "kaplan_nd") else result
                   for key, result in results.items()}
    return results, skipped


def _frontier(runs: pd.DataFrame) -> pd.DataFrame:
    """The lowest loss at each IsoFLOP budget, for Kaplan's L(C) (Kaplan et al. 2020, Eq. 1.3)."""
    from scaling.fit.identify import NotIdentifiable
    from scaling.fit.isoflop import isoflop_optima

    optima = isoflop_optima(runs)
    if len(optima) < 3:
        raise NotIdentifiable(f"the compute frontier L(C) needs IsoFLOP profiles (3 or more sizes at one "
                              f"budget) at 3 or more budgets; these runs have {len(optima)}")
    return pd.DataFrame(optima)[["params", "tokens", "flops", "loss"]]


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


def _read(source: RunsSource, columns: Mapping[str, str] | None,
          drop_invalid: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Final runs table and, where the source has them, per-step curves."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        # Approach 1 reads the training-loss curves, as Hoffmann et al. 2022 (App. D.1) smooth
        # the training loss: held-out evaluations are too sparse (a few per run) for an envelope.
        runs = read_runs(source, columns=columns, drop_invalid=drop_invalid)
        return runs, read_curves(source, split="train")
    table = read_runs(source, columns=columns, drop_invalid=drop_invalid)
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
        write_atomic(path, (results[key].to_json() + "\n").encode())
    return list(paths.values())


def summary(results: Mapping[str, FitResult], budgets: Sequence[float]) -> dict[str, Any]:
    """JSON-ready {key: FitResult dict (without bootstrap draws) plus intervals at `budgets`}."""
    import json

    out: dict[str, Any] = {}
    for key, result in results.items():
        data = json.loads(result.to_json())
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
        return rows
    intervals = result.optimal_interval(list(budgets)) if result.samples else {}
    for i, budget in enumerate(budgets):
        row: dict[str, Any] = {"flops": float(budget), "params": float(params[i]), "tokens": float(tokens[i])}
        if result.predicts_loss:
            row["loss"] = float(result.predict(params[i], tokens[i]))
        for name, (low, high) in intervals.items():
            row[f"{name}_interval"] = [float(low[i]), float(high[i])]
        rows.append(row)
    return rows
