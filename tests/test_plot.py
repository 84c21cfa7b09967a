"""Each plot function draws what it should (artists, scales, limits) and rejects bad input."""

import matplotlib

matplotlib.use("Agg")  # headless: tests never open a window

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from scaling.laws.presets import get_preset
from scaling.plot import PALETTE, law_style, plot_allocations, plot_contours, plot_frontier, plot_penalty


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
