"""Figures of runs: IsoFLOP profiles with their local fits, training curves with the
Approach-1 envelope, and residuals of a fit against its data.

Observed values come from `scaling.runs`; optima, local parabolas and the envelope from
`scaling.fit.isoflop` / `scaling.fit.envelope`; predictions from the fit. Each function
takes an optional Axes and returns the Axes.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556: Fig. 2 left (curves and envelope),
    Fig. 3 left (IsoFLOP profiles), Fig. 4 right (IsoFLOP slices of the parametric fit),
    App. D.2 (residuals in log loss, the space its Huber objective measures).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from scaling.laws.base import LawEstimate
from scaling.laws.registry import get_law
from scaling.fit.isoflop import budget_labels, isoflop_optima, local_parabola, profile
from scaling.laws.presets import get_preset
from scaling.plot.style import AXIS_LABELS, MARKERS, get_axes, law_style, params_label, sequential_colors
from scaling.rundir.curve import read_curve
from scaling.rundir.summary import read_summary
from scaling.runs import RunsSource, read_runs
from scaling.fit.envelope import N_BUDGETS, envelope_optima

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from scaling.fit.result import FitResult

RESIDUAL_AXES = ("flops", "params", "tokens")


def plot_isoflop(runs: RunsSource, *, fit: FitResult | None = None, law: LawEstimate | str | None = None,
                 window: int | None = 2, ax: Axes | None = None) -> Axes:
    """Loss against params per budget with each budget's local parabola and its minimum
    (Hoffmann et al. 2022, Fig. 3 left); `law` adds its IsoFLOP slices, dashed (Fig. 4 right).
    Seeds of one size are drawn faint, their mean solid.

    Parameters
    ----------
    runs
        Runs of an IsoFLOP sweep (DataFrame, file, data set name or sweep directory).
    fit
        An Approach-2 fit of these runs: its optima are marked (default: computed here with
        `window`, as `fit_isoflop` does).
    law
        A loss law (preset name, preset or fit) whose loss at D = C / (6 N) is drawn per budget.
    """
    runs = read_runs(runs)
    if fit is not None and (fit.approach not in ("2", None) or not fit.optima):
        raise ValueError(f"fit must be an Approach 2 fit (IsoFLOP optima), got approach {fit.approach!r}")
    law = get_preset(law) if isinstance(law, str) else law
    if law is not None and not get_law(law.law).predicts_loss:
        raise ValueError(f"{law.label} predicts no loss: IsoFLOP slices need a loss law")
    window = fit.options.get("window", window) if fit is not None else window  # None: the whole profile
    # A parabola fitted in log D is not drawn on a params axis (its optima still are).
    draw_parabolas = fit is None or fit.options.get("fit_in", "params") == "params"
    optima = fit.optima if fit is not None else isoflop_optima(runs, window=window)
    labels = budget_labels(runs)
    groups = [runs[labels == label] for label in np.unique(labels)]
    ax = get_axes(ax)
    for index, (group, color) in enumerate(zip(groups, sequential_colors(len(groups)))):
        budget = float(np.exp(np.log(group["flops"]).mean()))
        marker = MARKERS[index % len(MARKERS)]
        params, loss = group["params"].to_numpy(float), group["loss"].to_numpy(float)
        log_sizes, mean_loss, _ = profile(params, loss)
        if log_sizes.size < params.size:  # seeds: each run faint, the mean per size (what is fitted) solid
            ax.plot(params, loss, marker=marker, linestyle="none", color=color, markersize=3, alpha=0.35)
        ax.plot(np.exp(log_sizes), mean_loss, marker=marker, linestyle="none", color=color, markersize=5,
                alpha=0.85, label=f"{budget:.2g} FLOPs")
        parabola, (x_low, x_high) = local_parabola(params, loss, window)
        if draw_parabolas and parabola is not None and group["params"].nunique() >= 3:
            x = np.linspace(x_low, x_high, 50)
            ax.plot(np.exp(x), np.polyval(parabola, x), color=color, linewidth=1.4)
        if law is not None:
            sizes = np.geomspace(params.min(), params.max(), 60)
            ax.plot(sizes, law.predict(sizes, budget / (6.0 * sizes)), color=color, linewidth=1.0,
                    linestyle=(0, (4, 2)))
    _mark_optima(ax, optima)
    # Every run is on the axes (a clipped point would be a run the reader cannot see); a local
    # parabola or a law's slice that climbs past the highest run is cut at the edge instead.
    observed = runs["loss"].to_numpy(float)
    low, high = observed.min(), observed.max()
    ax.set_ylim(low - 0.05 * (high - low), high + 0.08 * (high - low))
    ax.set_xscale("log")
    ax.set_xlabel(params_label(fit.params_convention if fit is not None else "total"))
    ax.set_ylabel(AXIS_LABELS["loss"])
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(fontsize="x-small", frameon=False, ncol=2 if len(groups) > 6 else 1,
              title="budget C" + (f"; dashed: {law.label}" if law is not None else ""), title_fontsize="x-small")
    return ax


def plot_curves(curves: pd.DataFrame | str, *, n_budgets: int | None = None, ax: Axes | None = None) -> Axes:
    """Loss against FLOPs spent for every run, coloured by params, with the lower envelope that
    Approach 1 reads its optima from (Hoffmann et al. 2022, Fig. 2 left; App. D.1).

    Parameters
    ----------
    curves
        Per-step curves (`scaling.runs.read_curves` columns: run_id, params, tokens, flops,
        loss) or a sweep directory to read them from.
    """
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.colors import LogNorm

    if not isinstance(curves, pd.DataFrame):
        from scaling.fit.approaches import prepare  # the one curve split every approach and plot reads

        curves = prepare(curves).curves
        if curves is None:
            raise ValueError("curves: per-step curves needed (a sweep directory, or several rows per run_id)")
    optima = envelope_optima(curves, n_budgets or N_BUDGETS)
    sizes = np.unique(curves["params"].to_numpy(float))
    norm = LogNorm(vmin=sizes.min(), vmax=sizes.max() * 1.0001)
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    ax = get_axes(ax)
    for run_id, curve in curves.groupby("run_id", sort=True):
        curve = curve.sort_values("flops")
        size = float(curve["params"].iloc[0])
        marker = MARKERS[int(np.searchsorted(sizes, size)) % len(MARKERS)]
        ax.plot(curve["flops"], curve["loss"], color=cmap(norm(size) * 0.85), linewidth=1.0, alpha=0.9,
                marker=marker, markevery=[len(curve) - 1], markersize=5)
    ax.plot([o["flops"] for o in optima], [o["loss"] for o in optima], color="black", linewidth=2.2,
            linestyle=(0, (3, 1.5)), label="lower envelope (Approach 1)")
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.cm import ScalarMappable

    mappable = ScalarMappable(norm=norm, cmap=cmap)
    # The bar's name stands above it, not along its side: beside another panel a vertical label
    # would meet that panel's axis label (both "parameters N" in `scaling plot curves`).
    bar = ax.figure.colorbar(mappable, ax=ax)
    bar.ax.set_title("params N", fontsize="small")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs spent so far")
    ax.set_ylabel(AXIS_LABELS["loss"])
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(fontsize="small", frameon=False)
    return ax


def plot_residuals(fit: FitResult | LawEstimate, runs: RunsSource | None = None, *, x: str = "flops",
                   ax: Axes | None = None) -> Axes:
    """Residuals of a fit: log L - log L_hat per run for a loss law (runs required; the runs a
    fit dropped are drawn hollow; a preset's published coefficients work too), or
    log N_opt - log N_hat per budget for an allocation fitted to per-budget optima
    (Approaches 1 and 2; `fit.optima`).

    Parameters
    ----------
    x
        What the residuals are drawn against: "flops", "params" or "tokens".
    """
    if x not in RESIDUAL_AXES:
        raise ValueError(f"x must be one of {', '.join(RESIDUAL_AXES)}, got {x!r}")
    if get_law(fit.law).predicts_loss:
        if runs is None:
            raise ValueError(f"residuals of a {fit.law} fit need the runs it was fitted to")
        ax = _loss_residuals(fit, read_runs(runs), x, get_axes(ax))
    elif getattr(fit, "optima", None):
        ax = _optima_residuals(fit, x, get_axes(ax))  # type: ignore[arg-type]
    else:
        raise ValueError(f"{fit.label} predicts no loss and carries no per-budget optima: nothing to compare")
    ax.set_xscale("log")
    ax.set_xlabel(AXIS_LABELS[x])
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    return ax


def _loss_residuals(fit: FitResult | LawEstimate, runs: pd.DataFrame, x: str, ax: Axes) -> Axes:
    options = getattr(fit, "options", {})
    column = options.get("params_column", "params")
    if column != "params" and column in runs.columns:
        runs = runs.assign(params=runs[column])
    dropped = runs["run_id"].isin(options.get("dropped_runs", []))
    residual = np.log(runs["loss"].to_numpy(float)) - np.log(
        fit.predict(runs["params"].to_numpy(float), runs["tokens"].to_numpy(float)))
    style = law_style(fit.label)
    kept = ~dropped.to_numpy()
    ax.plot(runs[x][kept], residual[kept], markersize=4, alpha=0.75,
            label=f"{'fitted ' if options else ''}runs ({kept.sum()})", **style.points())
    if dropped.any():
        ax.plot(runs[x][~kept], residual[~kept], marker="s", markersize=6, linestyle="none", color="0.45",
                markerfacecolor="none", label=f"dropped runs ({(~kept).sum()})")
    spread = np.median(np.abs(residual[kept]))
    ax.set_ylabel("log L - log L_hat (log loss residual)")
    ax.set_title(f"{fit.label}: median |residual| {spread:.4f}", fontsize="medium")
    ax.legend(fontsize="small", frameon=False)
    return ax


def _mark_optima(ax: Axes, optima: list[dict[str, float]]) -> None:
    interior = [o for o in optima if not o.get("edge")]
    edge = [o for o in optima if o.get("edge")]
    ax.plot([o["params"] for o in interior], [o["loss"] for o in interior], marker="D", markersize=6,
            color="black", markerfacecolor="white", markeredgewidth=1.4, linestyle="none", label="minimum")
    if edge:
        ax.plot([o["params"] for o in edge], [o["loss"] for o in edge], marker="D", markersize=6, color="0.5",
                markerfacecolor="none", linestyle="none", label="minimum at an edge (not fitted)")


def _optima_residuals(fit: FitResult, x: str, ax: Axes) -> Axes:
    flops = np.array([row["flops"] for row in fit.optima], dtype=float)
    params = np.array([row["params"] for row in fit.optima], dtype=float)
    tokens = np.array([row["tokens"] for row in fit.optima], dtype=float)
    predicted, _ = fit.optimal(flops)
    residual = np.log(params) - np.log(predicted)
    positions = {"flops": flops, "params": params, "tokens": tokens}[x]
    ax.plot(positions, residual, markersize=6, label="per-budget optima", **law_style("fit").points())
    ax.set_ylabel("log N_opt - log N_hat (log params residual)")
    ax.set_title(f"{fit.label}, approach {fit.approach}", fontsize="medium")
    ax.legend(fontsize="small", frameon=False)
    return ax


SMOOTH_ROWS = 15
"""Train-loss rows averaged (centred rolling mean) in the branch figure's curves."""


def plot_branches(sweep_dir: str, *, compare: str | None = None, ax: Axes | None = None,
                  ax_final: Axes | None = None) -> Axes:
    """A WSD sweep's families: each size's stable run and the cooldown branches fanning off it
    (train loss, a rolling mean of SMOOTH_ROWS logged rows, against tokens), and, on `ax_final`,
    each branch's final held-out loss against tokens; `compare` (a sweep of the same points
    trained as separate runs, e.g. cosine) adds its curves (dashed) and its final losses (mean and
    standard deviation over seeds). Hagele et al. 2024, arXiv:2405.18392, Fig. 3-4 draw the same."""
    for where in filter(None, (sweep_dir, compare)):
        if not Path(where).is_dir():
            raise ValueError(f"{where}: no such sweep directory")
    store = read_summary(Path(sweep_dir))
    store = store[store["status"] == "ok"]
    if "role" not in store.columns or not (store["role"] == "branch").any():
        raise ValueError(f"{sweep_dir}: no cooldown branches (a sweep spec's [wsd] table makes them)")
    other = None
    if compare is not None:
        other = read_summary(Path(compare))
        other = other[other["status"] == "ok"]
    sizes = sorted(store["params"].unique())
    colors = dict(zip(sizes, sequential_colors(len(sizes))))
    ax = get_axes(ax)
    # the fans are at the end of training: from a tenth of the shortest stable run on
    x_low = 0.1 * float(store.loc[store["role"] == "stable", "tokens"].min())
    shown: list[float] = []

    def curve(sweep: str, run_id: str, after: int = 0) -> pd.DataFrame:
        rows = read_curve(Path(sweep) / run_id, columns=("step", "tokens_seen", "split", "loss")).to_pandas()
        rows = rows[rows["split"] == "train"].sort_values("step")
        rows["smooth"] = rows["loss"].rolling(SMOOTH_ROWS, center=True, min_periods=1).mean()
        first = max(0, int(np.searchsorted(rows["step"].to_numpy(), after, side="right")) - 1)
        return rows.iloc[first:]  # from the last row at or before the branch point: the fan joins its stem

    for _, run in store.sort_values("params").iterrows():
        color = colors[run["params"]]
        after = int(run["branch_step"]) if run["role"] == "branch" else 0
        rows = curve(sweep_dir, run["run_id"], after)
        label = f"N = {run['params']:,.0f}" if run["role"] == "stable" else None
        ax.plot(rows["tokens_seen"], rows["smooth"], color=color, linewidth=1.6 if run["role"] == "stable" else 1.1,
                label=label)
        shown.extend(rows.loc[rows["tokens_seen"] >= x_low, "smooth"])
        if run["role"] == "branch":
            ax.plot(rows["tokens_seen"].iloc[-1], rows["smooth"].iloc[-1], "o", color=color, markersize=4)
    if other is not None:
        for _, run in other[other["seed"] == other["seed"].min()].iterrows():
            if run["params"] in colors:
                rows = curve(compare, run["run_id"])  # type: ignore[arg-type]
                ax.plot(rows["tokens_seen"], rows["smooth"], color=colors[run["params"]], linewidth=0.8,
                        linestyle=(0, (3, 2)), alpha=0.7)
        ax.plot([], [], color="grey", linewidth=0.8, linestyle=(0, (3, 2)), label="separate runs (dashed)")
    # lazy: matplotlib loads only when a figure is drawn
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    if shown:
        low, high = min(shown), max(shown)
        ax.set_xlim(left=x_low)
        ax.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("train loss (nats/token), rolling mean")
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.legend(fontsize="small", frameon=False)
    if ax_final is not None:
        branches = store[store["role"] == "branch"]
        for size in sizes:
            color = colors[size]
            mine = branches[branches["params"] == size].sort_values("tokens")
            ax_final.plot(mine["tokens"], mine["loss"], "o-", color=color, markersize=5, linewidth=1.2,
                          label=f"N = {size:,.0f}, branches")
            if other is not None:
                theirs = other[other["params"] == size].groupby("tokens")["loss"].agg(["mean", "std"])
                ax_final.errorbar(theirs.index, theirs["mean"], yerr=theirs["std"].fillna(0), fmt="s",
                                  mfc="none", color=color, markersize=6, capsize=2, linewidth=0.9)
        if other is not None:
            ax_final.plot([], [], "s", mfc="none", color="grey", label="separate runs: mean, SD over seeds")
        ax_final.set_xscale("log")
        ax_final.xaxis.set_minor_formatter(NullFormatter())
        ax_final.set_xlabel("tokens D")
        ax_final.set_ylabel("final held-out loss (nats/token)")
        ax_final.grid(True, alpha=0.3, linewidth=0.6)
        ax_final.legend(fontsize="x-small", frameon=False)
    return ax
