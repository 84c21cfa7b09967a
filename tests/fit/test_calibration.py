"""Prediction intervals and the misspecification check (scaling.fit.calibration): the variance
components against data drawn with known ones, and coverage on held-out larger budgets."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from scaling.fit.calibration import _components, _scale_slope, prediction_interval, residual_model
from scaling.fit.engine import fit_law
from scaling.laws.registry import get_law
from scaling.runs import read_runs


def test_variance_components_recover_the_ones_drawn_and_the_check_sees_structure():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 25)
    offsets = rng.normal(0, 0.03, 40)  # sigma_budget 0.03
    residuals = offsets[groups] + rng.normal(0, 0.01, groups.size)  # sigma_run 0.01
    run_sd, budget_sd, p = _components(residuals, groups)
    assert run_sd == pytest.approx(0.01, rel=0.1) and budget_sd == pytest.approx(0.03, rel=0.25) and p < 1e-12
    run_sd, budget_sd, p = _components(rng.normal(0, 0.01, groups.size), groups)  # no structure
    assert budget_sd < 0.003 and p > 0.01


def test_the_run_scale_slope_recovers_the_one_drawn_and_is_zero_without_one():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(30), 15)
    distance = np.tile(np.linspace(0.0, 1.2, 15), 30)
    drawn = rng.normal(0, 0.01, groups.size) * np.exp(2.0 * distance / 2)  # log Var e = const + 2 x
    assert _scale_slope(drawn, groups, distance) == pytest.approx(2.0, abs=0.4)
    assert _scale_slope(rng.normal(0, 0.01, groups.size), groups, distance) < 0.4


def test_a_well_specified_fit_is_not_flagged_and_its_interval_holds_its_noise():
    law = get_law("chinchilla")
    truth = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, Eq. 10
    rng = np.random.default_rng(1)
    rows = []
    for budget in np.geomspace(1e17, 1e20, 7):
        centre, _ = law.optimal(truth, budget)
        params = np.geomspace(centre / 6, centre * 6, 7)
        tokens = budget / (6 * params)
        rows.append(pd.DataFrame({"params": params, "tokens": tokens, "flops": budget,
                                  "loss": law.predict(truth, params=params, tokens=tokens)
                                  * np.exp(rng.normal(0, 0.01, 7))}))
    runs = pd.concat(rows, ignore_index=True)
    fit = fit_law("chinchilla", runs)
    model = residual_model(fit, runs)
    assert not model["misspecified"] and model["sigma_run"] == pytest.approx(0.01, rel=0.3)
    low, high = prediction_interval(replace(fit, residuals=model), runs["params"], runs["tokens"], 0.9)
    inside = ((runs["loss"] >= low) & (runs["loss"] <= high)).mean()
    assert 0.8 <= inside <= 0.98  # in-sample, 49 runs at nominal 90%


def _coverage(runs, cuts, law="chinchilla", level=0.9):
    hits, total = 0, 0
    for cut in cuts:
        train, test = runs[runs["flops"] <= cut * 1.001], runs[runs["flops"] > cut * 1.001]
        fit = fit_law(law, train)
        model = residual_model(fit, train.reset_index(drop=True), refit=lambda r: fit_law(law, r, n_polish=4),
                               level=level)
        low, high = prediction_interval(replace(fit, residuals=model), test["params"].to_numpy(float),
                                        test["tokens"].to_numpy(float), level)
        loss = test["loss"].to_numpy(float)
        hits, total = hits + int(((loss >= low) & (loss <= high)).sum()), total + loss.size
    return hits / total


@pytest.mark.slow
def test_prediction_intervals_cover_held_out_budgets_of_a_law_outside_the_form():
    # Kaplan et al. 2020's Eq. 1.5 (Table 2 constants) plus an irreducible 1.0, fitted by
    # Chinchilla's form: the residuals in the fitted range look clean, and the form's error grows
    # past it. 10 sweeps of 9 IsoFLOP budgets (1e17-1e21, 7 sizes, 1% noise), each cut at its 5th,
    # 6th and 7th budget: 90% intervals for every larger run. Measured here: 89.7%.
    kaplan, chinchilla = get_law("kaplan_nd"), get_law("chinchilla")
    truth = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
    centre_law = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    hits = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        rows = []
        for budget in np.geomspace(1e17, 1e21, 9):
            centre, _ = chinchilla.optimal(centre_law, budget)
            params = np.geomspace(centre / 6, centre * 6, 7)
            tokens = budget / (6 * params)
            loss = (1.0 + kaplan.predict(truth, params=params, tokens=tokens)) * np.exp(rng.normal(0, 0.01, 7))
            rows.append(pd.DataFrame({"params": params, "tokens": tokens, "flops": budget, "loss": loss}))
        runs = pd.concat(rows, ignore_index=True)
        budgets = np.sort(runs["flops"].unique())
        hits.append(_coverage(runs, budgets[4:7]))
    assert 0.85 <= np.mean(hits) <= 0.95


@pytest.mark.slow
def test_prediction_intervals_on_held_out_budgets_of_the_shipped_porian_runs():
    # Porian et al. 2024's tuned RefinedWeb runs, cut at each of their 6th to 11th budgets: the
    # wide profiles of the budgets fitted scatter more around Chinchilla's form, and extrapolate
    # worse, than the near-optimal runs of its largest budgets; the run scale and the error growth
    # follow the distance from the optimum. Measured: 88.9% at nominal 90% (98% with one scale).
    runs = read_runs("porian-2024-rw-tuned")
    budgets = np.sort(runs["flops"].unique())
    assert 0.85 <= _coverage(runs, budgets[5:11]) <= 0.95
