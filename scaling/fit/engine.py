"""`fit_law`: the one fitting engine. Every parametric law is fitted here, and only here are
`scipy.optimize`'s minimisers called (the sweep's ETA solves a small non-negative least squares
with scipy.optimize.nnls: scaling.sweep.timing).

Objective: sum over runs of Huber_delta(log L_hat - log L) in the optimiser's coordinates
(log of scale coefficients, plain exponents), the terms SUMMED, never averaged. Strategy:
screen many starts cheaply (the law's starting grid, e.g. Hoffmann's 4,500 points, plus
variable-projection starts where the law is linear in its scales), then polish the best few
with L-BFGS-B and exact gradients, and keep the lowest objective. Past `SCREEN_ROWS` runs the
screen and the first polish see a fixed subsample of rows, and one final polish from their
optimum sees every row: memory stays linear in rows, never rows x starts.

References:
    Hoffmann et al. 2022, Sec. 3.3 and App. D.2, Eq. 11 (objective, delta = 1e-3, grid);
    Besiroglu et al. 2024, arXiv:2404.10102 (summed Huber terms; 5 highest-loss runs dropped);
    Golub & Pereyra 1973, "The differentiation of pseudo-inverses and nonlinear least squares
    problems whose variables separate" (variable projection).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from scaling.fit import resampling
from scaling.fit._blas import single_threaded_blas
from scaling.fit.identify import NotIdentifiable, check_parametric
from scaling.fit.names import OBJECTIVES
from scaling.laws.base import Array, Law
from scaling.laws.registry import get_law
from scaling.fit.objective import (HOFFMANN_DELTA, ChinchillaLseModel, KaplanJointModel, LawModel, MultiPowerModel,
                                   huber, make_model)
from scaling.fit.result import FitResult, FitWarning, percentile_interval
from scaling.runs import RunsSource, read_runs
from scaling.schedules import Schedule

logger = logging.getLogger(__name__)

__all__ = ["FitResult", "FitWarning", "Problem", "fit_curves", "fit_law", "make_problem", "data_digest"]

DEFAULT_LOG_GRID = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
"""Starts for a log-scale coefficient when the law names none (Hoffmann's a, b grid, extended)."""
DEFAULT_GRID = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Starts for an exponent when the law names none."""
PROFILE_EXPONENTS = np.linspace(0.02, 2.0, 34)
"""Exponent grid of the variable-projection starts (covers Hoffmann's 0-2 range)."""
COARSE_PROFILE_EXPONENTS = np.linspace(0.05, 1.5, 12)
"""The coarser grid bootstrap resamples screen (they also start from the full-data optimum)."""
SCREEN_ROWS = 4096
"""Rows the start screen sees at most. Screening G starts on n rows holds a (G, n) array
(5,656 starts x 1e6 rows is 45 GB); ranking starts needs only a representative subsample, and
the final polish sees every row. Data sets up to this size are fitted exactly as before."""
COLLAPSE = 1e4
"""A bootstrap draw whose scale coefficient falls below 1/COLLAPSE of the full-data value has
lost that term (its loss contribution under 1e-4 of what the data showed): a degenerate draw."""
LSQ_SCALE = 1e-2
"""A typical residual for least squares (1% of the loss): the optimiser sees the objective over its square."""
BLOCK_ELEMENTS = 1 << 20
"""Starts x rows evaluated at once while screening (8 MB per float array)."""


@dataclass(frozen=True)
class Problem:
    """One fit, ready for the optimiser: model, data, free coordinates (picklable for workers)."""

    law: Law
    log_loss: Array
    """Observed log-loss (n,)."""
    inputs: dict[str, Array]
    delta: float
    fixed: dict[int, float]
    """Coordinate index -> fixed value (optimiser space)."""
    groups: tuple[tuple[int, ...], ...]
    """Free parameters: each group of coordinate indices shares one value (tied)."""
    max_iter: int
    n_polish: int
    clusters: Array | None = None
    """Row -> index of the curve (run) it belongs to, for fits of curve rows: the bootstrap then
    resamples whole curves, since the rows of one curve are not independent. None: rows are runs."""
    objective_name: str = "huber-log"
    """"huber-log" (Hoffmann et al. 2022), "lsq-log" (least squares on log loss) or "lsq"
    (least squares on loss: Gadre et al. 2024's and scipy curve_fit users' objective)."""

    @property
    def scale(self) -> float:
        """The objective's factor inside the optimiser, so its size suits L-BFGS-B's tolerances:
        1/delta for Huber (the summed |log residual|), 1/residual-scale^2 for least squares."""
        return 1.0 / self.delta if self.objective_name == "huber-log" else 1.0 / LSQ_SCALE**2

    @property
    def model(self) -> LawModel:
        return make_model(self.law, self.inputs)

    def expand(self, free: Array) -> Array:
        """Optimiser coordinates theta (..., p) from free values (..., q)."""
        if self.simple:
            return free
        theta = np.empty(free.shape[:-1] + (len(self.law.param_names),))
        for index, value in self.fixed.items():
            theta[..., index] = value
        for column, group in enumerate(self.groups):
            for index in group:
                theta[..., index] = free[..., column]
        return theta

    @property
    def expansion(self) -> Array:
        """d theta / d free, a (p, q) matrix of ones and zeros."""
        matrix = np.zeros((len(self.law.param_names), len(self.groups)))
        for column, group in enumerate(self.groups):
            matrix[list(group), column] = 1.0
        return matrix

    def reduce(self, theta: Array) -> Array:
        if self.simple:
            return theta
        return theta[..., [group[0] for group in self.groups]]

    def objective(self, model: LawModel, free: Array) -> tuple[float, Array]:
        """Summed objective (Huber, or half the squared residuals) and its gradient in the free values."""
        if self.objective_name == "huber-log":
            value, full = model.huber_value_grad(self.expand(free), self.log_loss, self.delta)
        else:
            predicted, jac = model.log_loss_jac(self.expand(free))
            if self.objective_name == "lsq-log":
                residual, slope = predicted - self.log_loss, predicted - self.log_loss
            else:  # d/dtheta (L_hat - L) = L_hat d log L_hat / dtheta
                fitted = np.exp(predicted)
                residual = fitted - np.exp(self.log_loss)
                slope = residual * fitted
            value, full = float(0.5 * (residual**2).sum()), (slope[:, None] * jac).sum(axis=0)
        if self.simple:
            return value, full
        return value, np.array([full[list(group)].sum() for group in self.groups])

    @property
    def simple(self) -> bool:
        """True when every coefficient is free and untied (theta is the free vector)."""
        return not self.fixed and all(len(g) == 1 for g in self.groups)

    def batch_objective(self, model: LawModel, thetas: Array) -> Array:
        """Summed Huber values of many starts at once (G, p) -> (G,), in blocks of starts
        holding at most `BLOCK_ELEMENTS` residuals each."""
        values = np.empty(len(thetas))
        for block in _blocks(len(thetas), self.log_loss.size):
            with np.errstate(invalid="ignore", over="ignore"):
                predicted = model.log_loss(thetas[block])
                if self.objective_name == "lsq":
                    values[block] = 0.5 * ((np.exp(predicted) - np.exp(self.log_loss)) ** 2).sum(axis=1)
                    continue
                residuals = predicted - self.log_loss
            values[block] = (huber(residuals, self.delta)[0] if self.objective_name == "huber-log"
                             else 0.5 * residuals**2).sum(axis=1)
        return np.where(np.isfinite(values), values, np.inf)


def _blocks(n_starts: int, n_rows: int) -> list[slice]:
    size = max(1, BLOCK_ELEMENTS // max(n_rows, 1))
    return [slice(start, start + size) for start in range(0, n_starts, size)]


def make_problem(law: Law, runs: pd.DataFrame, *, delta: float = HOFFMANN_DELTA,
                 tie: Sequence[str] = (), fix: Mapping[str, float] | None = None,
                 max_iter: int = 1000, n_polish: int = 8, objective: str = "huber-log",
                 inputs: Mapping[str, Array] | None = None) -> Problem:
    """Validate fitting options against `law` and package the data (see `fit_law`); `inputs`
    (the law's per-row input arrays) instead of the columns of `runs` where given."""
    if not (np.isfinite(delta) and delta > 0):
        raise ValueError(f"delta must be positive, got {delta}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    names = list(law.param_names)
    log_names = set(getattr(law, "log_coefficients", ()))
    fix = dict(fix or {})
    for name in (*fix, *tie):
        if name not in names:
            raise ValueError(f"law {law.name!r} has no coefficient {name!r}; it has {', '.join(names)}")
    if len(tie) == 1 or any(n in fix for n in tie) or len({n in log_names for n in tie}) > 1:
        raise ValueError(f"tie needs two or more free coefficients of the same kind, got {list(tie)}")
    fixed = {}
    for name, value in fix.items():
        if not np.isfinite(value):
            raise ValueError(f"fixed {name} must be a finite number, got {value}")
        if name in log_names and not value > 0:
            raise ValueError(f"fixed {name} must be positive, got {value}")
        fixed[names.index(name)] = float(np.log(value) if name in log_names else value)
    tied = tuple(names.index(n) for n in tie)
    groups = [(i,) for i in range(len(names)) if i not in fixed and i not in tied]
    if tied:
        groups.insert(min(tied), tied)
    if inputs is None:
        inputs = {name: runs[name].to_numpy(float) for name in law.inputs}
    return Problem(law=law, log_loss=np.log(runs["loss"].to_numpy(float)), inputs=dict(inputs),
                   delta=float(delta), fixed=fixed, groups=tuple(groups), max_iter=max_iter,
                   n_polish=n_polish, objective_name=objective)


def start_grid(problem: Problem) -> Array:
    """The law's starting grid in optimiser space (e.g. Hoffmann et al. 2022's 4,500 points)."""
    law = problem.law
    grid = getattr(law, "init_grid", {})
    log_names = set(getattr(law, "log_coefficients", ()))
    axes = [grid.get(name, DEFAULT_LOG_GRID if name in log_names else DEFAULT_GRID)
            for name in law.param_names]
    thetas = np.array(list(itertools.product(*axes)), dtype=float)
    return problem.expand(np.unique(problem.reduce(thetas), axis=0))


def subsample(problem: Problem, rows: int | None = None) -> Problem:
    """`problem` on at most `rows` (default `SCREEN_ROWS`) of its rows, drawn without
    replacement by a fixed seed."""
    rows = SCREEN_ROWS if rows is None else rows
    n = problem.log_loss.size
    if n <= rows:
        return problem
    index = np.sort(np.random.default_rng(0).choice(n, size=rows, replace=False))
    return _rows(problem, index)


def _rows(problem: Problem, index: Array) -> Problem:
    """`problem` on rows `index` (with repeats for a resample)."""
    return replace(problem, log_loss=problem.log_loss[index],
                   inputs={name: values[index] for name, values in problem.inputs.items()},
                   clusters=None if problem.clusters is None else problem.clusters[index])


def screen_starts(problem: Problem, model: LawModel, *, grid: bool = True,
                  exponents: Array = PROFILE_EXPONENTS, extra: Array | None = None) -> Array:
    """Candidate starts, best first (non-finite ones last): the grid, variable-projection starts, `extra` rows.

    Past `SCREEN_ROWS` rows the starts are built and ranked on `subsample(problem)`."""
    screened = subsample(problem)
    if screened is not problem:
        problem, model = screened, screened.model
    candidates = [start_grid(problem)] if grid else []
    if isinstance(model, (ChinchillaLseModel, KaplanJointModel)):  # variable projection
        alphas, betas = (a.ravel() for a in np.meshgrid(exponents, exponents))
        profiled = np.concatenate([model.profile_starts(problem.log_loss, alphas[block], betas[block])
                                   for block in _blocks(alphas.size, problem.log_loss.size)])
        candidates.append(problem.expand(problem.reduce(profiled)))  # honour fix and tie
    elif isinstance(model, MultiPowerModel):  # variable projection: L0, A, B are linear given the rest
        candidates.append(problem.expand(problem.reduce(model.profile_starts(problem.log_loss, exponents))))
    if extra is not None:
        candidates.append(np.atleast_2d(extra))
    thetas = np.concatenate(candidates)
    values = problem.batch_objective(model, thetas)
    order = np.argsort(np.where(np.isfinite(values), values, np.inf))  # non-finite starts last
    return thetas[order]


def polish(problem: Problem, model: LawModel, starts: Array) -> tuple[Array, optimize.OptimizeResult, int]:
    """L-BFGS-B from each start (optimiser coordinates); the best result and how many converged."""
    # The objective is scaled by 1/delta inside the optimiser only, so that its size (about the
    # summed |log residual|) suits L-BFGS-B's tolerances whatever delta is; averaging instead
    # would shrink it by n and stop the search at its start (Besiroglu et al. 2024).
    scale = problem.scale
    if not problem.groups:  # every coefficient fixed: nothing to optimise
        value = problem.objective(model, np.empty(0))[0] * scale
        return starts[0], optimize.OptimizeResult(x=np.empty(0), fun=value, success=True, nit=0,
                                                  message="all coefficients fixed"), 1
    best, best_theta, n_converged = None, starts[0], 0
    for start in problem.reduce(starts):
        origin, whiten = start, preconditioner(problem, model, start)

        def scaled(z: Array) -> tuple[float, Array]:
            value, grad = problem.objective(model, origin + whiten @ z)
            return value * scale, (whiten.T @ grad) * scale

        with np.errstate(all="ignore"):
            result = optimize.minimize(scaled, np.zeros_like(start), jac=True, method="L-BFGS-B",
                                       options={"maxiter": problem.max_iter, "ftol": 1e-13, "gtol": 1e-9})
        n_converged += _accepted(result)
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best, best_theta = result, problem.expand(origin + whiten @ result.x)
    if best is None:  # no start gave a finite objective: report a failed fit, never a crash
        best = optimize.OptimizeResult(x=np.zeros_like(starts[0]), fun=np.inf, success=False, nit=0,
                                       message="no start reached a finite objective")
    return best_theta, best, n_converged


def preconditioner(problem: Problem, model: LawModel, free: Array) -> Array:
    """Linear map z -> free step that whitens the Gauss-Newton matrix J^T J at `free`.

    Coordinates such as a and alpha are nearly collinear (a - alpha log N with log N ~ 20);
    in whitened coordinates L-BFGS-B needs about a quarter of the evaluations (measured here
    on the Epoch runs: 19 against 72 per polish, same optima).
    """
    _, jac = model.log_loss_jac(problem.expand(free))
    jac = jac @ problem.expansion
    with np.errstate(all="ignore"):
        gram = jac.T @ jac
        if not np.all(np.isfinite(gram)):
            return np.eye(free.size)
        values, vectors = np.linalg.eigh(gram)
    values = np.maximum(values, model.whiten_floor * max(values.max(), 1e-300))
    return vectors / np.sqrt(values)


def _accepted(result: optimize.OptimizeResult) -> bool:
    # L-BFGS-B ends a converged Huber fit either by its tolerances or by a line search that can
    # no longer decrease a piecewise-quadratic objective; both are optima. Iteration limits and
    # non-finite values are not.
    message = str(result.message)
    return bool(np.all(np.isfinite(result.x)) and np.isfinite(result.fun)
                and (result.success or "ABNORMAL" in message))


def fit_law(law: Law | str, runs: pd.DataFrame | RunsSource, *, delta: float = HOFFMANN_DELTA,
            tie: Sequence[str] = (), fix: Mapping[str, float] | None = None, drop_highest: int = 0,
            params_column: str = "params", n_polish: int = 8, max_iter: int = 1000,
            bootstrap: int = 0, level: float = 0.95, seed: int = 0, n_jobs: int | None = None,
            objective: str = "huber-log") -> FitResult:
    """Fit a parametric law to runs by Huber regression on log-loss (Hoffmann et al. 2022).

    minimise_theta  sum_i Huber_delta( log L_hat(N_i, D_i; theta) - log L_i )
    (Hoffmann et al. 2022, App. D.2, Eq. 11; for Chinchilla L_hat in the LSE form).

    Parameters
    ----------
    law
        A `Law` or its registry name ("chinchilla", "kaplan_nd", ...).
    runs
        Runs table (see `scaling.runs.read_runs`) or anything `read_runs` accepts.
    delta
        Huber threshold on log residuals (1e-3: Hoffmann et al. 2022).
    objective
        "huber-log" (the default, above), "lsq-log" (half the summed squared log residuals) or
        "lsq" (half the summed squared residuals of the loss itself, as Gadre et al. 2024 and
        scipy's curve_fit minimise); every objective runs through the same starts and polish.
    tie
        Coefficients constrained equal, e.g. ("alpha", "beta").
    fix
        Coefficients held at given values (paper spelling, e.g. {"E": 1.69}).
    drop_highest
        Drop this many highest-loss runs first (Besiroglu et al. 2024 drop 5).
    params_column
        "params" (total, Chinchilla's convention) or "params_nonembedding" (Kaplan's).
    n_polish
        How many of the best screened starts L-BFGS-B polishes.
    bootstrap, level, seed, n_jobs
        Resamples of the runs (0: none), percentile-interval level, RNG seed, worker processes.

    Returns
    -------
    FitResult
        `converged=False` plus a `FitWarning` when no polished start converged.
    """
    with single_threaded_blas():
        return _fit(get_law(law) if isinstance(law, str) else law, runs, delta=delta, tie=tie, fix=fix,
                    drop_highest=drop_highest, params_column=params_column, n_polish=n_polish,
                    max_iter=max_iter, bootstrap=bootstrap, level=level, seed=seed, n_jobs=n_jobs,
                    objective=objective)


def fit_curves(law: Law | str, curves: pd.DataFrame, *, delta: float = HOFFMANN_DELTA, n_polish: int = 8,
               max_iter: int = 1000, bootstrap: int = 0, level: float = 0.95, seed: int = 0,
               n_jobs: int | None = None) -> FitResult:
    """Fit a loss-curve law ("momentum_curve", "multi_power_curve") to the rows of logged curves,
    by the same summed Huber on log-loss as `fit_law`; the bootstrap resamples whole curves (`run_id`).

    `curves` has one row per logged step: `run_id`, `step` (optimizer steps done), `loss`
    (nats/token) and `schedule` (the run's `scaling.schedules.Schedule`, one per run). The law
    builds its inputs from each curve's schedule and steps (`Law.curve_inputs`: O(T) per curve,
    then rows, or rows x groups for the multi-power law): memory and time are linear in the rows.
    """
    law = get_law(law) if isinstance(law, str) else law
    if not law.curve:
        raise ValueError(f"law {law.name!r} is not a loss-curve law")
    if not isinstance(curves, pd.DataFrame):
        raise ValueError(f"curves must be a DataFrame, got {type(curves).__name__}")
    missing = [c for c in ("run_id", "step", "loss", "schedule") if c not in curves.columns]
    if missing:
        raise ValueError(f"curves lack column(s) {', '.join(missing)} (law {law.name!r} builds its inputs "
                         "from each run's schedule and logged steps)")
    for column in ("loss", "step"):
        values = pd.to_numeric(curves[column], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(values)) or (column == "loss" and not np.all(values > 0)):
            raise ValueError(f"curves column {column!r} must hold finite numbers{' > 0' if column == 'loss' else ''}")
    curves = curves.reset_index(drop=True)
    codes, run_ids = pd.factorize(curves["run_id"], sort=True)
    parts: list[dict[str, Array]] = []
    for code, run_id in enumerate(run_ids):
        rows = np.flatnonzero(codes == code)
        schedules = set(curves["schedule"].iloc[rows])
        if len(schedules) != 1 or not isinstance(next(iter(schedules)), Schedule):
            raise ValueError(f"curves column 'schedule' must hold one Schedule per run; run {run_id!r} has "
                             f"{len(schedules)} value(s)")
        try:
            parts.append(law.curve_inputs(next(iter(schedules)), curves["step"].to_numpy(float)[rows]))
        except ValueError as exc:
            raise ValueError(f"curves of run {run_id!r}: {exc}") from None
    order = np.argsort(codes, kind="stable")  # the rows as the parts stack them, curve by curve
    curves = curves.iloc[order].reset_index(drop=True)
    clusters = codes[order].astype(float)
    inputs = {name: _stack([part[name] for part in parts], law.empty_group.get(name, 0.0)) for name in law.inputs}
    for name, values in inputs.items():
        if values.ndim == 2 and np.ptp(values) == 0:
            raise NotIdentifiable(f"every logged row has {name} = {values.flat[0]:.6g}: {law.name} needs curves "
                                  "whose schedules decay the LR after warmup (cosine, wsd, stepped)")
    with single_threaded_blas():
        return _fit_frame(law, curves, {"curves": len(run_ids), "bootstrap_unit": "curve"},
                          delta=delta, tie=(), fix=None, n_polish=n_polish, max_iter=max_iter,
                          bootstrap=bootstrap, level=level, seed=seed, n_jobs=n_jobs, clusters=clusters,
                          inputs=inputs)


def _stack(parts: list[Array], empty: float) -> Array:
    """Per-curve input arrays stacked by rows; 2-D ones (rows x groups) padded to the widest
    curve's groups with `empty` (the law's value of an empty group, `Law.empty_group`)."""
    if parts[0].ndim == 2:
        width = max(part.shape[1] for part in parts)
        parts = [np.pad(part, ((0, 0), (0, width - part.shape[1])), constant_values=empty) for part in parts]
    return np.concatenate(parts)


def input_columns(loss: Array, inputs: Mapping[str, Array]) -> pd.DataFrame:
    """A law's inputs as columns (a 2-D input's column j named `name_j`) beside `loss`: the table
    a fit's data digest and identifiability check read."""
    columns: dict[str, Array] = {"loss": loss}
    for name, values in inputs.items():
        if values.ndim == 1:
            columns[name] = values
        else:
            columns.update({f"{name}_{j}": values[:, j] for j in range(values.shape[1])})
    return pd.DataFrame(columns)


def _fit(law: Law, runs: pd.DataFrame | RunsSource, *, delta: float, tie: Sequence[str],
         fix: Mapping[str, float] | None, drop_highest: int, params_column: str, n_polish: int,
         max_iter: int, bootstrap: int, level: float, seed: int, n_jobs: int | None,
         objective: str = "huber-log") -> FitResult:
    runs, options = _prepare_runs(runs, drop_highest, params_column)
    clusters = None
    if "family" in runs.columns and runs["family"].nunique() < len(runs):
        # Cooldown branches of one stable run share its path: the bootstrap draws whole families.
        clusters = pd.factorize(runs["family"], sort=True)[0].astype(float)
        families = int(clusters.max()) + 1
        options = {**options, "bootstrap_unit": "family", "families": families}
        if bootstrap and families <= len(law.param_names):
            warnings.warn(f"the bootstrap resamples {families} families (cooldown branches of one stable run count "
                          f"once) for {len(law.param_names)} coefficients: too few for a trustworthy interval; "
                          "train more families (seeds or sizes)", FitWarning, stacklevel=3)
    return _fit_frame(law, runs, options, delta=delta, tie=tie, fix=fix, n_polish=n_polish, max_iter=max_iter,
                      bootstrap=bootstrap, level=level, seed=seed, n_jobs=n_jobs, params_column=params_column,
                      objective=objective, clusters=clusters)


def _fit_frame(law: Law, runs: pd.DataFrame, options: dict[str, Any], *, delta: float, tie: Sequence[str],
               fix: Mapping[str, float] | None, n_polish: int, max_iter: int, bootstrap: int, level: float,
               seed: int, n_jobs: int | None, params_column: str = "params",
               clusters: Array | None = None, objective: str = "huber-log",
               inputs: Mapping[str, Array] | None = None) -> FitResult:
    problem = make_problem(law, runs, delta=delta, tie=tie, fix=fix, max_iter=max_iter, n_polish=n_polish,
                           objective=objective, inputs=inputs)
    problem = replace(problem, clusters=clusters)
    digest_columns: Sequence[str] = law.inputs
    if inputs is not None:  # a curve law's inputs, built from schedules: checked and digested as columns
        runs = input_columns(problem.log_loss, problem.inputs).assign(loss=runs["loss"].to_numpy(float))
        digest_columns = [c for c in runs.columns if c != "loss"]
    check_parametric(law.name, [n for n in law.inputs if problem.inputs[n].ndim == 1], runs, len(problem.groups))
    model = problem.model
    starts = screen_starts(problem, model)
    screened = subsample(problem)
    if screened is problem:
        theta, best, n_converged = polish(problem, model, starts[:n_polish])
    else:  # polish the best starts on the subsample, then the winner once on every row
        theta, _, n_converged = polish(screened, screened.model, starts[:n_polish])
        theta, best, _ = polish(problem, model, theta[None])
    converged = _accepted(best)
    coefficients = {k: float(v) for k, v in model.coefficients(theta).items()}
    if not converged:
        warnings.warn(f"fit of {law.name!r} did not converge: {best.message}", FitWarning, stacklevel=3)
    objective_value = float(problem.objective(model, problem.reduce(theta))[0])
    options.update(objective=objective, delta=delta, tie=list(tie), fix=dict(fix or {}), n_starts_screened=len(starts),
                   n_polished=min(n_polish, len(starts)), n_polished_converged=n_converged,
                   max_iter=max_iter, strategy="screen (law grid + variable projection) then L-BFGS-B")
    if screened is not problem:
        options.update(screen_rows=screened.log_loss.size,
                       strategy="screen and polish on a subsample of rows, then L-BFGS-B on every row")
    samples, uncertainty, diagnostics = None, "none", {}
    if bootstrap:
        draws = resampling.bootstrap(functools.partial(_refit_resample, problem, theta), bootstrap, seed=seed,
                                     n_jobs=n_jobs, what="bootstrap refits")
        uncertainty = draws.uncertainty
        diagnostics = {"bootstrap": draws.diagnostics}
        if draws.draws is not None:
            rows = np.asarray(draws.draws)
            coefficients_drawn = model.coefficients(rows.T)
            samples = np.column_stack([coefficients_drawn[name] for name in law.param_names])
    result = FitResult.build(
        law=law.name, coefficients=coefficients, converged=converged, message=str(best.message),
        n_points=len(runs), data_digest=data_digest(runs, digest_columns), options=options,
        objective=objective_value, edge_of_grid=edge_of_grid(problem, theta),
        params_convention="non-embedding" if params_column == "params_nonembedding" else "total",
        samples=samples, uncertainty=uncertainty, level=level, diagnostics=diagnostics)
    if law.name == "chinchilla" and set(tie) == {"alpha", "beta"}:
        return with_overtraining_form(result)
    return result


def overtraining_form(coefficients: Mapping[str, Any]) -> dict[str, Any]:
    """Gadre et al. 2024, Eq. 4: Chinchilla's law with alpha = beta in compute C = 6 N D and token
    multiplier M = D / N,  L(C, M) = E + (a M^eta + b M^-eta) C^-eta,  with
    eta = alpha / 2, a = A 6^eta, b = B 6^eta  (N = sqrt(C / (6 M)), D = sqrt(C M / 6)).
    Keys "eta", "gadre_a", "gadre_b" (a and b already name the allocation exponents)."""
    eta = np.asarray(coefficients["alpha"], dtype=float) / 2.0
    return {"eta": eta, "gadre_a": coefficients["A"] * 6.0**eta, "gadre_b": coefficients["B"] * 6.0**eta}


def with_overtraining_form(result: FitResult) -> FitResult:
    """A tied (alpha = beta) Chinchilla fit with Gadre et al.'s (a, b, eta) among its derived
    quantities, with intervals from the same draws."""
    extra = {k: float(v) for k, v in overtraining_form(result.coefficients).items()}
    if not result.samples:
        return replace(result, derived={**result.derived, **extra})
    drawn = {k: np.asarray(v) for k, v in overtraining_form(
        {k: np.asarray(result.samples[k]) for k in ("alpha", "A", "B")}).items()}
    return replace(result, derived={**result.derived, **extra},
                   samples={**result.samples, **{k: v.tolist() for k, v in drawn.items()}},
                   intervals={**result.intervals, **{k: percentile_interval(v, result.level) for k, v in drawn.items()}})


def _prepare_runs(runs: pd.DataFrame | RunsSource, drop_highest: int,
                  params_column: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    runs = read_runs(runs)
    if params_column not in ("params", "params_nonembedding"):
        raise ValueError(f"params_column must be 'params' or 'params_nonembedding', got {params_column!r}")
    if params_column != "params":
        if params_column not in runs.columns:
            raise ValueError(f"runs have no {params_column!r} column")
        runs = runs.assign(params=runs[params_column])
    if not 0 <= drop_highest < len(runs):
        raise ValueError(f"drop_highest must be in [0, {len(runs)}), got {drop_highest}")
    dropped = runs.nlargest(drop_highest, "loss")["run_id"].tolist() if drop_highest else []
    runs = runs.drop(runs.nlargest(drop_highest, "loss").index) if drop_highest else runs
    return runs.reset_index(drop=True), {"drop_highest": drop_highest, "dropped_runs": dropped,
                                         "params_column": params_column}


def edge_of_grid(problem: Problem, theta: Array) -> list[str]:
    """Coefficients whose optimum lies outside the span of the starting grid (or on its edge)."""
    grid = start_grid(problem)
    low, high = grid.min(axis=0), grid.max(axis=0)
    free = {i for group in problem.groups for i in group}
    return [name for i, name in enumerate(problem.law.param_names)
            if i in free and not low[i] < theta[i] < high[i]]


def data_digest(runs: pd.DataFrame, columns: Sequence[str]) -> str:
    """sha256 of the fitted rows (the law's inputs and loss), independent of row order."""
    table = runs[sorted({*columns, "loss"})].to_numpy(float)
    table = table[np.lexsort(table.T[::-1])]
    return hashlib.sha256(np.ascontiguousarray(table).tobytes()).hexdigest()


def _refit_resample(problem: Problem, theta: Array, rng: np.random.Generator) -> Array | None:
    """One bootstrap refit: resample the runs with replacement and refit from the full-data
    optimum and the best screened start of the resample (so a resample whose optimum moves to
    another basin can follow it). None when neither converged."""
    if problem.clusters is None:
        n = problem.log_loss.size
        index = rng.integers(0, n, size=n)
        distinct = np.unique(index).size
    else:  # whole clusters (a curve's rows, a family's branches): drawn with replacement, every row kept
        members = [np.flatnonzero(problem.clusters == c) for c in range(int(problem.clusters.max()) + 1)]
        drawn = rng.integers(0, len(members), size=len(members))
        if np.unique(drawn).size < 2:  # one curve's rows say nothing about another curve's noise
            raise resampling.DegenerateResample("a single distinct curve or family", "every row drawn from one of them")
        index = np.concatenate([members[c] for c in drawn])
        distinct = index.size
    if distinct < len(problem.groups):
        raise resampling.DegenerateResample(
            "fewer distinct runs than coefficients",
            f"{distinct} distinct runs for {len(problem.groups)} free coefficients")
    resample = _rows(problem, index)
    model = resample.model
    best_theta, best, _ = polish(resample, model, theta[None])
    # A second basin: the best screened start (Chinchilla: a coarse variable-projection grid;
    # small laws: their whole grid) is polished too when, unpolished, it already beats the
    # polished full-data start. On the Epoch runs the full 5,656-start fit never found a better
    # optimum than this in 40 resamples checked.
    screened = screen_starts(resample, model, grid=not isinstance(model, ChinchillaLseModel),
                             exponents=COARSE_PROFILE_EXPONENTS)[:1]
    if len(screened) and resample.batch_objective(model, screened)[0] < best.fun / resample.scale:
        other_theta, other, _ = polish(resample, model, screened)
        if other.fun < best.fun:
            best_theta, best = other_theta, other
    if not _accepted(best):
        return None
    # A scale coefficient (E, A, B, N_c, ...) falling by COLLAPSE or more from the full-data
    # optimum means its term left the fit (E to about 1e-8 was seen): no draw of that term.
    log_mask = np.array([name in problem.law.log_coefficients for name in problem.law.param_names])
    if np.any(log_mask & (best_theta < theta - np.log(COLLAPSE))):
        raise resampling.DegenerateResample("a term collapsed to a bound",
                                            "a scale coefficient fell by 1e4 or more")
    return best_theta
