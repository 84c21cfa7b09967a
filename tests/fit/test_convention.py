"""One FLOP convention per fit (scaling.fit.convention, Approach 2's flops_convention): a flops
column that is not 6 N D is named, and allocations stay consistent."""

import numpy as np
import pandas as pd
import pytest

from scaling.fit.approaches import fit_runs
from scaling.fit.result import FitWarning
from scaling.laws.registry import get_law

from isoflop_world import TRUTH, isoflop_runs


ATTENTION = 6.0 * 12 * 2048 * 768
"""Attention FLOPs per token of a 12-layer, d_model 768 model at context 2048: 6 n_layer n_ctx d_model
(Kaplan et al. 2020, Table 1: 2 n_layer n_ctx d_attn forward, x3 with the backward pass)."""


def counted_flops(params, tokens):
    """Training FLOPs counted with attention: 6 N D + 6 n_layer n_ctx d_model D."""
    return (6.0 * params + ATTENTION) * tokens


def counted_sweep(budgets=np.geomspace(1e18, 1e21, 5), sizes=9, span=8.0):
    """An IsoFLOP sweep designed on counted FLOPs: each profile holds 6 N D + attention fixed."""
    law = get_law("chinchilla")
    frames = []
    for budget in budgets:
        centre, _ = law.optimal(TRUTH, budget)
        params = np.geomspace(centre / span, centre * span, sizes)
        tokens = budget / (6.0 * params + ATTENTION)
        frames.append(pd.DataFrame({"params": params, "tokens": tokens, "flops": np.full(sizes, budget),
                                    "loss": law.predict(TRUTH, params=params, tokens=tokens)}))
    return pd.concat(frames, ignore_index=True)


def approach_2(runs, **options):
    with pytest.warns(FitWarning) as caught:
        results, _ = fit_runs(runs, "2", **options)
    return results["approach_2"], [str(w.message) for w in caught]


def test_a_flops_column_3x_off_6nd_is_named_and_plans_as_if_it_were_6nd():
    runs = isoflop_runs(budgets=np.geomspace(1e18, 1e21, 5), sizes_per_budget=9, span=8.0)
    truth_fit, _ = fit_runs(runs, "2")
    fit, messages = approach_2(runs.assign(flops=3.0 * runs["flops"]))  # a budget label a third of the FLOPs spent
    assert any("flops column is 3x 6 N D (median; 3-3 across runs)" in m for m in messages), messages
    assert fit.flops_ratio["median"] == pytest.approx(3.0) and fit.flops_convention == "6ND"
    assert fit.derived["a"] + fit.derived["b"] == pytest.approx(1.0, abs=1e-12)
    # The same plan as with the column right: not a 50% larger model.
    params, tokens = fit.optimal([1e22])
    assert params[0] == pytest.approx(truth_fit["approach_2"].optimal([1e22])[0][0], rel=1e-9)
    assert 6 * params[0] * tokens[0] == pytest.approx(1e22, rel=1e-9)  # printed tokens equal the printed law


def test_counted_flops_drift_is_named_and_each_convention_stays_consistent():
    runs = counted_sweep()
    ratio = runs["flops"] / (6 * runs["params"] * runs["tokens"])
    assert ratio.max() / ratio.min() > 1.1  # the small models' attention share: a drifting ratio
    six_nd, messages = approach_2(runs)
    assert any("not C = 6 N D" in m for m in messages)
    assert six_nd.derived["a"] + six_nd.derived["b"] == pytest.approx(1.0, abs=1e-12)
    for optimum in six_nd.optima:  # C is 6 N D at every optimum
        assert 6 * optimum["params"] * optimum["tokens"] == pytest.approx(optimum["flops"], rel=1e-12)
    column, _ = approach_2(runs, flops_convention="column")
    assert column.flops_convention == "column" and column.options["fit_in"] == "params"
    # In the column's convention each optimum's tokens are the runs' own at N_opt: its counted
    # FLOPs, not 6 N D, equal its budget (to the log-log line's curvature error).
    for optimum in column.optima:
        assert counted_flops(optimum["params"], optimum["tokens"]) == pytest.approx(optimum["flops"], rel=0.01)
    assert column.derived["a"] + column.derived["b"] > 1.01  # attention's share falls with size: N D outgrows C


def test_approach_2_variants_agree_on_exact_isoflop_profiles_and_are_recorded():
    # On exact budgets log D = log(C/6) - log N: a parabola in log D is the parabola in log N.
    runs = isoflop_runs(budgets=np.geomspace(1e18, 1e21, 5), sizes_per_budget=9, span=8.0)
    base, _ = fit_runs(runs, "2")
    for options in ({"fit_in": "tokens"}, {"round_budgets": True}):
        other, _ = fit_runs(runs, "2", **options)
        assert other["approach_2"].derived["a"] == pytest.approx(base["approach_2"].derived["a"], abs=1e-9)
        assert all(other["approach_2"].options[k] == v for k, v in options.items())
    whole, _ = fit_runs(runs, "2", window=None)
    assert whole["approach_2"].options["method"] == "parabola over the whole profile in log N"
    with pytest.raises(ValueError, match="window"):
        fit_runs(runs, "2", window=0)
    with pytest.raises(ValueError, match="window apply to approach 2 only, not approach 3"):
        fit_runs(runs, "3", window=3)
