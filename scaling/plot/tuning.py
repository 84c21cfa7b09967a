"""Figures of hyperparameter tuning: loss against learning rate per width (transfer), and loss
against learning rate and batch per budget with the fitted optimum (`scaling tune`).

References:
    Yang et al. 2022 (Tensor Programs V), arXiv:2203.03466, Fig. 1 (loss vs log2 LR per width).
    DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Fig. 2-3 (the LR x batch grid and the
        near-optimal band; eta_opt(C), B_opt(C)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scaling.plot.style import get_axes, sequential_colors

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from scaling.tuning.grid import TuneResult


def plot_lr_transfer(losses: Mapping[int, Mapping[float, float | None]], best: Mapping[int, float], *,
                     ax: Axes | None = None) -> Axes:
    """Final loss against peak LR (log2 axis), one line per width, each width's best LR marked."""
    ax = get_axes(ax)
    for (width, row), color in zip(sorted(losses.items()), sequential_colors(len(losses))):
        points = sorted((lr, loss) for lr, loss in row.items() if loss is not None and math.isfinite(loss))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=4, color=color,
                label=f"d_model {width}")
        ax.axvline(best[width], color=color, linestyle=":", linewidth=1.2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("final held-out loss (nats/token)")
    ax.legend(fontsize=8)
    return ax


def plot_tune_budget(runs: pd.DataFrame, *, x: str, optimum: float, ax: Axes | None = None) -> Axes:
    """One budget of an LR x batch grid: final loss against `x` ("lr" or "batch_tokens"), one line
    per value of the other hyperparameter; near-optimal runs ringed; the fitted optimum dashed."""
    ax = get_axes(ax)
    other = "batch_tokens" if x == "lr" else "lr"
    levels = sorted(runs[other].unique())
    for level, color in zip(levels, sequential_colors(len(levels))):
        group = runs[runs[other] == level].sort_values(x)
        ax.plot(group[x], group["loss"], marker="o", markersize=3.5, color=color, linewidth=1.1,
                label=f"{'batch' if other == 'batch_tokens' else 'LR'} {level:.3g}")
        band = group[group["near_optimal"]]
        ax.plot(band[x], band["loss"], marker="o", markersize=8, markerfacecolor="none", markeredgecolor="black",
                linestyle="none")
    ax.axvline(optimum, color="black", linestyle="--", linewidth=1.0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("peak learning rate" if x == "lr" else "batch (tokens per step)")
    return ax


def tune_figure(result: TuneResult) -> Figure:
    """Loss against LR (top) and batch (bottom) per budget with the fitted eta_opt(C), B_opt(C)
    dashed and the near-optimal band ringed (DeepSeek-AI 2024, Fig. 2-3 style)."""
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.figure import Figure

    budgets = sorted(result.runs["budget_flops"].unique())
    figure = Figure(figsize=(3.4 * len(budgets), 6.0), layout="constrained")
    axes = figure.subplots(2, len(budgets), squeeze=False)
    for column, budget in enumerate(budgets):
        group = result.runs[result.runs["budget_flops"] == budget]
        flops = float(np.exp(np.log(group["flops"]).mean()))
        plot_tune_budget(group, x="lr", optimum=result.rules.lr(flops), ax=axes[0][column])
        plot_tune_budget(group, x="batch_tokens", optimum=result.rules.batch_tokens(flops), ax=axes[1][column])
        axes[0][column].set_title(f"C = {budget:.3g} FLOPs")
    for row in axes:
        row[0].set_ylabel("final held-out loss (nats/token)")
        row[-1].legend(fontsize=7)
    figure.suptitle(f"eta_opt = {result.rules.lr.k:.3g} C^{result.rules.lr.p:.3f}, B_opt = "
                    f"{result.rules.batch_tokens.k:.3g} C^{result.rules.batch_tokens.p:.3f} (band "
                    f"{result.rules.band:.2%}; ringed: near-optimal runs)", fontsize=9)
    return figure
