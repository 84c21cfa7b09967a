"""fit_runs (scaling.fit.approaches): seeds of one configuration count once in every approach."""

import numpy as np
import pandas as pd
import pytest

from scaling.fit.approaches import fit_runs
from scaling.laws.registry import get_law

TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}  # Hoffmann et al. 2022, Eq. 10


def seeded_runs(offset: float) -> pd.DataFrame:
    """An IsoFLOP sweep's runs, two seeds per size, `offset` nats above and below the law."""
    law, rows = get_law("chinchilla"), []
    for budget in np.geomspace(1e18, 1e21, 4):
        centre, _ = law.optimal(TRUTH, budget)
        for params in np.geomspace(centre / 8, centre * 8, 7):
            tokens = budget / (6 * params)
            loss = float(law.predict(TRUTH, params=params, tokens=tokens))
            for seed, sign in ((0, 1.0), (1, -1.0)):
                rows.append({"run_id": f"{budget:.0e}-{params:.0f}-{seed}", "seed": seed, "params": params,
                             "tokens": tokens, "flops": budget, "budget_flops": budget, "loss": loss + sign * offset})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("approach, key", [("2", "approach_2"), ("3", "approach_3")])
def test_seeds_are_averaged_before_fitting(approach, key):
    noiseless, _ = fit_runs(seeded_runs(0.0), approach)
    seeded, _ = fit_runs(seeded_runs(0.03), approach)
    assert seeded[key].n_points == noiseless[key].n_points == 28  # configurations, not runs
    assert seeded[key].options["seeds_averaged"] == "56 runs"
    for name, value in noiseless[key].coefficients.items():
        assert seeded[key].coefficients[name] == pytest.approx(value, rel=1e-4), name


def test_approach_2_called_directly_bootstraps_configurations_as_fit_runs_does():
    # `scaling plot isoflop` calls fit_isoflop on the raw runs: its bands must be `scaling fit`'s.
    from scaling.fit.isoflop import fit_isoflop

    seeded = seeded_runs(0.03)
    direct = fit_isoflop(seeded, bootstrap=50, seed=0)
    via_fit_runs = fit_runs(seeded, "2", bootstrap=50, seed=0)[0]["approach_2"]
    assert direct.n_points == 28
    assert direct.intervals.keys() == via_fit_runs.intervals.keys()
    for name, (low, high) in via_fit_runs.intervals.items():  # [low, high] per coefficient
        assert direct.intervals[name] == pytest.approx([low, high], rel=1e-12), name


def test_the_registry_names_the_approach_of_every_result():
    results, skipped = fit_runs(seeded_runs(0.0), "all")
    assert {key: r.approach for key, r in results.items()} == {
        "approach_2": "2", "approach_3": "3", "kaplan_nd": "kaplan", "kaplan_c": "kaplan"}
    assert skipped and skipped[0].startswith("1: Approach 1 needs per-step curves")


def test_kaplan_frontier_leaves_edge_minima_out_as_the_power_laws_do():
    from scaling.fit.approaches import fit_frontier

    optima = [{"flops": c, "params": 1e6 * c / 1e18, "tokens": c / 6e6, "loss": 3.0 * (c / 1e18) ** -0.05,
               "edge": False} for c in np.geomspace(1e18, 1e21, 4)]
    edged = [*optima, {"flops": 1e22, "params": 1e9, "tokens": 1e12, "loss": 9.0, "edge": True}]
    assert fit_frontier(edged).coefficients == pytest.approx(fit_frontier(optima).coefficients, rel=1e-9)
    assert fit_frontier(edged).n_points == 4


def test_law_options_of_a_parametric_fit_are_refused_by_approach_2():
    from scaling.fit.approaches import fit_approach

    with pytest.raises(ValueError, match="drop_highest apply to approaches 3 and kaplan only"):
        fit_approach("2", seeded_runs(0.0), drop_highest=1)


def test_the_light_name_list_is_the_registry():
    from scaling.fit.approaches import APPROACHES
    from scaling.fit.names import APPROACH_NAMES

    assert tuple(APPROACHES) == APPROACH_NAMES
