"""Whole figures for `scaling plot KIND DATA`: panels laid out as the Chinchilla paper's, built
on a bare `Figure` (no pyplot, no global backend), and saved by file extension.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556: Fig. 1 (allocations), Fig. 2
    (curves), Fig. 3 (isoflop), Fig. 4 (contours).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.atomic import check_target
from scaling.laws.base import LawEstimate
from scaling.laws.registry import get_law
from scaling.fit.result import FitResult, FitWarning, resolve_law
from scaling.plot.laws import DEFAULT_COMPARISON, plot_allocations, plot_contours, plot_frontier, plot_penalty
from scaling.plot.runs import plot_branches, plot_curves, plot_isoflop, plot_residuals
from scaling.fit.approaches import fit_approach, prepare
from scaling.runs import read_runs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from scaling.fit.result import FitResult

logger = logging.getLogger(__name__)

FORMATS = (".png", ".svg", ".pdf")
"""Output formats `save_figure` writes, chosen by the file's extension."""
PANEL_SIZE = (4.6, 3.8)
"""Inches per panel."""
BOOTSTRAP = 200
"""Resamples behind the bands of `scaling plot isoflop` / `curves` (Approaches 1-2 refit in milliseconds)."""


def draw_figure(kind: str, data: str, *, runs: str | None = None, laws: Sequence[str] | None = None,
                under: str | None = None, flops_range: tuple[float, float] | None = None,
                bootstrap: int | None = None, columns: Mapping[str, str] | None = None,
                where: Sequence[str] = ()) -> Figure:
    """The figure `scaling plot KIND DATA` draws (see KINDS for what DATA is per kind).

    Parameters
    ----------
    runs
        residuals: the runs a loss fit was fitted to (a sweep directory, file or data set).
    laws
        Presets (or fit .json files) drawn for comparison (frontier, allocations).
    under
        allocations: the loss law that scores each allocation.
    flops_range
        (low, high) budgets of the x axis, FLOPs.
    bootstrap
        isoflop, curves: resamples behind the Approach 2 / Approach 1 bands (default BOOTSTRAP).
    columns, where
        isoflop, curves, residuals: column mapping and row filters for the runs, as
        `scaling.runs.read_runs` takes them (residuals: default, the ones the fit recorded).
    """
    try:
        drawer, _ = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown plot kind {kind!r}; kinds: {', '.join(KINDS)}") from None
    options = {"runs": runs, "laws": laws, "under": under, "flops_range": flops_range, "bootstrap": bootstrap,
               "columns": dict(columns) if columns else None, "where": tuple(where) or None}
    return drawer(data, **{k: v for k, v in options.items() if v is not None})


MAX_PIXELS = 100e6
"""Largest PNG drawn (100 megapixels, 400 MB as RGBA): beyond it the renderer exhausts memory."""


def save_figure(figure: Figure, out: str | Path, *, dpi: int = 150) -> Path:
    """Write `figure` to `out` as PNG, SVG or PDF by extension; returns the path."""
    path = check_target(out, argument="out", suffixes=FORMATS)
    width, height = figure.get_size_inches()
    if path.suffix.lower() == ".png" and width * height * dpi**2 > MAX_PIXELS:
        largest = int((MAX_PIXELS / (width * height)) ** 0.5)
        raise ValueError(f"--dpi {dpi} makes a {width * dpi:.0f} x {height * dpi:.0f} pixel PNG; "
                         f"at most {largest} dpi for this figure ({MAX_PIXELS / 1e6:.0f} megapixels)")
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def _figure(panels: int) -> tuple[Figure, list[Any]]:
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.figure import Figure

    figure = Figure(figsize=(PANEL_SIZE[0] * panels, PANEL_SIZE[1]), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _estimate(data: str) -> LawEstimate:
    return resolve_law(data)


def _approach_fit(approach: str, prepared: Any, bootstrap: int) -> FitResult | None:
    """An Approach 1 or 2 fit (the registry's) with a bootstrap band, or None (logged) when the
    runs cannot give one."""
    try:
        with warnings.catch_warnings():
            # Edge budgets are flagged on the figure itself (hollow markers); the warning would repeat it.
            warnings.simplefilter("ignore", FitWarning)
            return next(iter(fit_approach(approach, prepared, bootstrap=bootstrap, seed=0).values()))
    except ValueError as exc:
        logger.warning("no compute-optimal fit drawn: %s", exc)
        return None


def _with_frontier(fit: FitResult | None, figure_panels: int, draw: Callable[[Any], None],
                   laws: Sequence[str] | None, flops_range: tuple[float, float] | None) -> Figure:
    """`draw` on the first panel; N_opt(C) and D_opt(C) of `fit` on two more when there is a fit."""
    figure, axes = _figure(figure_panels if fit is not None else 1)
    draw(axes[0])
    if fit is not None:
        compare_with = [resolve_law(name) for name in (laws or DEFAULT_COMPARISON)]
        plot_frontier(fit, quantity="params", compare_with=compare_with, flops_range=flops_range, ax=axes[1])
        plot_frontier(fit, quantity="tokens", compare_with=compare_with, flops_range=flops_range, ax=axes[2])
        axes[2].get_legend().remove()
    return figure


def _isoflop(data: str, *, laws: Sequence[str] | None = None, flops_range: tuple[float, float] | None = None,
             bootstrap: int = BOOTSTRAP, columns: Mapping[str, str] | None = None,
             where: Sequence[str] = (), **_: Any) -> Figure:
    prepared = prepare(data, columns=columns, where=where)
    fit = _approach_fit("2", prepared, bootstrap)
    return _with_frontier(fit, 3, lambda ax: plot_isoflop(prepared.all_runs, fit=fit, ax=ax), laws, flops_range)


def _curves(data: str, *, laws: Sequence[str] | None = None, flops_range: tuple[float, float] | None = None,
            bootstrap: int = BOOTSTRAP, columns: Mapping[str, str] | None = None,
            where: Sequence[str] = (), **_: Any) -> Figure:
    prepared = prepare(data, columns=columns, where=where)
    if prepared.curves is None:
        raise ValueError(f"curves: DATA must be a sweep directory (or a table with several rows per run_id), "
                         f"got {data!r}")
    fit = _approach_fit("1", prepared, bootstrap)
    return _with_frontier(fit, 3, lambda ax: plot_curves(prepared.curves, ax=ax), laws, flops_range)


def _frontier(data: str, *, laws: Sequence[str] | None = None,
              flops_range: tuple[float, float] | None = None, **_: Any) -> Figure:
    return frontier_figure(_estimate(data), laws=laws, flops_range=flops_range)


def frontier_figure(fit: LawEstimate, *, laws: Sequence[str] | None = None,
                    flops_range: tuple[float, float] | None = None) -> Figure:
    """N_opt(C) and D_opt(C) of `fit` (with its bootstrap band) beside the presets `laws`."""
    compare_with = [resolve_law(name) for name in (laws or DEFAULT_COMPARISON)]
    figure, (left, right) = _figure(2)
    plot_frontier(fit, quantity="params", compare_with=compare_with, flops_range=flops_range, ax=left)
    plot_frontier(fit, quantity="tokens", compare_with=compare_with, flops_range=flops_range, ax=right)
    right.get_legend().remove()
    return figure


def _contours(data: str, *, flops_range: tuple[float, float] | None = None, **_: Any) -> Figure:
    law = _estimate(data)
    figure, (left, right) = _figure(2)
    kwargs: dict[str, Any] = {"flops_range": flops_range} if flops_range else {}
    plot_contours(law, space="flops", ax=left, **kwargs)
    plot_contours(law, space="tokens", ax=right, **kwargs)
    return figure


def _allocations(data: str, *, under: str | None = None, flops_range: tuple[float, float] | None = None,
                 **_: Any) -> Figure:
    estimates = [resolve_law(name) for name in data.split(",") if name]
    scorer = resolve_law(under) if under else next(
        (e for e in estimates if get_law(e.law).predicts_loss), resolve_law("chinchilla-unrounded"))
    figure, (left, right) = _figure(2)
    kwargs: dict[str, Any] = {"flops_range": flops_range} if flops_range else {}
    plot_allocations(estimates, ax=left, **kwargs)
    plot_penalty(estimates, under=scorer, ax=right, **kwargs)
    return figure


def _residuals(data: str, *, runs: str | None = None, columns: Mapping[str, str] | None = None,
               where: Sequence[str] = (), **_: Any) -> Figure:
    if not data.endswith(".json"):
        raise ValueError(f"residuals: DATA must be a fit .json file (from `scaling fit`), got {data!r}")
    fit = resolve_law(data)
    assert isinstance(fit, FitResult)
    table = None
    if runs is not None:  # read as the fit read them, unless told otherwise
        table = read_runs(runs, columns=columns or fit.columns or None, where=tuple(where) or tuple(fit.where))
    figure, (left, right) = _figure(2)
    plot_residuals(fit, table, x="flops", ax=left)
    plot_residuals(fit, table, x="params", ax=right)
    return figure


def _branches(data: str, *, runs: str | None = None, **_: Any) -> Figure:
    figure, (left, right) = _figure(2)
    plot_branches(data, compare=runs, ax=left, ax_final=right)
    return figure


KINDS: dict[str, tuple[Callable[..., Figure], str]] = {
    "isoflop": (_isoflop, "runs of an IsoFLOP sweep: profiles, local fits, minima, and Approach 2's N_opt, D_opt (Fig. 3)"),
    "curves": (_curves, "a sweep directory: training curves by N, the envelope, and Approach 1's N_opt, D_opt (Fig. 2)"),
    "frontier": (_frontier, "a fit .json or preset: N_opt(C) and D_opt(C) with bootstrap bands (Fig. 3 middle/right)"),
    "contours": (_contours, "a loss law (fit .json or preset): loss contours, frontier, iso-FLOP lines (Fig. 4)"),
    "allocations": (_allocations, "comma-separated presets or fits: allocations and their loss penalty (Fig. 1)"),
    "residuals": (_residuals, "a fit .json (and --runs for a loss law): residuals against C and N"),
    "branches": (_branches, "a WSD sweep directory (and --runs for the same points as separate runs): "
                            "cooldown branches fanning off each stable run, final losses against tokens"),
}
"""Kind -> (drawer, what DATA is and what the figure shows)."""
