"""Figures people read scaling laws by: functions (data, ax=None) -> Axes.

They never show or save; the caller (a notebook, `scaling plot`) does. Importing this package
imports matplotlib, so nothing on the `plan`/`compare`/`fit` path imports it.

References: Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Figs. 1-4; see each module.
"""

from scaling.plot.laws import plot_allocations, plot_contours, plot_exponents, plot_frontier, plot_penalty
from scaling.plot.runs import plot_curves, plot_isoflop, plot_residuals
from scaling.plot.style import PALETTE, Style, law_style

__all__ = ["PALETTE", "Style", "law_style", "plot_allocations", "plot_contours", "plot_curves", "plot_exponents", "plot_frontier",
           "plot_isoflop", "plot_penalty", "plot_residuals"]
