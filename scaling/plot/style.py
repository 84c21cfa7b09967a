"""One look for every figure: a style per law (colour, marker, line style), budget colours,
axis labels with units, and the axes helper every plot function starts from.

Each law keeps its colour across figures, and each also differs by marker and line style, so a
figure printed in greyscale still reads. Budgets and model sizes use viridis, whose lightness
rises monotonically (it stays ordered in greyscale).

References:
    Okabe & Ito 2008, "Color Universal Design" (the colour-blind-safe palette below);
    van der Walt & Smith 2015, matplotlib's viridis (monotonic lightness).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass(frozen=True, kw_only=True)
class Style:
    """How one law is drawn: `color`, `marker` and `linestyle` are matplotlib values."""

    color: str
    marker: str
    linestyle: str | tuple[int, tuple[int, ...]]

    def line(self) -> dict[str, Any]:
        """Keyword arguments for `Axes.plot` of this law's line (no marker on every point)."""
        return {"color": self.color, "linestyle": self.linestyle}

    def points(self) -> dict[str, Any]:
        """Keyword arguments for `Axes.plot` of this law's markers alone."""
        return {"color": self.color, "marker": self.marker, "linestyle": "none"}


# Okabe-Ito colours. Approaches 1/2/3 of Hoffmann et al. 2022 in Fig. 1's order (blue, orange,
# green); Kaplan in vermillion and dashed, as the odd one out.
PALETTE: dict[str, Style] = {
    "chinchilla-approach1": Style(color="#0072B2", marker="h", linestyle="-"),
    "chinchilla-approach2": Style(color="#E69F00", marker="s", linestyle=(0, (6, 2))),
    "chinchilla": Style(color="#009E73", marker="^", linestyle=(0, (1, 1.5))),
    "chinchilla-unrounded": Style(color="#004D40", marker="v", linestyle=(0, (4, 1.5, 1, 1.5))),
    "epoch2024": Style(color="#CC79A7", marker="D", linestyle=(0, (8, 2, 1, 2, 1, 2))),
    "kaplan2020": Style(color="#D55E00", marker="x", linestyle="--"),
    "tokens-per-param-20": Style(color="#7F7F7F", marker="+", linestyle=":"),
    "muennighoff2023": Style(color="#56B4E9", marker="P", linestyle="-."),
    "fit": Style(color="#000000", marker="o", linestyle="-"),
}
"""Style of each preset (scaling.laws.presets) and of a user's fit ("fit"); one entry per law."""

_SPARE = ("#F0E442", "#882255", "#44AA99", "#332288")
_SPARE_MARKERS = ("P", "X", "*", "h")
_SPARE_LINES: tuple[str | tuple[int, tuple[int, ...]], ...] = ("-.", (0, (3, 1, 1, 1, 1, 1)), (0, (2, 2)), (0, (10, 3)))

AXIS_LABELS = {
    "params": "parameters N",
    "params_nonembedding": "non-embedding parameters N",
    "tokens": "training tokens D",
    "flops": "training compute C (FLOPs)",
    "loss": "loss (nats/token)",
}
"""Axis labels with units, keyed by the scaling quantity's name (`params`, `tokens`, `flops`, `loss`)."""


def law_style(label: str) -> Style:
    """The style of a preset or fit label ("fit:<law>@<digest>" draws as "fit")."""
    if label in PALETTE:
        return PALETTE[label]
    if label.startswith("fit"):
        return PALETTE["fit"]
    index = sum(map(ord, label)) % len(_SPARE)  # stable across runs and figures
    return Style(color=_SPARE[index], marker=_SPARE_MARKERS[index], linestyle=_SPARE_LINES[index])


def sequential_colors(count: int) -> list[tuple[float, float, float, float]]:
    """`count` viridis colours from dark to light (budgets, model sizes), avoiding the pale end."""
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib import colormaps

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.85, max(count, 1))][:count]


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p")
"""Markers cycled over budgets and model sizes (greyscale readers tell series apart by them)."""


def params_label(convention: str) -> str:
    """Axis label for parameters in a convention ("total" or "non-embedding")."""
    return AXIS_LABELS["params"] if convention == "total" else AXIS_LABELS["params_nonembedding"]


def get_axes(ax: Axes | None) -> Axes:
    """`ax`, or new axes on a new figure (pyplot only then: notebooks show it inline)."""
    if ax is not None:
        return ax
    # lazy: matplotlib loads only when a figure is drawn
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(5.5, 4.2))
    return ax


def log_axes(ax: Axes, x: str, y: str) -> None:
    """Log-log axes labelled with units; `x`, `y` are AXIS_LABELS keys or literal labels."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(AXIS_LABELS.get(y, y))
    ax.grid(True, which="major", alpha=0.3, linewidth=0.6)


def flops_grid(flops_range: Sequence[float], points: int = 60) -> npt.NDArray[np.float64]:
    """Log-spaced budgets over `flops_range` = (low, high) FLOPs (ValueError unless 0 < low < high)."""
    low, high = (float(v) for v in flops_range)
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(f"flops_range must be (low, high) with 0 < low < high, got {tuple(flops_range)}")
    if points < 2:
        raise ValueError(f"points must be at least 2, got {points}")
    return np.geomspace(low, high, points)
