"""Each plot function draws what it should (artists, scales, limits) and rejects bad input."""

import matplotlib

matplotlib.use("Agg")  # headless: tests never open a window

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from dataclasses import replace
from pathlib import Path

from plot_data import SIZES, write_sweep
from scaling.fit.isoflop import fit_isoflop, isoflop_optima
from scaling.laws.presets import get_preset
from scaling.fit.result import FitResult
from scaling.plot import (PALETTE, law_style, plot_allocations, plot_contours, plot_curves, plot_exponents,
                          plot_frontier,
                          plot_isoflop, plot_penalty, plot_residuals)
from scaling.runs import read_runs

FIT = FitResult.from_json((Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json").read_text())
ISOFLOP_DATA = "porian-2024-owt2-tuned"


@pytest.fixture
def ax():
    figure = Figure()
    yield figure.subplots()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_palette_styles_differ_beyond_colour():
    # Greyscale: no two laws may share both marker and line style.
    pairs = [(str(s.marker), str(s.linestyle)) for s in PALETTE.values()]
    assert len(set(pairs)) == len(pairs)
    assert len({s.color for s in PALETTE.values()}) == len(PALETTE)
    assert law_style("fit:chinchilla@abc") == PALETTE["fit"]
    assert law_style("someone-else") == law_style("someone-else")  # stable for unknown labels


def test_allocations_draws_each_law_on_log_axes(ax):
    out = plot_allocations(["chinchilla", "kaplan2020"], flops_range=(1e18, 1e24), ax=ax)
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOPs" in ax.get_xlabel() and "parameters" in ax.get_ylabel()
    lines = lines_by_label(ax)
    chinchilla = lines["chinchilla"]
    assert chinchilla.get_color() == PALETTE["chinchilla"].color
    budgets, params = chinchilla.get_data()
    assert budgets[0] == pytest.approx(1e18) and budgets[-1] == pytest.approx(1e24)
    expected, _ = get_preset("chinchilla").optimal(budgets)
    np.testing.assert_allclose(params, expected)
    # Kaplan's non-embedding N is converted to total N (Pearce & Song 2024): larger than its own.
    kaplan_own, _ = get_preset("kaplan2020").optimal(budgets)
    assert np.all(lines["kaplan2020"].get_ydata() > kaplan_own)
    texts = {t.get_text() for t in ax.texts}
    assert {"Chinchilla", "Gopher", "GPT-3"} <= texts  # Hoffmann et al. 2022, Fig. 1's models


def test_allocations_tokens_and_no_models(ax):
    plot_allocations(["tokens-per-param-20"], quantity="tokens", models=False, ax=ax)
    budgets, tokens = lines_by_label(ax)["tokens-per-param-20"].get_data()
    params, _ = get_preset("tokens-per-param-20").optimal(budgets)
    np.testing.assert_allclose(tokens / params, 20.0)
    assert not ax.texts and "tokens" in ax.get_ylabel()


@pytest.mark.parametrize("kwargs", [
    {"quantity": "loss"}, {"flops_range": (1e20, 1e18)}, {"flops_range": (0.0, 1e20)},
    {"flops_range": (1e18, float("inf"))}, {"estimates": []},
])
def test_allocations_rejects_bad_input(ax, kwargs):
    with pytest.raises(ValueError):
        plot_allocations(ax=ax, **kwargs)


def test_contours_over_flops_has_frontier_and_isoflop_lines(ax):
    plot_contours("chinchilla", flops_range=(1e18, 1e22), ax=ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlim() == pytest.approx((1e18, 1e22))
    lines = lines_by_label(ax)
    frontier = lines["efficient frontier (chinchilla)"]
    budgets, params = frontier.get_data()
    np.testing.assert_allclose(params, get_preset("chinchilla").optimal(budgets)[0])
    verticals = [line for line in ax.get_lines() if np.ptp(line.get_xdata()) == 0]
    assert len(verticals) == 5  # one iso-FLOP line per decade, 1e18..1e22
    assert any(isinstance(c, PolyCollection) or c.get_array() is not None for c in ax.collections)
    assert len(ax.figure.axes) == 2  # the colour bar


def test_contours_over_tokens_draws_isoflop_diagonals(ax):
    plot_contours("epoch2024", space="tokens", budgets=[1e20], ax=ax)
    (diagonal,) = [line for line in ax.get_lines() if line.get_label() == "iso-FLOP lines"]
    tokens, params = diagonal.get_data()
    np.testing.assert_allclose(6 * tokens * params, 1e20)
    assert "tokens" in ax.get_xlabel()


@pytest.mark.parametrize("law, kwargs", [
    ("kaplan2020", {}), ("tokens-per-param-20", {}), ("chinchilla", {"space": "loss"}),
    ("chinchilla", {"flops_range": (1e22, 1e20)}), ("no-such-law", {}),
])
def test_contours_rejects_bad_input(ax, law, kwargs):
    with pytest.raises(ValueError):
        plot_contours(law, ax=ax, **kwargs)


def test_penalty_is_zero_for_the_scoring_laws_own_allocation(ax):
    plot_penalty(["kaplan2020", "chinchilla-unrounded"], under="chinchilla-unrounded",
                 flops_range=(1e19, 1e25), ax=ax)
    lines = lines_by_label(ax)
    np.testing.assert_allclose(lines["chinchilla-unrounded"].get_ydata(), 0.0, atol=1e-9)
    kaplan = lines["kaplan2020"].get_ydata()
    assert kaplan.min() >= 0 and kaplan[-1] > 3.0  # `scaling compare`: about +4% at 1e25
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert "%" in ax.get_ylabel()


def test_penalty_needs_a_loss_law(ax):
    with pytest.raises(ValueError, match="predicts a loss"):
        plot_penalty(["chinchilla"], under="kaplan2020", ax=ax)


def test_frontier_of_a_preset_draws_without_band(ax):
    plot_frontier(get_preset("epoch2024"), compare_with=["kaplan2020"], flops_range=(1e18, 1e24), ax=ax)
    labels = set(lines_by_label(ax))
    assert {"epoch2024", "kaplan2020"} <= labels
    assert not ax.collections  # no bootstrap draws, no band


def test_frontier_rejects_bad_quantity(ax):
    with pytest.raises(ValueError, match="quantity"):
        plot_frontier(get_preset("epoch2024"), quantity="loss", ax=ax)


def test_new_figure_when_no_axes_given():
    out = plot_allocations(["chinchilla"], models=False)
    assert out.figure is not None and out.get_lines()


def test_frontier_of_a_bootstrapped_fit_has_a_band_inside_which_the_fit_lies(ax):
    plot_frontier(FIT, compare_with=["chinchilla"], flops_range=(1e18, 1e24), ax=ax)
    (band,) = ax.collections
    vertices = band.get_paths()[0].vertices
    fit_line = next(line for line in ax.get_lines() if line.get_label().startswith("fit (Approach 3)"))
    budgets, params = fit_line.get_data()
    low, high = FIT.optimal_interval(budgets)["params"]
    assert np.all(low <= params * 1.0001) and np.all(params <= high * 1.0001)
    assert vertices[:, 1].min() == pytest.approx(low.min(), rel=1e-6)
    assert "a = 0.514" in fit_line.get_label()


def test_frontier_marks_the_optima_of_an_approach2_fit(ax):
    fit = fit_isoflop(ISOFLOP_DATA)
    plot_frontier(fit, quantity="tokens", ax=ax)
    optima = lines_by_label(ax)["per-budget optima"]
    np.testing.assert_allclose(optima.get_ydata(), [o["tokens"] for o in fit.optima if not o["edge"]])
    assert ax.get_xlim()[0] < min(o["flops"] for o in fit.optima)


def test_isoflop_draws_points_parabolas_and_minima(ax):
    runs = read_runs(ISOFLOP_DATA)
    optima = isoflop_optima(runs)
    plot_isoflop(ISOFLOP_DATA, ax=ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert "nats/token" in ax.get_ylabel() and "parameters" in ax.get_xlabel()
    minima = lines_by_label(ax)["minimum"]
    np.testing.assert_allclose(minima.get_xdata(), [o["params"] for o in optima if not o["edge"]])
    point_series = [line for line in ax.get_lines() if line.get_label().endswith("FLOPs")]
    assert sum(len(line.get_xdata()) for line in point_series) == len(runs)
    curves = [line for line in ax.get_lines() if line.get_label().startswith("_") and len(line.get_xdata()) == 50]
    assert len(curves) == len(optima)  # one local parabola per budget
    sizes = runs["params"].to_numpy(float)
    for curve in curves:  # each local parabola spans sampled sizes only (Porian et al. 2024)
        assert sizes.min() * 0.999 <= curve.get_xdata().min() < curve.get_xdata().max() <= sizes.max() * 1.001


def test_isoflop_with_seeds_draws_each_run_faint_and_the_mean_per_size(ax):
    runs = read_runs(ISOFLOP_DATA)
    seeded = pd.concat([runs.assign(loss=runs["loss"] + 0.02), runs.assign(loss=runs["loss"] - 0.02)])
    plot_isoflop(seeded, ax=ax)
    means = [line for line in ax.get_lines() if line.get_label().endswith("FLOPs")]
    faint = [line for line in ax.get_lines() if line.get_alpha() == 0.35]
    assert sum(len(line.get_xdata()) for line in faint) == len(seeded)
    assert sum(len(line.get_xdata()) for line in means) == len(runs)
    np.testing.assert_allclose(np.sort(np.concatenate([line.get_ydata() for line in means])),
                               np.sort(runs["loss"].to_numpy(float)))


def test_isoflop_with_a_law_adds_its_slices(ax):
    plot_isoflop(ISOFLOP_DATA, law="epoch2024", ax=ax)
    dashed = [line for line in ax.get_lines() if line.get_linestyle() not in ("-", "None")]
    assert len(dashed) == len(isoflop_optima(read_runs(ISOFLOP_DATA)))
    assert "epoch2024" in ax.get_legend().get_title().get_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"fit": FIT}, "Approach 2"), ({"law": "kaplan2020"}, "predicts no loss"),
])
def test_isoflop_rejects_bad_input(ax, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_isoflop(ISOFLOP_DATA, ax=ax, **kwargs)


def test_curves_coloured_by_size_with_envelope(tmp_path, ax):
    sweep = write_sweep(tmp_path)
    plot_curves(str(sweep), ax=ax)
    runs = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(runs) == len(SIZES)
    assert len({line.get_color() for line in runs}) == len(SIZES)
    envelope = lines_by_label(ax)["lower envelope (Approach 1)"]
    flops, loss = envelope.get_data()
    for line in runs:  # the envelope is the lowest curve wherever a curve reaches
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        inside = (flops >= x.min()) & (flops <= x.max())
        assert np.all(loss[inside] <= np.interp(np.log(flops[inside]), np.log(x), y) + 1e-9)
    assert ax.get_xscale() == "log" and len(ax.figure.axes) == 2  # colour bar for N


def test_curves_reject_a_summary_without_curves(tmp_path, ax):
    with pytest.raises(ValueError):
        plot_curves(str(tmp_path), ax=ax)


def test_residuals_of_a_loss_fit(ax):
    plot_residuals(FIT, "chinchilla-2022", ax=ax)
    lines = lines_by_label(ax)
    assert len(lines["fitted runs (240)"].get_xdata()) == 240
    dropped = lines["dropped runs (5)"].get_ydata()
    assert dropped.min() > 0.05  # the outliers Besiroglu et al. 2024 drop sit far above the fit
    assert ax.get_xscale() == "log" and "FLOPs" in ax.get_xlabel()


def test_residuals_of_a_preset_and_of_an_approach2_fit(ax):
    plot_residuals(get_preset("chinchilla-unrounded"), "chinchilla-2022", x="params", ax=ax)
    assert len(lines_by_label(ax)["runs (245)"].get_xdata()) == 245
    fit = fit_isoflop(ISOFLOP_DATA)
    other = Figure().subplots()
    plot_residuals(fit, x="tokens", ax=other)
    assert len(other.get_lines()[0].get_xdata()) == len(fit.optima)


@pytest.mark.parametrize("args, kwargs, message", [
    ((FIT,), {}, "need the runs"), ((FIT, "chinchilla-2022"), {"x": "loss"}, "x must be"),
    ((get_preset("kaplan2020"),), {}, "nothing to compare"),
])
def test_residuals_reject_bad_input(ax, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_residuals(*args, ax=ax, **kwargs)


def test_exponents_one_row_per_fit_with_reference_lines(ax):
    fits = {"kaplan": fit_isoflop("porian-2024-owt2-kaplan", bootstrap=10),
            "tuned": fit_isoflop("porian-2024-owt2-tuned", bootstrap=10)}
    plot_exponents(fits, ax=ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["kaplan", "tuned"]
    references = {line.get_label(): line.get_xdata()[0] for line in ax.get_lines() if "a = " in line.get_label()}
    assert references["kaplan2020: a = 0.73"] == pytest.approx(0.73)  # Kaplan et al. 2020, Table 6
    bars = [line for line in ax.get_lines() if line.get_marker() == "|"]
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(bars) == len(points) == 2  # an interval and a point per fit
    assert points[1].get_xdata()[0] == pytest.approx(fits["tuned"].derived["a"])
    assert list(bars[1].get_xdata()) == pytest.approx(list(fits["tuned"].intervals["a"]))


def test_exponents_draw_an_interval_that_misses_its_point(ax):
    # A percentile interval may exclude the point estimate: drawn as it is, not rejected.
    point = fit_isoflop(ISOFLOP_DATA)
    fit = replace(point, intervals={"a": (point.derived["a"] - 0.05, point.derived["a"] - 0.01)})
    plot_exponents({"skewed": fit}, ax=ax)
    (bar,) = [line for line in ax.get_lines() if line.get_marker() == "|"]
    assert max(bar.get_xdata()) < fit.derived["a"]


@pytest.mark.parametrize("fits, kwargs, message", [
    ({}, {}, "no fit"), ({"x": FIT}, {"exponent": "c"}, "exponent"),
])
def test_exponents_reject_bad_input(ax, fits, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_exponents(fits, ax=ax, **kwargs)


def _texts_inside(figure):
    """Every visible text of a figure drawn as `save_figure` draws it (Agg), with its extent in
    pixels (empty ones left out), and the renderer that placed them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [(text, text.get_window_extent(renderer)) for text in figure.findobj(matplotlib.text.Text)
            if text.get_visible() and text.get_text().strip()], renderer


def test_curves_figure_labels_do_not_meet(tmp_path):
    # The colour bar of the curves panel stood beside the middle panel, its "parameters N" label
    # against that panel's own "parameters N": the bar is named above it, and no axis label meets another.
    from scaling.plot.figures import draw_figure

    figure = draw_figure("curves", str(write_sweep(tmp_path)))
    texts, _ = _texts_inside(figure)
    labels = [(text, box) for text, box in texts
              if any(text is getattr(ax, name) for ax in figure.axes for name in ("title",))
              or any(text in (ax.xaxis.label, ax.yaxis.label) for ax in figure.axes)]
    assert len(labels) >= 5
    for index, (text, box) in enumerate(labels):  # apart by 10 pixels at least, both ways
        for other, other_box in labels[index + 1:]:
            assert not box.expanded(1, 1).padded(5).overlaps(other_box.padded(5)), (text.get_text(), other.get_text())
    (bar,) = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert bar.get_ylabel() == "" and bar.get_title() == "params N"


def test_isoflop_axes_show_every_run(ax):
    # A far-off run (a tiny model at the smallest budget, as cpu-isoflop's 4.9k-parameter run) is
    # on the axes, not above them.
    runs = read_runs(ISOFLOP_DATA)
    smallest = runs["flops"].min()
    far = runs[runs["flops"] == smallest].nsmallest(1, "params").assign(params=lambda r: r["params"] / 3,
                                                                        loss=runs["loss"].max() + 1.5)
    runs = pd.concat([runs, far])
    plot_isoflop(runs, ax=ax)
    low, high = ax.get_ylim()
    assert low < runs["loss"].min() and high > runs["loss"].max()
    assert ax.get_xlim()[0] < runs["params"].min()


def test_contour_levels_are_round_and_labels_inside_the_plot():
    figure = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = figure.subplots()
    plot_contours("chinchilla", ax=ax)
    levels = ax.collections[0].levels
    steps = np.diff(levels)
    assert np.allclose(steps, steps[0]) and any(np.isclose(steps[0], s) for s in (0.1, 0.2, 0.25, 0.5, 1.0))
    assert np.allclose(levels / steps[0], np.round(levels / steps[0]))  # at multiples of the step
    texts, renderer = _texts_inside(figure)
    box = ax.get_window_extent(renderer)
    labels = [(text, extent) for text, extent in texts if text in ax.texts]
    assert labels, "contour lines are labelled"
    for text, extent in labels:
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1, \
            text.get_text()
        assert float(text.get_text()) in np.round(levels, 6)
