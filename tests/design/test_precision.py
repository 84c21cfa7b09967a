"""The designer's criterion: the delta method behaves as theory says, and the simulated
Approach 2 width matches refits through the public fit on the same design."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.design.belief import Belief, Noise, PARAMS
from scaling.design.precision import Points, fisher_width, relative_width, simulated_width
from scaling.fit.isoflop import fit_isoflop
from scaling.laws.presets import get_preset

LAW = get_preset("epoch2024")
TRUTH = Belief(draws=np.array([[LAW.coefficients[k] for k in PARAMS]]),
               noise=Noise(sd=0.01, reference_flops=1e18), source="truth")


def grid(budgets=(1e17, 1e18, 1e19), sizes=7, ratio=2.0, seeds=1.0) -> Points:
    flops, params = [], []
    for budget in budgets:
        centre = float(LAW.optimal(budget)[0])
        for i in range(sizes):
            flops.append(budget)
            params.append(centre * ratio ** (i - (sizes - 1) / 2))
    return Points(np.array(flops), np.array(params), np.full(len(flops), seeds))


def test_delta_method_width_halves_with_four_times_the_seeds():
    one = fisher_width(TRUTH, grid(), 1e22, "params", 0.9).width
    four = fisher_width(TRUTH, grid(seeds=4.0), 1e22, "params", 0.9).width
    sd_one = math.asinh(one / 2) / 1.6448536269514722  # invert relative_width
    sd_four = math.asinh(four / 2) / 1.6448536269514722
    assert sd_four == pytest.approx(sd_one / 2, rel=1e-6)


def test_delta_method_is_narrower_with_a_longer_lever_arm():
    near = fisher_width(TRUTH, grid(budgets=(1e18, 3e18, 1e19)), 1e22, "params", 0.9).width
    wide = fisher_width(TRUTH, grid(budgets=(1e17, 1e18, 1e19)), 1e22, "params", 0.9).width
    assert wide < near


def test_too_few_points_are_not_identified():
    assert fisher_width(TRUTH, grid(budgets=(1e18,), sizes=3), 1e22, "params", 0.9).width == math.inf


def test_relative_width_of_a_lognormal_interval():
    assert float(relative_width(0.1, 0.9)) == pytest.approx(math.exp(0.16449) - math.exp(-0.16449), rel=1e-4)


def test_simulated_width_matches_refits_through_fit_isoflop():
    design = grid(budgets=(1e17, 1e18, 1e19), sizes=7, ratio=2.0)
    predicted = simulated_width(TRUTH, design, 1e22, 0.9, replicates=500, seed=0)
    rng = np.random.default_rng(7)
    truth_loss = LAW.predict(design.params, design.tokens)
    estimates = []
    for _ in range(500):
        runs = pd.DataFrame({"params": design.params, "tokens": design.tokens, "flops": design.flops,
                             "loss": truth_loss * np.exp(0.01 * rng.standard_normal(design.flops.size))})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = fit_isoflop(runs)
        estimates.append(math.log(float(np.ravel(fit.optimal(1e22)[0])[0])))
    low, high = np.quantile(estimates, [0.05, 0.95])
    centre = np.median(estimates)
    assert predicted.failed == 0
    assert predicted.width == pytest.approx(math.exp(high - centre) - math.exp(low - centre), rel=0.2)


def test_profiles_that_miss_their_minimum_get_no_width():
    design = grid(budgets=(1e17, 1e18, 1e19), sizes=5, ratio=1.3)
    shifted = Points(design.flops, design.params * 30, design.seeds)  # every size far above N_opt
    assert simulated_width(TRUTH, shifted, 1e22, 0.9, replicates=50).width == math.inf
