"""Chinchilla Approach 2: IsoFLOP profiles -> per-budget optima -> N_opt = k C^a, D_opt = k' C^b.

Runs are grouped by budget (a sweep's own budget labels, exact FLOP values, log-binned when C
varies a little within a budget, or rounded to one significant figure with `round_budgets`).
Each budget's loss-minimising size comes from a parabola, in log N or in log D (`fit_in`),
through the points next to the lowest loss (`window` sizes each side: Porian et al. 2024's
local fit, the default) or through the whole profile (`window=None`: Hoffmann et al. 2022's
fit, biased where the profile is not parabolic); a minimum at the edge of the sampled sizes is
flagged, warned about and left out of the power laws.

One FLOP convention per fit (`flops_convention`): "6ND" reads each budget as C = 6 N D from the
runs' own params and tokens, so the other quantity is D_opt = C / (6 N_opt) (or N_opt = C /
(6 D_opt)) and a + b = 1 exactly; "column" keeps the flops column as given (counted FLOPs, with
attention, say) and reads the other quantity off the runs' own tokens (or params) at the
optimum, interpolated in log-log between its neighbours, so a + b need not be 1.

Legend: C = budget FLOPs, N = params, D = tokens, L = loss; x = log N (or log D).

References:
    Hoffmann et al. 2022, Sec. 3.2 (Approach 2, a = 0.49, b = 0.51);
    Porian et al. 2024, arXiv:2406.19146, Sec. 2 (optimum by interpolation near the minimum).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from scaling.fit import resampling
from scaling.fit.names import FIT_AXES, FLOPS_CONVENTIONS
from scaling.fit.identify import NotIdentifiable, allocation_flags, warn_flags
from scaling.fit.result import FitResult, FitWarning
from scaling.laws.base import Array
from scaling.runs import RunsSource, average_seeds, read_runs
from scaling.fit.engine import data_digest

RANK_WARNING = getattr(np.exceptions, "RankWarning", None) or np.RankWarning
"""polyfit's warning: numpy.exceptions from numpy 2.0, the top-level numpy before."""

logger = logging.getLogger(__name__)

BUDGET_GAP_DECADES = 0.05
"""Sorted log10 budgets further apart than this (about 12%) start a new budget group."""


def group_budgets(flops: Array, gap_decades: float = BUDGET_GAP_DECADES) -> Array:
    """Budget label per run: runs share a budget when their log10 C values chain within the gap."""
    log_flops = np.log10(flops)
    order = np.argsort(log_flops)
    breaks = np.concatenate([[0], np.cumsum(np.diff(log_flops[order]) > gap_decades)])
    labels = np.empty(len(flops), dtype=int)
    labels[order] = breaks
    return labels


@dataclass(frozen=True)
class IsoflopMethod:
    """How Approach 2 reads each IsoFLOP profile; recorded in the fit's options."""

    window: int | None = 2
    """Sizes each side of the lowest loss the parabola sees; None: the whole profile."""
    fit_in: str = "params"
    """"params" (parabola in log N, D derived) or "tokens" (in log D, N derived)."""
    round_budgets: bool = False
    """Group runs by their FLOPs rounded to one significant figure (3.1e18 and 2.9e18 -> 3e18)."""
    flops_convention: str = "6ND"

    def __post_init__(self) -> None:
        if self.window is not None and (isinstance(self.window, bool) or int(self.window) != self.window
                                        or self.window < 1):
            raise ValueError(f"window must be a whole number of sizes >= 1, or None for the whole profile, "
                             f"got {self.window!r}")
        if self.fit_in not in FIT_AXES:
            raise ValueError(f"fit_in must be one of {', '.join(FIT_AXES)}, got {self.fit_in!r}")
        if self.flops_convention not in FLOPS_CONVENTIONS:
            raise ValueError(f"flops_convention must be one of {', '.join(FLOPS_CONVENTIONS)}, "
                             f"got {self.flops_convention!r}")

    def describe(self) -> str:
        """E.g. "local parabola (2 sizes each side) in log N"."""
        span = "parabola over the whole profile" if self.window is None else \
            f"local parabola ({self.window} sizes each side)"
        return f"{span} in log {'N' if self.fit_in == 'params' else 'D'}"


def budget_labels(runs: pd.DataFrame, gap_decades: float = BUDGET_GAP_DECADES, *,
                  round_budgets: bool = False) -> Array:
    """Budget label per run: the sweep's own `budget_flops` where the runs carry it (a sweep
    directory's summary); else the FLOPs column rounded to one significant figure when
    `round_budgets`, else `group_budgets` over it."""
    if "budget_flops" in runs.columns and runs["budget_flops"].notna().all():
        return np.unique(runs["budget_flops"].to_numpy(float), return_inverse=True)[1]
    flops = runs["flops"].to_numpy(float)
    if round_budgets:
        return np.unique([float(f"{c:.0e}") for c in flops], return_inverse=True)[1]
    return group_budgets(flops, gap_decades)


def budget_optimum(params: Array, tokens: Array, loss: Array, window: int | None = 2, *, fit_in: str = "params",
                   flops_convention: str = "6ND", flops: Array | None = None) -> dict[str, Any]:
    """Loss-minimising (params, tokens, loss) of one IsoFLOP profile, from a parabola.

    Fit L = c2 x^2 + c1 x + c0, x = log N (or log D with `fit_in="tokens"`), through the
    lowest-loss size and `window` sizes on each side (None: every size); the vertex x* = -c1 /
    (2 c2) is the optimum (Hoffmann et al. 2022, Sec. 3.2, applied locally as Porian et al.
    2024, Sec. 2 advise). The vertex is used only inside those runs and within the local rise
    of the lowest loss (scattered or repeated sizes can give a flat, meaningless parabola);
    otherwise the lowest-loss size itself. The other quantity and the budget C follow the FLOP
    convention (module docstring): "6ND" takes C as the geometric mean of the runs' 6 N D and
    the other quantity as C / (6 x*); "column" takes C from `flops` and the other quantity by
    log-log interpolation between the runs' own (N, D) either side of x*. `edge` is True when
    the lowest loss is the smallest or largest size sampled: the optimum may lie outside. Runs of one size (seeds, or
    a bootstrap's repeated draws) count once, at their mean loss.
    """
    axis, other = (params, tokens) if fit_in == "params" else (tokens, params)
    x, y, counts = profile(axis, loss)
    best = int(np.argmin(y))
    edge = best in (0, len(y) - 1)
    vertex, vertex_loss = float(x[best]), float(y[best])
    parabola, (x_low, x_high) = _parabola(x, y, counts, window)
    if parabola is not None and parabola[0] > 0:
        c2, c1, c0 = parabola
        candidate = -c1 / (2 * c2)
        candidate_loss = c0 + c1 * candidate + c2 * candidate**2
        reach = len(y) if window is None else window
        local_rise = y[max(0, best - reach):best + reach + 1].max() - y[best]
        if x_low <= candidate <= x_high and abs(candidate_loss - y[best]) <= local_rise:
            vertex, vertex_loss = float(candidate), float(candidate_loss)
    value = float(np.exp(vertex))
    if flops_convention == "6ND":
        budget = float(np.exp(np.log(6.0 * params * tokens).mean()))
        derived = budget / (6.0 * value)
    else:
        if flops is None:
            raise ValueError("the 'column' FLOP convention needs the runs' flops")
        budget = float(np.exp(np.log(flops).mean()))
        sizes, first = np.unique(np.log(axis), return_index=True)  # a size's seeds share its other quantity
        derived = float(np.exp(np.interp(vertex, sizes, np.log(other)[first])))
    found_params, found_tokens = (value, derived) if fit_in == "params" else (derived, value)
    return {"flops": budget, "params": found_params, "tokens": found_tokens, "loss": vertex_loss,
            "n_runs": int(len(params)), "edge": bool(edge)}


def local_parabola(params: Array, loss: Array, window: int | None = 2) -> tuple[Array | None, tuple[float, float]]:
    """The parabola `budget_optimum` uses: (c2, c1, c0) of L = c2 x^2 + c1 x + c0, x = log of
    `params` (or of whichever size variable is passed), through the lowest-loss size and
    `window` sizes on each side (None: all; None for the parabola with fewer than 3 sizes
    there), and the span (x_low, x_high) of those sizes. Plots draw it (scaling.plot)."""
    return _parabola(*profile(params, loss), window)


def _parabola(x: Array, y: Array, counts: Array, window: int | None) -> tuple[Array | None, tuple[float, float]]:
    best = int(np.argmin(y))
    local = slice(0, len(y)) if window is None else slice(max(0, best - window), min(len(y), best + window + 1))
    span = (float(x[local].min()), float(x[local].max()))
    if x[local].size < 3:
        return None, span
    # Weighted by runs per size: the same fit as through every run (a bootstrap's pairs).
    return np.polyfit(x[local], y[local], 2, w=np.sqrt(counts[local])), span


def profile(params: Array, loss: Array) -> tuple[Array, Array, Array]:
    """One IsoFLOP profile as (log N, mean loss, runs), one point per distinct size, sorted by
    size: repeated runs of a size (seeds) are averaged, so the window spans sizes, not runs."""
    sizes, inverse = np.unique(params, return_inverse=True)
    counts = np.bincount(inverse)
    return np.log(sizes), np.bincount(inverse, weights=loss) / counts, counts.astype(float)


def isoflop_optima(runs: pd.DataFrame, *, window: int | None = 2, gap_decades: float = BUDGET_GAP_DECADES,
                   method: IsoflopMethod | None = None) -> list[dict[str, Any]]:
    """One optimum per budget with at least three distinct sizes, sorted by budget (`method`,
    when given, overrides `window`)."""
    method = method or IsoflopMethod(window=window)
    columns = [runs[c].to_numpy(float) for c in ("flops", "params", "tokens", "loss")]
    return _optima(*columns, budget_labels(runs, gap_decades, round_budgets=method.round_budgets), method)


def _optima(flops: Array, params: Array, tokens: Array, loss: Array, labels: Array,
            method: IsoflopMethod) -> list[dict[str, Any]]:
    optima = []
    axis = params if method.fit_in == "params" else tokens
    for label in np.unique(labels):
        member = labels == label
        if np.unique(axis[member]).size < 3:
            logger.info("budget group %d has fewer than 3 distinct sizes; skipped", label)
            continue
        optima.append(budget_optimum(params[member], tokens[member], loss[member], method.window,
                                     fit_in=method.fit_in, flops_convention=method.flops_convention,
                                     flops=flops[member]))
    return optima


def allocation(flops: Array, params: Array, tokens: Array, loss: Array, labels: Array,
               window: int | None = 2, method: IsoflopMethod | None = None) -> dict[str, float]:
    """The Approach 2 estimator on arrays (one run per entry, budget `labels`): per-budget
    optima, then `allocation_from_optima`. The bootstrap and the study designer (scaling.design)
    re-run exactly this; ValueError (NotIdentifiable) when fewer than 2 budgets are interior."""
    return allocation_from_optima(_optima(flops, params, tokens, loss, labels, method or IsoflopMethod(window=window)))


def power_law(flops: Array, values: Array) -> tuple[float, float]:
    """(k, a) of values = k C^a by least squares in log space (Hoffmann et al. 2022, Sec. 3.1-3.2)."""
    a, log_k = np.polyfit(np.log(flops), np.log(values), 1)
    return float(np.exp(log_k)), float(a)


def allocation_from_optima(optima: list[dict[str, Any]]) -> dict[str, float]:
    """k, a (N_opt = k C^a), k_tokens, b (D_opt = k_tokens C^b) from the interior optima.

    Edge optima (lowest loss at the smallest or largest size sampled, `edge` True) are left out:
    the optimum may lie outside the sizes trained. Approaches 1 and 2 and Kaplan's L(C)
    frontier all take their optima through this rule.
    """
    usable = interior_optima(optima)
    if not optima:
        raise NotIdentifiable("no IsoFLOP profile: Approach 2 needs runs at shared budgets (flops), "
                              "3 or more sizes at each of 2 or more budgets")
    if len({o["params"] for o in usable}) < 2:
        raise NotIdentifiable(f"need at least 2 budgets whose minimum is inside the sampled sizes (at two "
                              f"or more sizes), found {len(usable)} of {len(optima)}")
    flops = np.array([o["flops"] for o in usable])
    k, a = power_law(flops, np.array([o["params"] for o in usable]))
    k_tokens, b = power_law(flops, np.array([o["tokens"] for o in usable]))
    return {"k": k, "a": a, "k_tokens": k_tokens, "b": b}


def interior_optima(optima: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The optima the power laws (and Kaplan's L(C) frontier) are fitted to: the non-edge ones."""
    return [o for o in optima if not o["edge"]]


def fit_isoflop(runs: pd.DataFrame | RunsSource, *, window: int | None = 2, gap_decades: float = BUDGET_GAP_DECADES,
                fit_in: str = "params", round_budgets: bool = False, flops_convention: str = "6ND",
                bootstrap: int = 0, level: float = 0.95, seed: int = 0) -> FitResult:
    """Chinchilla Approach 2 (Hoffmann et al. 2022, Sec. 3.2) with a residual bootstrap.

    `window`, `fit_in`, `round_budgets` and `flops_convention` choose how each profile is read
    (`IsoflopMethod`, module docstring); the defaults are the local parabola in log N with
    C = 6 N D. Each is recorded in the fit's options.

    The bootstrap keeps the design (every run's size and budget) and redraws the losses: inside
    each budget's window the local parabola stands for the true profile, and runs get log
    residuals drawn from the pooled, degrees-of-freedom-corrected residuals of every budget's
    parabola (Efron & Tibshirani 1993, Ch. 9.5). Each resample goes through the same estimator
    as the point estimate (`_optima`, then `allocation_from_optima`), and its error against the
    estimator applied to the smoothed profiles is added to the point estimate, so the interval
    is the reported estimator's spread around what it reported. On synthetic sweeps (5 budgets
    over 2 decades, 8 sizes, 1% noise; tests/fit/test_isoflop_calibration.py) the estimate lies
    inside its 90% interval in 160 of 160 replicates and the interval covers N_opt at 100x the
    largest budget in 89%; resampling runs instead thinned an 8-size profile to about 5 sizes,
    a steadier estimator than the one reported, whose interval missed its own estimate.
    """
    method = IsoflopMethod(window=window, fit_in=fit_in, round_budgets=round_budgets,
                           flops_convention=flops_convention)
    runs = average_seeds(read_runs(runs))  # seeds count once: one point per configuration
    optima = isoflop_optima(runs, gap_decades=gap_decades, method=method)
    edges = [o["flops"] for o in optima if o["edge"]]
    if edges:
        warnings.warn(f"{len(edges)} of {len(optima)} budgets have their lowest loss at the smallest or "
                      f"largest size sampled (C = {', '.join(f'{c:.3g}' for c in edges)}); left out of the "
                      "power laws: sample wider sizes there", FitWarning, stacklevel=2)
    fitted = allocation_from_optima(optima)
    flags = allocation_flags(len(optima) - len(edges))
    warn_flags("Approach 2", flags)
    draws, uncertainty, diagnostics = None, "none", {}
    if bootstrap:
        statistic = _ResidualResample.of(runs, method, gap_decades, fitted)
        result = resampling.bootstrap(statistic, bootstrap, seed=seed, what="resamples")
        draws, uncertainty = result.draws, result.uncertainty
        diagnostics = {"bootstrap": result.diagnostics}
    return FitResult.build(
        law="power_allocation", coefficients={"k": fitted["k"], "a": fitted["a"]},
        derived={"a": fitted["a"], "b": fitted["b"], "k_tokens": fitted["k_tokens"]},
        converged=True, message=f"{len(optima) - len(edges)} budgets fitted, {len(edges)} at an edge",
        n_points=len(runs), data_digest=data_digest(runs, ("params", "tokens", "flops")),
        optima=optima, samples=draws, level=level, uncertainty=uncertainty, not_identifiable=flags,
        flops_convention=flops_convention, diagnostics=diagnostics,
        options={"window": window, "gap_decades": gap_decades, "method": method.describe(), "fit_in": fit_in,
                 "round_budgets": round_budgets,
                 **({"resampling": "residuals of the parabolas, design kept"
                     + (", in blocks of one stable run's branches" if statistic.families is not None else "")}
                    if bootstrap else {})})


@dataclass(frozen=True)
class _ResidualResample:
    """One residual-bootstrap resample of an IsoFLOP design (picklable for worker processes)."""

    columns: tuple[Array, Array, Array]
    """flops, params, tokens of every run: the design, kept."""
    labels: Array
    fitted: Array
    """Each run's loss under its budget's local parabola (its observed loss outside the window)."""
    residuals: Array
    """Pooled log residuals log(L / fitted), scaled by sqrt(m / (m - 3)) for m sizes per window."""
    method: IsoflopMethod
    estimate: dict[str, float]
    """The point estimate (k, a, k_tokens, b)."""
    centre: dict[str, float]
    """The same estimator applied to `fitted`: the truth of the bootstrap's world."""
    run_residuals: Array | None = None
    """Each run's scaled log residual (NaN outside its window), for family blocks."""
    families: list[Array] | None = None
    """Runs of each family (cooldown branches of one stable run), by tokens; None when every run
    is its own: then residuals are drawn run by run."""

    @classmethod
    def of(cls, runs: pd.DataFrame, method: IsoflopMethod, gap_decades: float,
           estimate: dict[str, float]) -> _ResidualResample:
        flops, params, tokens, loss = (runs[c].to_numpy(float) for c in ("flops", "params", "tokens", "loss"))
        axis = params if method.fit_in == "params" else tokens
        labels = budget_labels(runs, gap_decades, round_budgets=method.round_budgets)
        fitted = loss.copy()
        residuals = []
        by_run = np.full(loss.size, np.nan)
        for label in np.unique(labels):
            member = np.flatnonzero(labels == label)
            if np.unique(axis[member]).size < 3:
                continue
            parabola, (x_low, x_high) = local_parabola(axis[member], loss[member], method.window)
            x = np.log(axis[member])
            inside = (x >= x_low) & (x <= x_high)
            sizes = np.unique(x[inside]).size
            if parabola is None or parabola[0] <= 0 or sizes <= 3:  # no curvature, or no residual freedom
                continue
            fitted[member[inside]] = np.polyval(parabola, x[inside])
            scale = np.sqrt(sizes / (sizes - 3))
            residuals.append(scale * np.log(loss[member[inside]] / fitted[member[inside]]))
            by_run[member[inside]] = residuals[-1]
        pooled = np.concatenate(residuals) if residuals else np.empty(0)
        families = None
        if "family" in runs.columns and runs["family"].nunique() < len(runs):
            codes = pd.factorize(runs["family"])[0]
            families = [np.flatnonzero(codes == c)[np.argsort(tokens[codes == c])] for c in range(codes.max() + 1)]
        try:
            centre = allocation(flops, params, tokens, fitted, labels, method=method)
        except ValueError:  # the smoothed profiles lose an interior budget: centre on the estimate
            centre = dict(estimate)
        return cls((flops, params, tokens), labels, fitted, pooled, method, dict(estimate), centre, by_run, families)

    def __call__(self, rng: np.random.Generator) -> dict[str, float]:
        if self.residuals.size == 0:
            raise ValueError("no budget has more than 3 sizes around its minimum: no residuals to resample")
        drawn_residuals = rng.choice(self.residuals, size=self.fitted.size)
        if self.families is not None and self.run_residuals is not None:
            # Branches of one stable run share its path, so their errors are not independent: each
            # family takes another family's residuals whole, the k-th shortest branch the donor's
            # k-th (a block bootstrap; Efron & Tibshirani 1993, Ch. 8.6), pooled draws where it has none.
            for members, donor in zip(self.families, rng.integers(0, len(self.families), len(self.families))):
                source = self.families[donor]
                m = min(len(members), len(source))
                values = self.run_residuals[source[:m]]
                kept = np.isfinite(values)
                drawn_residuals[members[:m][kept]] = values[kept]
        loss = self.fitted * np.exp(drawn_residuals)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RANK_WARNING)  # near-duplicate sizes: polyfit still solves
            drawn = allocation(*self.columns, loss, self.labels, method=self.method)
        # Each draw's error against the bootstrap world's truth, added to the point estimate:
        # log N_opt = log k + a log C is linear in (log k, a), so the shift holds at every budget
        # and the interval is the estimator's spread around what it reported. (Reflecting the
        # error instead, the basic bootstrap, covered 84% at nominal 90% on the synthetic check.)
        out = {}
        for scale, exponent in (("k", "a"), ("k_tokens", "b")):
            out[scale] = float(self.estimate[scale] * drawn[scale] / self.centre[scale])
            out[exponent] = self.estimate[exponent] + drawn[exponent] - self.centre[exponent]
        return out
