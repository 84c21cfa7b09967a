"""Approach 1 (scaling.fit.envelope): the lower envelope of training curves."""

import numpy as np
import pandas as pd
import pytest

from scaling.laws.registry import get_law
from scaling.fit.envelope import envelope_optima, fit_envelope
from scaling.fit.result import FitResult

TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, Eq. 10


def curves(n_sizes=24, points=80):
    # Each run's loss along its own curve follows L(N, D_seen): an idealised schedule whose
    # envelope is exactly the compute-optimal frontier of the law.
    law = get_law("chinchilla")
    rows = []
    for i, params in enumerate(np.geomspace(1e7, 1e10, n_sizes)):
        tokens = np.geomspace(1e8, 3e12, points)
        rows.append(pd.DataFrame({"run_id": f"run{i:02d}", "params": params, "tokens": tokens,
                                  "loss": law.predict(TRUTH, params=params, tokens=tokens)}))
    return pd.concat(rows, ignore_index=True)


def test_envelope_recovers_the_allocation_exponent():
    fit = fit_envelope(curves(), n_budgets=400)
    a_true = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])  # Hoffmann et al. 2022, Eq. 4
    assert fit.approach is None and fit.law == "power_allocation"  # the registry names approaches
    assert fit.derived["a"] == pytest.approx(a_true, abs=0.01)
    assert fit.derived["b"] == pytest.approx(1 - a_true, abs=0.01)
    params, _ = get_law("chinchilla").optimal(TRUTH, 1e21)
    assert fit.optimal(1e21)[0] == pytest.approx(params, rel=0.15)


def test_winners_at_the_size_range_ends_are_flagged():
    optima = envelope_optima(curves(n_sizes=8), n_budgets=200)
    edges = [o for o in optima if o["edge"]]
    assert edges and len(edges) < len(optima)
    assert {o["params"] for o in edges} <= {1e7, 1e10}


def test_bootstrap_over_runs_and_round_trip():
    fit = fit_envelope(curves(n_sizes=12, points=40), n_budgets=150, bootstrap=20, seed=0, level=0.9)
    low, high = fit.intervals["a"]
    assert low <= fit.derived["a"] <= high
    assert FitResult.from_json(fit.to_json()) == fit


def test_final_losses_only_are_refused():
    runs = curves().groupby("run_id").tail(1)
    with pytest.raises(ValueError, match="single point"):
        fit_envelope(runs)


def test_seeds_of_one_configuration_are_averaged_not_raced():
    # Two seeds per size; at every other size one seed lies 0.05 nats above the law and one
    # below: the envelope of the seed means is the noiseless one. Racing the seeds (every run
    # on its own) lets those sizes' lucky seeds win and moves the optima.
    base = curves(n_sizes=12, points=40)
    sign = np.where(base["run_id"].str[-2:].astype(int) % 2 == 0, 1.0, 0.0)
    seeded = pd.concat([base.assign(loss=base["loss"] + 0.05 * sign, replicate=base["run_id"]),
                        base.assign(loss=base["loss"] - 0.05 * sign, replicate=base["run_id"],
                                    run_id=base["run_id"] + "-seed1")], ignore_index=True)
    noiseless = envelope_optima(base, n_budgets=150)
    averaged = envelope_optima(seeded, n_budgets=150)
    assert [o["params"] for o in averaged] == [o["params"] for o in noiseless]
    assert [o["loss"] for o in averaged] == pytest.approx([o["loss"] for o in noiseless])
    raced = envelope_optima(seeded.drop(columns="replicate"), n_budgets=150)
    assert [o["params"] for o in raced] != [o["params"] for o in noiseless]
