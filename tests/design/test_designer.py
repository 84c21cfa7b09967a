"""The designer: proposals stay within the budget, take the cheapest design that reaches a width
goal, score what the sweep will train, and serialise."""

from __future__ import annotations

import numpy as np
import pytest

from scaling.design.belief import prior
from scaling.design.designer import Proposal, candidates, lattice, propose
from scaling.design.goal import Goal
from scaling.laws.presets import get_preset

BELIEF = prior(get_preset("chinchilla"), reference_flops=1e18, draws=32)


@pytest.mark.parametrize("approach", ["2", "3"])
def test_a_proposal_spends_at_most_the_budget_and_brackets_each_optimum(approach):
    goal = Goal(target=1e22, study_flops=5e18, max_run_flops=1e18, approach=approach)
    proposal = propose(BELIEF, goal)
    assert proposal.flops == pytest.approx(sum(b.cost for b in proposal.blocks))
    assert proposal.flops <= 5e18
    assert proposal.predicted_width is not None and proposal.width_now is None
    for block in proposal.blocks:
        centre = float(BELIEF.centre([block.flops])[0])
        assert min(block.params) < centre < max(block.params)
        assert 1e15 <= block.flops <= 1e18


def test_a_width_goal_takes_the_cheapest_design_that_reaches_it():
    free = propose(BELIEF, Goal(target=1e22, study_flops=5e18, max_run_flops=1e18, approach="3"))
    loose = free.predicted_width * 1.5
    cheap = propose(BELIEF, Goal(target=1e22, study_flops=5e18, max_run_flops=1e18, approach="3", until_width=loose))
    assert cheap.predicted_width <= loose
    assert cheap.flops < free.flops


def test_realised_sizes_are_what_is_scored():
    goal = Goal(target=1e22, study_flops=5e18, max_run_flops=1e18, approach="3")
    snapped = candidates(BELIEF, goal, realise=lambda p: float(10 ** round(np.log10(p))))
    sizes = {p for design in snapped for block in design for p in block.params}
    assert all(float(np.log10(p)).is_integer() for p in sizes)
    assert all(len(block.params) >= 3 for design in snapped for block in design)


def test_lattice_budgets_are_shared_numbers():
    assert lattice(1e13, 4) == 1e12 and lattice(1e13, 2) == 3.16e12
    assert lattice(3.16e12, 2) == 1e12 and lattice(3e12, 0) == 1.78e12 and lattice(1e20, 8) == 1e18


def test_proposal_json_round_trip():
    proposal = propose(BELIEF, Goal(target=1e22, study_flops=5e18, max_run_flops=1e18, approach="3"))
    assert Proposal.from_json(proposal.to_json()) == proposal


@pytest.mark.parametrize("options, message", [
    ({"approach": "2", "quantity": "loss"}, "needs approach 3"),
    ({"approach": "4"}, "approach must be 2 or 3"),
    ({"study_flops": 1e6}, "smallest run"),
    ({"min_run_flops": 1e19, "max_run_flops": 1e18}, "above max_run_flops"),
    ({"level": 1.5}, "level"),
    ({"target": float("nan")}, "target"),
])
def test_goal_refuses_what_cannot_be_designed(options, message):
    with pytest.raises(ValueError, match=message):
        Goal(**{"target": 1e22, "study_flops": 5e18, **options})


def test_a_span_goal_makes_the_study_cover_the_decades_asked():
    from scaling.design.precision import Points

    existing = Points(np.array([1e17, 1e17, 1e17]), np.array([1e8, 2e8, 4e8]), np.ones(3))
    goal = Goal(target=1e22, study_flops=2e19, max_run_flops=1e18, min_run_flops=1e15, span_decades=3.0,
                approach="3")
    proposal = propose(BELIEF, goal, existing)
    budgets = [b.flops for b in proposal.blocks] + [1e17]
    assert np.log10(max(budgets) / min(budgets)) >= 3.0 - 1e-9
    with pytest.raises(ValueError, match="wider than the runs allowed"):
        Goal(target=1e22, study_flops=5e18, max_run_flops=1e18, min_run_flops=1e16, span_decades=3.0)
