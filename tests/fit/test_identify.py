"""Degenerate data is named, not fitted (scaling.fit.identify), across fit_law and fit_runs."""

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.fit.approaches import fit_runs
from scaling.fit.engine import fit_law
from scaling.fit.identify import NotIdentifiable
from scaling.fit.isoflop import fit_isoflop
from scaling.fit.result import FitResult, FitWarning

TRUTH = {"E": 1.8, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28}


def chinchilla_loss(params, tokens):
    return TRUTH["E"] + TRUTH["A"] * params ** -TRUTH["alpha"] + TRUTH["B"] * tokens ** -TRUTH["beta"]


def grid_runs():
    params, tokens = (g.ravel() for g in np.meshgrid(np.geomspace(1e6, 3e8, 5), np.geomspace(1e8, 1e10, 5)))
    return pd.DataFrame({"params": params, "tokens": tokens, "loss": chinchilla_loss(params, tokens)})


def isoflop_runs(budgets):
    rows = []
    for flops in budgets:
        for params in np.geomspace(1e6, 1e9, 7):
            tokens = flops / (6 * params)
            rows.append({"params": params, "tokens": tokens, "flops": flops,
                         "loss": chinchilla_loss(params, tokens)})
    return pd.DataFrame(rows)


def test_constant_losses_are_refused():
    with pytest.raises(NotIdentifiable, match="all 25 losses equal 2"):
        fit_law("chinchilla", grid_runs().assign(loss=2.0))


def test_copies_of_one_row_are_refused():
    runs = pd.DataFrame({"params": [1e7] * 30, "tokens": [1e9] * 30, "loss": 3.0 + 0.01 * np.arange(30)})
    with pytest.raises(NotIdentifiable, match="every run has params = 1e"):
        fit_law("chinchilla", runs)


def test_fewer_distinct_points_than_coefficients_are_refused():
    runs = pd.concat([grid_runs().iloc[[0, 6, 12, 18, 24]]] * 4)
    with pytest.raises(NotIdentifiable, match="5 distinct .* cannot determine 5 coefficients"):
        fit_law("chinchilla", runs)


def test_two_budgets_are_flagged_not_identifiable():
    with pytest.warns(FitWarning, match="not identifiable: 2 budget optima"):
        fit = fit_isoflop(isoflop_runs([1e17, 1e18]))
    assert fit.not_identifiable and "3 or more budgets" in fit.not_identifiable[0]
    assert FitResult.from_json(fit.to_json()).not_identifiable == fit.not_identifiable
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)  # three budgets: identifiable, no warning
        assert fit_isoflop(isoflop_runs([1e17, 1e18, 1e19])).not_identifiable == []


def test_kaplan_on_a_grid_fits_the_joint_law_and_says_the_frontier_was_skipped():
    results, skipped = fit_runs(grid_runs(), "kaplan")
    assert list(results) == ["kaplan_nd"]
    assert len(skipped) == 1 and skipped[0].startswith("kaplan_c: the compute frontier L(C) needs IsoFLOP")


def test_all_on_a_grid_skips_what_the_data_does_not_support():
    results, skipped = fit_runs(grid_runs(), "all")
    assert set(results) == {"approach_3", "kaplan_nd"}
    assert [note.split(":")[0] for note in skipped] == ["1", "2", "kaplan_c"]


def test_nothing_fittable_is_one_error_naming_each_reason():
    with pytest.raises(ValueError, match="no approach could be fitted: 1: .*; 3: all 25 losses equal"):
        fit_runs(grid_runs().assign(loss=2.0), "all")
