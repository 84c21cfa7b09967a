"""Prediction intervals for a new run, and the misspecification check, from a law's residuals.

A confidence interval (the bootstrap's) says where the law's curve lies; a new run scatters
around that curve, and where the form misfits, whole budgets sit off it together. The residual
model splits the log residuals r = log L - log L_hat of the fitted runs by budget:

    r = u_budget + e_run,   Var u = sigma_budget^2 (between budgets, beyond what e explains),
                            Var e = sigma_run^2 (within a budget, pooled),

the one-way random-effects decomposition (Searle, Casella & McCulloch 1992, Ch. 3). The runs
of a budget do not scatter alike: an IsoFLOP profile's wide wings sit farther from the form than
its near-optimal runs (on Porian et al. 2024's runs the within-budget MAD grows from about 0.02
within 0.15 decade of N_opt to 0.10 past half a decade). So the run scale is modelled as

    sigma_run(x) = sigma_run exp(b x / 2),   x = |log10(N / N_opt(C))|,

N_opt(C) the size of least loss on the IsoFLOP by the fitted law, b by Harvey 1976's regression of
the log squared within-budget deviations on x (multiplicative heteroscedasticity; b >= 0), and
sigma_run the robust (MAD) scale of the deviations divided by exp(b x / 2), i.e. at the optimum.
How fast the form's error grows past the data is measured, not assumed: leave-future-out refits on
the budgets up to each cut-off predict the larger ones; each error beyond the in-sample scatter
per decade ahead is a rate, and `growth(x)` is the `level` quantile regression line of those
rates on x (Koenker & Bassett 1978): off-optimum runs extrapolate worse than near-optimal ones,
and a pooled quantile let the wings' errors widen every interval. The quantile is taken at the
finite-sample level ceil((n + 1) level) / n of its n forward errors (Lei et al. 2018, Sec. 2.2).
A new run at (N, D), at distance x, d decades of C past the largest budget fitted (0 inside),
gets on the log scale

    log L_hat +- sqrt( (z sqrt(conf^2 + sigma_run(x)^2 + sigma_budget^2))^2 + (growth(x) d)^2 )

with conf the bootstrap spread of log L_hat there (0 without draws). Every piece is estimated from
the fitted runs alone. The misspecification check is the one-way ANOVA F test of the residuals by
budget and by size: p below `MISFIT_P` says the form leaves structure the runs share, and the fit
warns.

Measured (tests/fit/test_calibration.py, slow): at nominal 90%, 89.7% of held-out larger-budget
runs inside on synthetic sweeps whose law lies outside the fitted form, and 88.9% on the shipped
Porian runs (98% with one run scale and a pooled growth quantile).

References:
    Searle, Casella & McCulloch 1992, "Variance Components", Ch. 3 (one-way random effects);
    Efron & Tibshirani 1993, Ch. 9.5 (residuals, not the curve, carry a new run's scatter);
    Harvey 1976, "Estimating Regression Models with Multiplicative Heteroscedasticity",
    Econometrica 44(3) (the run scale as exp of a line in x);
    Koenker & Bassett 1978, "Regression Quantiles", Econometrica 46(1) (the growth line);
    Lei, G'Sell, Rinaldo, Tibshirani & Wasserman 2018, "Distribution-Free Predictive Inference
    for Regression", JASA 113 (the finite-sample quantile level).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from scaling.fit.isoflop import group_budgets
from scaling.fit.result import FitResult, FitWarning, interval_rows
from scaling.laws.base import Array
from scaling.laws.registry import get_law

MISFIT_P = 0.01
"""ANOVA p-value below which residuals are called structured (by budget or by size)."""
SIZE_GAP_DECADES = 0.05
"""Sizes within 12% of each other count as one size for the check by size."""


def residual_model(result: FitResult, runs: pd.DataFrame,
                   refit: Callable[[pd.DataFrame], FitResult] | None = None,
                   level: float = 0.9) -> dict[str, Any]:
    """The residual model of `result` on the runs it was fitted to (see the module docstring);
    with `refit`, the growth of forward errors per decade of extrapolation too."""
    params, tokens, loss = (runs[c].to_numpy(float) for c in ("params", "tokens", "loss"))
    residuals = np.log(loss) - np.log(result.predict(params, tokens))
    flops = 6.0 * params * tokens
    budgets = group_budgets(flops)
    run_sd, budget_sd, by_budget = _components(residuals, budgets)
    distance = optimum_distance(result, params, tokens)
    slope = _scale_slope(residuals, budgets, distance)
    # The robust run scale at the optimum: the MAD of the within-budget deviations once each is
    # divided by its run's relative scale exp(slope x / 2).
    at_optimum = _components(residuals * np.exp(-slope * distance / 2.0), budgets)[0]
    by_size = _components(residuals, group_budgets(params, SIZE_GAP_DECADES))[2]
    means = pd.Series(residuals).groupby(budgets).mean().to_numpy()
    centres = pd.Series(np.log10(flops)).groupby(budgets).mean().to_numpy()
    drift, drift_se = _trend(centres, means, pd.Series(budgets).value_counts().sort_index().to_numpy())
    growth, n_forward, by_level, by_level_slope = 0.0, 0, {}, {}
    if refit is not None:
        decades, errors, rows = _forward(refit, runs)
        n_forward = int(errors.size)
        if errors.size:
            # Each forward error beyond the in-sample scatter, per decade ahead; the `level`
            # quantile of that rate, as a line in the run's distance from its budget's optimum
            # (off-optimum runs extrapolate worse), is how fast this form's error grows past the data.
            base = (at_optimum * np.exp(slope * distance[rows] / 2.0)) ** 2 + budget_sd**2
            rate = np.sqrt(np.maximum(errors**2 - base, 0.0)) / np.maximum(decades, 1e-3)
            lines = {f"{q:g}": _quantile_line(distance[rows], rate, q) for q in GROWTH_LEVELS}
            growth = _quantile_line(distance[rows], rate, level)[0]
            by_level = {q: line[0] for q, line in lines.items()}
            by_level_slope = {q: line[1] for q, line in lines.items()}
    return {"method": "one-way random effects by budget (C = 6ND), run scale exp(slope |log10 N/N_opt| / 2)"
                      " + trend of budget means in log10 C"
                      + (" + leave-future-out error growth" if refit is not None else ""),
            "sigma_run": at_optimum, "run_scale_slope": slope, "sigma_run_pooled": run_sd,
            "sigma_budget": budget_sd, "drift_per_decade": drift,
            "growth_per_decade": growth, "n_forward_errors": n_forward, "growth_level": level,
            "growth_by_level": by_level, "growth_slope_by_level": by_level_slope,
            "drift_se_per_decade": drift_se, "largest_flops": float(flops.max()), "n_budgets": int(means.size),
            "misfit_p": {"by_budget": by_budget, "by_size": by_size},
            "misspecified": bool(min(p for p in (by_budget, by_size) if p is not None) < MISFIT_P)
            if any(p is not None for p in (by_budget, by_size)) else False}


MIN_TRAIN_BUDGETS = 3
"""Fewest budgets a forward (leave-future-out) refit is trained on."""
GROWTH_LEVELS = (0.5, 0.68, 0.8, 0.9, 0.95, 0.99, 0.999)
"""Levels at which the forward-error growth is kept, so `prediction_interval` serves any level."""
MAX_FORWARD_REFITS = 6
"""Forward refits at most (a digitised set can have dozens of budget groups)."""


def forward_errors(refit: Callable[[pd.DataFrame], FitResult], runs: pd.DataFrame) -> tuple[Array, Array]:
    """Leave-future-out errors: for each budget from the `MIN_TRAIN_BUDGETS`-th to the
    second-largest, `refit` on the budgets up to it and predict every larger budget's runs;
    returns (decades past the cut-off, log error) of each prediction (the back-test's design,
    Hyndman & Athanasopoulos 2021, Sec. 5.10, evaluation on a rolling forecasting origin)."""
    return _forward(refit, runs)[:2]


def _forward(refit: Callable[[pd.DataFrame], FitResult], runs: pd.DataFrame) -> tuple[Array, Array, Array]:
    """`forward_errors`, with the row of `runs` each error belongs to."""
    flops = 6.0 * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float)
    budgets = group_budgets(flops)
    order = np.unique(budgets)
    decades, errors, rows = [], [], []
    cuts = order[MIN_TRAIN_BUDGETS - 1:-1]
    if cuts.size > MAX_FORWARD_REFITS:  # evenly spread cut-offs, the largest kept
        cuts = cuts[np.unique(np.linspace(cuts.size - 1, 0, MAX_FORWARD_REFITS).round().astype(int))]
    for cut in cuts:
        train, test = runs[budgets <= cut], runs[budgets > cut]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a forward refit's own warnings say nothing about the fit reported
                fitted = refit(train)
        except ValueError:  # too few runs for the law up to this cut-off
            continue
        predicted = fitted.predict(test["params"].to_numpy(float), test["tokens"].to_numpy(float))
        errors.append(np.log(test["loss"].to_numpy(float)) - np.log(predicted))
        decades.append(np.log10(flops[budgets > cut] / flops[budgets <= cut].max()))
        rows.append(np.flatnonzero(budgets > cut))
    if not errors:
        return np.empty(0), np.empty(0), np.empty(0, dtype=int)
    return np.concatenate(decades), np.concatenate(errors), np.concatenate(rows)


def optimum_distance(result: FitResult, params: Array, tokens: Array) -> Array:
    """|log10(N / N_opt(C))| of each run: how far off its budget's optimum by the law of
    `result`, with N_opt the size of least predicted loss on the IsoFLOP of C = 6ND (a grid of
    `OPTIMUM_GRID` sizes over 8 decades, so any L(N, D) law serves)."""
    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    flops = 6.0 * params * tokens
    sizes = np.sqrt(flops / 6.0)[:, None] * 10.0 ** np.linspace(-4.0, 4.0, OPTIMUM_GRID)[None, :]
    with np.errstate(all="ignore"):
        loss = np.asarray(result.predict(sizes.ravel(), (flops[:, None] / (6.0 * sizes)).ravel()),
                          dtype=float).reshape(sizes.shape)
    loss = np.where(np.isfinite(loss), loss, np.inf)
    best = sizes[np.arange(sizes.shape[0]), np.argmin(loss, axis=1)]
    return np.abs(np.log10(params / best))


OPTIMUM_GRID = 801
"""Sizes tried per IsoFLOP for N_opt (0.01 decade apart)."""


def warn_misfit(name: str, model: dict[str, Any]) -> None:
    """A FitWarning when the residual model found structure (the form misfits)."""
    if not model["misspecified"]:
        return
    where = [f"{key.replace('_', ' ')} (p = {p:.2g})" for key, p in model["misfit_p"].items()
             if p is not None and p < MISFIT_P]
    growth = (f" and the error growth measured past each cut-off ({model['growth_per_decade']:.3g} in log loss "
              "per decade at a budget's optimum)" if model.get("n_forward_errors") else "")
    warnings.warn(f"{name}: residuals are structured {' and '.join(where)}: the form misfits these runs; "
                  f"prediction intervals (scaling predict) include the spread between budgets "
                  f"({model['sigma_budget']:.3g} in log loss){growth}", FitWarning, stacklevel=3)


def prediction_interval(result: FitResult, params: Array, tokens: Array,
                        level: float | None = None) -> tuple[Array, Array]:
    """Interval for the loss of a new run at (params, tokens) (module docstring); ValueError
    when the fit has no residual model."""
    model = result.residuals
    if not model:
        raise ValueError("this fit has no residual model (fits of a loss law by Approach 3 or Kaplan's L(N, D) "
                         "have one; refit with this version)")
    level = level or result.level
    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    centre = np.log(result.predict(params, tokens))
    conf = np.zeros_like(centre)
    if result.samples:
        with np.errstate(all="ignore"):
            conf = np.nanstd(np.log(_draw_predictions(result, params, tokens)), axis=0, ddof=1)
    past = np.maximum(np.log10(6.0 * params * tokens / model["largest_flops"]), 0.0)
    # Fits written before the run scale followed the distance have neither slope: 0 for both.
    distance = (optimum_distance(result, params, tokens)
                if model.get("run_scale_slope") or model.get("growth_slope_by_level") else np.zeros_like(centre))
    relative = np.exp(model.get("run_scale_slope", 0.0) * distance / 2.0)
    spread = np.sqrt(conf**2 + (model["sigma_run"] * relative) ** 2 + model["sigma_budget"]**2)
    if "growth_per_decade" in model:  # measured forward errors carry the trend: not counted twice
        table = model.get("growth_by_level") or {}
        slopes = model.get("growth_slope_by_level") or {}
        levels = sorted(float(q) for q in table)
        growth = (float(np.interp(level, levels, [table[f"{q:g}"] for q in levels])) if levels
                  else model["growth_per_decade"])
        if slopes:  # the growth as a line in the distance from the budget's optimum
            growth = np.maximum(growth + float(np.interp(level, levels, [slopes[f"{q:g}"] for q in levels]))
                                * distance, 0.0)
        extra = growth * past
    else:
        extra = math.hypot(model["drift_per_decade"], model["drift_se_per_decade"]) * past / stats.norm.ppf(0.95)
    half = np.hypot(stats.norm.ppf(0.5 + level / 2) * spread, extra)
    return np.exp(centre - half), np.exp(centre + half)


def confidence_interval(result: FitResult, params: Array, tokens: Array,
                        level: float | None = None) -> tuple[Array, Array] | None:
    """The bootstrap's percentile interval for the law's loss there (None without draws)."""
    if not result.samples:
        return None
    return interval_rows(_draw_predictions(result, np.asarray(params, float), np.asarray(tokens, float)),
                         level or result.level)


def _draw_predictions(result: FitResult, params: Array, tokens: Array) -> Array:
    draws = result.draws()
    with np.errstate(all="ignore"):
        return get_law(result.law).predict(draws, params=params, tokens=tokens, flops=6.0 * params * tokens)


def _components(residuals: Array, groups: Array) -> tuple[float, float, float | None]:
    """(sigma within groups, sigma between groups beyond the within part, ANOVA p) of residuals."""
    frame = pd.DataFrame({"r": residuals, "g": groups})
    grouped = frame.groupby("g")["r"]
    counts, means = grouped.count().to_numpy(), grouped.mean().to_numpy()
    n, k = residuals.size, means.size
    deviations = (frame["r"] - grouped.transform("mean")).to_numpy()
    within = float((deviations**2).sum())
    run_var = within / (n - k) if n > k else float(np.var(residuals, ddof=1)) if n > 1 else 0.0
    robust_var = (1.4826 * np.median(np.abs(deviations - np.median(deviations)))) ** 2 * n / max(n - k, 1)
    if k < 2:
        return math.sqrt(robust_var), 0.0, None
    grand = residuals.mean()
    between = float((counts * (means - grand) ** 2).sum()) / (k - 1)
    # Var of a group mean = sigma_budget^2 + sigma_run^2 / n_g: the excess over the within part.
    n0 = (n - (counts**2).sum() / n) / (k - 1)
    budget_var = max((between - run_var) / n0, 0.0)
    p = float(stats.f.sf(between / run_var, k - 1, n - k)) if n > k and run_var > 0 else None
    return math.sqrt(robust_var), math.sqrt(budget_var), p


def _quantile_line(x: Array, y: Array, q: float) -> tuple[float, float]:
    """(intercept, slope) of the `q` quantile regression line of y on x (Koenker & Bassett 1978,
    "Regression Quantiles", Econometrica 46: the linear program of the check loss); the plain
    `q` quantile and slope 0 when x has no spread."""
    n = x.size
    q = min(math.ceil((n + 1) * q) / n, 1.0 - 0.5 / n)  # finite-sample level (Lei et al. 2018, Sec. 2.2)
    if n < 3 or np.ptp(x) == 0:
        return float(np.quantile(y, q)), 0.0
    # minimise sum q u + (1 - q) v over a, c, u, v >= 0 with a + c x + u - v = y.
    cost = np.concatenate([[0.0, 0.0], np.full(n, q), np.full(n, 1.0 - q)])
    equality = np.hstack([np.ones((n, 1)), x[:, None], np.eye(n), -np.eye(n)])
    bounds = [(None, None), (None, None)] + [(0.0, None)] * (2 * n)
    solved = optimize.linprog(cost, A_eq=equality, b_eq=y, bounds=bounds, method="highs")
    if not solved.success:
        return float(np.quantile(y, q)), 0.0
    return float(solved.x[0]), float(solved.x[1])


def _scale_slope(residuals: Array, groups: Array, distance: Array) -> float:
    """Slope b of log Var e_run = a + b x on the distance x = |log10 N/N_opt| from the budget's
    optimum, by Harvey 1976's regression of the log squared within-budget deviations on x
    (multiplicative heteroscedasticity); 0 when the runs span no distance, too few to tell, or b < 0."""
    frame = pd.DataFrame({"r": residuals, "g": groups})
    grouped = frame.groupby("g")["r"]
    keep = (grouped.transform("count") > 1).to_numpy()
    if keep.sum() < 8 or np.ptp(distance[keep]) == 0:
        return 0.0
    deviations = (frame["r"] - grouped.transform("mean")).to_numpy()[keep]
    counts = grouped.transform("count").to_numpy()[keep]
    squared = deviations**2 * counts / (counts - 1)  # a deviation from its group mean is shrunk by (n-1)/n
    floor = np.quantile(squared[squared > 0], 0.01) if (squared > 0).any() else 0.0
    if floor == 0:
        return 0.0
    slope = np.polyfit(distance[keep], np.log(np.maximum(squared, floor)), 1)[0]
    return float(max(slope, 0.0))


def _trend(x: Array, y: Array, weights: Array) -> tuple[float, float]:
    """Weighted least-squares slope of y on x and its standard error (0, 0 under 3 points)."""
    if x.size < 3 or np.ptp(x) == 0:
        return 0.0, 0.0
    w = weights / weights.sum()
    xm, ym = (w * x).sum(), (w * y).sum()
    sxx = (w * (x - xm) ** 2).sum()
    slope = (w * (x - xm) * (y - ym)).sum() / sxx
    resid = y - ym - slope * (x - xm)
    se = math.sqrt((w * resid**2).sum() / sxx / (x.size - 2))
    return float(slope), float(se)
