"""Figures of laws: compute-optimal allocations against budget (with a fit's bootstrap band),
loss contours with the efficient frontier, and the loss penalty of each allocation.

Every number comes from a `LawEstimate` (a preset or a `FitResult`) or from `scaling.analysis.compare`;
nothing here is a formula. Each function takes an optional Axes and returns the Axes.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556: Fig. 1 (allocations and Table 1's
    models), Fig. 3 middle/right (N_opt(C), D_opt(C)), Fig. 4 left (loss contours over (C, N)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from scaling.analysis.compare import compare
from scaling.laws.base import Array, LawEstimate
from scaling.laws.registry import get_law
from scaling.laws.presets import convert_params, get_preset
from scaling.plot.style import AXIS_LABELS, flops_grid, get_axes, law_style, log_axes, params_label
from scaling.fit.result import allocation_exponents

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from scaling.fit.result import FitResult

DEFAULT_COMPARISON = ("chinchilla-approach1", "chinchilla-approach2", "chinchilla", "kaplan2020")
"""Presets drawn for comparison by default: Hoffmann et al. 2022's three approaches and Kaplan's."""

TABLE1_MODELS = {
    "GPT-3": (175e9, 300e9),
    "Gopher": (280e9, 300e9),
    "MT-NLG 530B": (530e9, 270e9),
    "Chinchilla": (70e9, 1.4e12),
}
"""(params, tokens) of the large models in Hoffmann et al. 2022, Table 1 (placed at C = 6 N D)."""

QUANTITIES = ("params", "tokens")
CONTOUR_POINTS = 120
"""Grid points per axis of the loss contours (smooth at print size, quick in SVG/PDF)."""


def plot_allocations(estimates: Sequence[LawEstimate | str] = DEFAULT_COMPARISON, *,
                     quantity: str = "params", flops_range: Sequence[float] = (1e17, 1e26),
                     convention: str = "total", models: bool = True, ax: Axes | None = None) -> Axes:
    """Each law's compute-optimal params (or tokens) against budget (Hoffmann et al. 2022, Fig. 1).

    Parameters
    ----------
    estimates
        Presets (by name) or fits; each is drawn in its `PALETTE` style.
    quantity
        "params" (N_opt, converted to `convention`) or "tokens" (D_opt, each law's own).
    models
        Mark Table 1's large models (GPT-3, Gopher, MT-NLG, Chinchilla) at C = 6 N D.
    """
    _check_quantity(quantity)
    estimates = [get_preset(e) if isinstance(e, str) else e for e in estimates]
    if not estimates:
        raise ValueError("no law to draw")
    ax = get_axes(ax)
    budgets = flops_grid(flops_range)
    for estimate in estimates:
        ax.plot(budgets, allocation(estimate, budgets, quantity, convention),
                label=estimate.label, linewidth=1.8, **law_style(estimate.label).line())
    if models:
        _mark_models(ax, quantity)
    log_axes(ax, "flops", params_label(convention) if quantity == "params" else "tokens")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_frontier(fit: LawEstimate, *, quantity: str = "params", flops_range: Sequence[float] | None = None,
                  compare_with: Sequence[LawEstimate | str] = DEFAULT_COMPARISON,
                  ax: Axes | None = None) -> Axes:
    """A fit's N_opt(C) or D_opt(C) with its bootstrap band, the per-budget optima it was fitted
    to (Approaches 1 and 2) and the presets' lines (Hoffmann et al. 2022, Fig. 3 middle/right).

    The band is the fit's percentile interval over its bootstrap draws
    (`FitResult.optimal_interval`); fits without draws get no band.
    """
    _check_quantity(quantity)
    optima = [row for row in getattr(fit, "optima", []) or [] if quantity in row]
    if flops_range is None:
        spans = [row["flops"] for row in optima] or [1e18, 1e22]
        flops_range = (min(spans) / 3.0, max(spans) * 1e3)
    budgets = flops_grid(flops_range)
    convention = fit.params_convention
    ax = get_axes(ax)
    for name in compare_with:
        estimate = get_preset(name) if isinstance(name, str) else name
        ax.plot(budgets, allocation(estimate, budgets, quantity, convention), label=estimate.label,
                linewidth=1.2, alpha=0.9, **law_style(estimate.label).line())
    style = law_style("fit")
    if getattr(fit, "samples", None):
        low, high = fit.optimal_interval(budgets)[quantity]  # type: ignore[attr-defined]
        level = getattr(fit, "level", 0.95)
        ax.fill_between(budgets, low, high, color="0.6", alpha=0.45, linewidth=0,
                        label=f"{level:.0%} bootstrap interval")
    ax.plot(budgets, allocation(fit, budgets, quantity, convention), linewidth=2.2, label=_fit_label(fit, quantity),
            **style.line())
    interior = [row for row in optima if not row.get("edge")]
    edge = [row for row in optima if row.get("edge")]
    if interior:
        ax.plot([row["flops"] for row in interior], [row[quantity] for row in interior], markersize=6,
                markerfacecolor="white", markeredgewidth=1.5, label="per-budget optima", **style.points())
    if edge:
        ax.plot([row["flops"] for row in edge], [row[quantity] for row in edge], marker="o", markersize=5,
                color="0.55", markerfacecolor="none", linestyle="none", label="optima at an edge (not fitted)")
    log_axes(ax, "flops", params_label(convention) if quantity == "params" else "tokens")
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_contours(law: LawEstimate | str, *, space: str = "flops", flops_range: Sequence[float] = (1e18, 1e23),
                  budgets: Sequence[float] | None = None, levels: int = 14, ax: Axes | None = None) -> Axes:
    """Loss contours of a parametric law with its efficient frontier and iso-FLOP lines
    (Hoffmann et al. 2022, Fig. 4 left).

    Parameters
    ----------
    space
        "flops": x = training FLOPs C, y = params N, loss at D = C / (6 N); iso-FLOP lines are
        vertical. "tokens": x = tokens D, y = params N; iso-FLOP lines are N D = C / 6.
    budgets
        Iso-FLOP lines to draw (default: one per decade of `flops_range`).
    """
    law = get_preset(law) if isinstance(law, str) else law
    if not get_law(law.law).predicts_loss:
        raise ValueError(f"{law.label} predicts no loss: contours need a loss law (e.g. chinchilla)")
    if space not in ("flops", "tokens"):
        raise ValueError(f"space must be 'flops' or 'tokens', got {space!r}")
    grid = flops_grid(flops_range, CONTOUR_POINTS)
    frontier_params, frontier_tokens = (np.asarray(v, dtype=float) for v in law.optimal(grid))
    budgets = _decades(grid) if budgets is None else np.asarray(budgets, dtype=float)
    params = np.geomspace(frontier_params.min() / 30.0, frontier_params.max() * 30.0, CONTOUR_POINTS)
    ax = get_axes(ax)
    if space == "flops":
        x, y = np.meshgrid(grid, params)
        loss = law.predict(y, x / (6.0 * y))
        frontier_x = grid
    else:
        tokens = np.geomspace(frontier_tokens.min() / 30.0, frontier_tokens.max() * 30.0, CONTOUR_POINTS)
        x, y = np.meshgrid(tokens, params)
        loss = law.predict(y, x)
        frontier_x = frontier_tokens
    steps, fmt = round_levels(*np.quantile(loss, [0.0, 0.9]), levels)
    filled = ax.contourf(x, y, loss, levels=steps, cmap="Blues_r", extend="both", alpha=0.9)
    lines = ax.contour(x, y, loss, levels=steps[::2], colors="0.25", linewidths=0.6)
    ax.clabel(lines, fmt=fmt, fontsize=7, manual=label_positions(lines, x, y))
    ax.figure.colorbar(filled, ax=ax, format=fmt, label=f"{AXIS_LABELS['loss']} under {law.label}")
    _draw_isoflop_lines(ax, budgets, space, params)
    ax.plot(frontier_x, frontier_params, linewidth=2.6, color=law_style(law.label).color,
            label=f"efficient frontier ({law.label})")
    log_axes(ax, "flops" if space == "flops" else "tokens", params_label(law.params_convention))
    ax.set_xlim(x.min(), x.max())
    ax.set_ylim(params.min(), params.max())
    ax.grid(False)
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_penalty(allocations: Sequence[LawEstimate | str] = ("kaplan2020", "chinchilla-unrounded", "epoch2024"),
                 under: LawEstimate | str = "chinchilla-unrounded", *, flops_range: Sequence[float] = (1e18, 1e26),
                 ax: Axes | None = None) -> Axes:
    """Loss above the optimum, in percent, of each law's model size trained on the whole budget,
    scored under one loss law (`scaling.analysis.compare`; Hoffmann et al. 2022, Sec. 1 on Kaplan's sizes)."""
    allocations = [get_preset(e) if isinstance(e, str) else e for e in allocations]
    under = get_preset(under) if isinstance(under, str) else under
    budgets = flops_grid(flops_range, 30)
    comparison = compare(allocations, [under], list(budgets))
    ax = get_axes(ax)
    for estimate in allocations:
        rows = [e for e in comparison.evaluations if e.allocation == estimate.label]
        style = law_style(estimate.label)
        ax.plot([e.flops for e in rows], [e.excess_pct for e in rows], label=estimate.label, linewidth=1.8,
                marker=style.marker, markevery=5, markersize=5, **style.line())
    ax.set_xscale("log")
    ax.set_xlabel(AXIS_LABELS["flops"])
    ax.set_ylabel(f"loss above the optimum under {under.label} (%)")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_exponents(fits: Mapping[str, FitResult], *, exponent: str = "a",
                   references: Sequence[LawEstimate | str] = ("kaplan2020", "chinchilla-approach2"),
                   ax: Axes | None = None) -> Axes:
    """Each fit's allocation exponent (a: N_opt ~ C^a, or b: D_opt ~ C^b) with its bootstrap
    interval, one row per fit in the given order, against the presets' exponents as vertical
    lines (Porian et al. 2024, Fig. 1: the exponent moving from Kaplan's to Chinchilla's)."""
    if exponent not in ("a", "b"):
        raise ValueError(f"exponent must be 'a' or 'b', got {exponent!r}")
    if not fits:
        raise ValueError("no fit to draw")
    ax = get_axes(ax)
    for row, (name, fit) in enumerate(fits.items()):
        if exponent not in fit.derived:
            raise ValueError(f"fit {name!r} ({fit.law}) has no allocation exponent {exponent}")
        value = fit.derived[exponent]
        # A percentile interval need not hold the point estimate (a skewed or discrete bootstrap
        # distribution): the bar is drawn as it is, not as an error about the point.
        low, high = fit.intervals.get(exponent, (value, value))
        ax.plot([low, high], [row, row], color="black", linewidth=1.2, marker="|", markersize=7)
        ax.plot([value], [row], color="black", marker="o", markerfacecolor="white", linestyle="none")
    for reference in references:
        estimate = get_preset(reference) if isinstance(reference, str) else reference
        value = float(allocation_exponents(estimate.law, estimate.coefficients)[exponent])
        style = law_style(estimate.label)
        ax.axvline(value, linewidth=1.6, label=f"{estimate.label}: {exponent} = {value:.2f}", **style.line())
    ax.set_yticks(range(len(fits)), list(fits))
    ax.invert_yaxis()  # first fit on top, as a table reads
    quantity = "N_opt" if exponent == "a" else "D_opt"
    ax.set_xlabel(f"{exponent}: {quantity} ~ C^{exponent} (bars: bootstrap interval)")
    ax.grid(True, axis="x", alpha=0.3, linewidth=0.6)
    ax.legend(fontsize="small", frameon=False)
    return ax


def allocation(estimate: LawEstimate, budgets: Array, quantity: str, convention: str = "total") -> Array:
    """An estimate's optimal params (converted to `convention`, Pearce & Song 2024) or tokens at `budgets`."""
    params, tokens = estimate.optimal(budgets)
    if quantity == "tokens":
        return np.asarray(tokens, dtype=float)
    return convert_params(params, source=estimate.params_convention, target=convention)


def _fit_label(fit: LawEstimate, quantity: str) -> str:
    """"fit (Approach 2): a = 0.501" for a FitResult with allocation exponents, else the label."""
    derived = getattr(fit, "derived", {})
    exponent = "a" if quantity == "params" else "b"
    if exponent not in derived:
        return fit.label
    return f"fit (Approach {getattr(fit, 'approach', '?')}): {exponent} = {derived[exponent]:.3f}"


def _mark_models(ax: Axes, quantity: str) -> None:
    for name, (params, tokens) in TABLE1_MODELS.items():
        value = params if quantity == "params" else tokens
        marker = "*" if name == "Chinchilla" else "o"
        ax.plot(6.0 * params * tokens, value, marker=marker, markersize=11 if marker == "*" else 6,
                color="black", markerfacecolor="white" if marker == "o" else "black", linestyle="none")
        right = name in ("Gopher", "Chinchilla")  # neighbours' labels go on opposite sides
        ax.annotate(name, (6.0 * params * tokens, value), textcoords="offset points", fontsize=7,
                    xytext=(7 if right else -7, -3), ha="left" if right else "right")


def _draw_isoflop_lines(ax: Axes, budgets: Array, space: str, params: Array) -> None:
    for index, budget in enumerate(budgets):
        label = "iso-FLOP lines" if index == 0 else None
        if space == "flops":
            ax.axvline(budget, color="0.1", linestyle=(0, (4, 3)), linewidth=0.8, label=label)
        else:
            ax.plot(budget / (6.0 * params), params, color="0.1", linestyle=(0, (4, 3)), linewidth=0.8, label=label)


def round_levels(low: float, high: float, count: int) -> tuple[Array, str]:
    """About `count` contour levels at round values (steps of 1, 2, 2.5 or 5 x 10^k) covering
    [low, high], and the printf format that prints them without superfluous digits."""
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(nbins=count, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    inside = ticks[(ticks > low) & (ticks <= high)]
    step = float(np.min(np.diff(ticks)))
    exponent = int(np.floor(np.log10(step) + 1e-9))
    decimals = max(0, -exponent + (1 if round(step / 10.0**exponent, 6) == 2.5 else 0))  # 0.25 needs two
    return inside, f"%.{decimals}f"


def label_positions(lines: object, x: Array, y: Array, margin: float = 0.12,
                    spacing: float = 0.12) -> list[tuple[float, float]]:
    """Label positions for contour lines, each on its line, at least `margin` (a fraction of each
    log axis) inside the plot, so no label is cut at an edge, and `spacing` from every other
    label, so none covers another. A line's label goes a third of the way along its longest piece
    inside the margin (off the contour's nose, where the efficient frontier runs), else at the
    first of a few other places along it that is clear; a line with no such place goes unlabelled."""
    spans = [(np.log10(v.min()), np.log10(v.max())) for v in (x, y)]
    kept: list[tuple[float, float]] = []  # in axis fractions
    positions = []
    for segments in lines.allsegs:  # type: ignore[attr-defined]
        if isinstance(segments, np.ndarray) and segments.ndim == 2:  # matplotlib 3.8.0: one array per level
            segments = [segments]
        pieces = []
        for segment in segments:
            if not len(segment):
                continue
            fx, fy = ((np.log10(segment[:, i]) - lo) / (hi - lo) for i, (lo, hi) in enumerate(spans))
            points = np.flatnonzero((fx >= margin) & (fx <= 1 - margin) & (fy >= margin) & (fy <= 1 - margin))
            if points.size:
                pieces.append((segment[points], np.column_stack([fx[points], fy[points]])))
        if not pieces:
            continue
        data, fractions = max(pieces, key=lambda piece: len(piece[0]))
        for share in (1 / 3, 1 / 2, 2 / 3, 1 / 6, 5 / 6):
            index = min(int(share * len(data)), len(data) - 1)
            if all(np.hypot(*(fractions[index] - other)) >= spacing for other in kept):
                kept.append(tuple(fractions[index]))
                positions.append((float(data[index, 0]), float(data[index, 1])))
                break
    return positions


def _decades(grid: Array) -> Array:
    exponents = np.arange(np.ceil(np.log10(grid[0])), np.floor(np.log10(grid[-1])) + 1)
    return 10.0**exponents


def _check_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be 'params' or 'tokens', got {quantity!r}")
