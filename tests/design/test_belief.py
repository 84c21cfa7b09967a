"""The designer's belief: a prior with the stated spread, and the run noise read from seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scaling.design.belief import Z90, from_runs, prior, seed_noise
from scaling.laws.presets import get_preset


def test_prior_spreads_n_opt_by_the_stated_factor():
    law = get_preset("chinchilla")
    belief = prior(law, reference_flops=1e20, spread=3.0, draws=4000, seed=1)
    params = belief.optimal(1e20)[0][:, 0]
    low, high = np.quantile(params, [0.05, 0.95])
    centre = float(law.optimal(1e20)[0])
    assert high / low == pytest.approx(9.0, rel=0.1)  # x/3 each side at 90%
    assert np.exp(np.log(params).mean()) == pytest.approx(centre, rel=0.05)
    assert np.log(params).std() == pytest.approx(np.log(3.0) / Z90, rel=0.05)


def test_prior_refuses_a_law_without_loss():
    with pytest.raises(ValueError, match="Chinchilla's form"):
        prior(get_preset("kaplan2020"), reference_flops=1e20)


def _seeded_runs(sd_small: float, sd_large: float, seeds: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for flops, sd in ((1e12, sd_small), (1e14, sd_large)):
        for params in (1e4, 2e4, 4e4, 8e4):
            for seed in range(seeds):
                rows.append({"params": params, "tokens": flops / (6 * params), "flops": flops, "budget_flops": flops,
                             "seed": seed, "loss": 2.0 * np.exp(sd * rng.standard_normal())})
    return pd.DataFrame(rows)


def test_seed_noise_recovers_a_noise_power_law():
    noise = seed_noise(_seeded_runs(0.03, 0.003, seeds=40))
    assert noise.at(1e12)[()] == pytest.approx(0.03, rel=0.15)
    assert noise.at(1e14)[()] == pytest.approx(0.003, rel=0.15)
    assert noise.slope == pytest.approx(-0.5, abs=0.05)


def test_no_repeated_seeds_no_seed_noise():
    assert seed_noise(_seeded_runs(0.03, 0.003, seeds=1)) is None


def test_runs_that_do_not_identify_the_law_fall_back_to_the_prior_and_say_so():
    start = prior(get_preset("chinchilla"), reference_flops=1e14, draws=16)
    runs = _seeded_runs(0.01, 0.01, seeds=2).iloc[:3]
    belief, notes = from_runs(runs, runs, fallback=start)
    assert belief.draws is start.draws
    assert notes and "prior" in notes[0]
