"""Planning past "N and D for C" (scaling.planning): repeated data, inference demand, target loss, cost."""

import math

import numpy as np
import pytest

from scaling.hardware import Hardware
from scaling.laws.presets import PRESETS
from scaling.planning.optimal import plan
from scaling.planning import (compute_for_loss, cost_of, plan_beyond, plan_data_constrained, plan_for_loss,
                              plan_inference)
from scaling.planning.target import frontier_loss, loss_floor
from scaling.laws.registry import get_law

CHINCHILLA = PRESETS["chinchilla"]
MUENNIGHOFF = PRESETS["muennighoff2023"]


# -- data-constrained (Muennighoff et al. 2023) ----------------------------------------------

def test_data_constrained_golden_1e22():
    # Muennighoff et al. 2023, Sec. 5: C = 1e22 with U = 25e9 gives about 7.0e9 params and 2.37e11 tokens.
    result = plan_data_constrained(MUENNIGHOFF, 1e22, 25e9)
    assert result.params == pytest.approx(7.0e9, rel=0.01)
    assert result.tokens == pytest.approx(2.37e11, rel=0.005)
    assert result.epochs == pytest.approx(result.tokens / 25e9)
    assert 6 * result.params * result.tokens == pytest.approx(1e22, rel=1e-12)
    # Fewer params, more epochs than with unlimited data, and a loss penalty for it.
    assert result.params < result.unlimited_params and result.tokens > result.unlimited_tokens
    assert result.loss > result.unlimited_loss and result.loss_penalty_pct > 0
    # The constrained optimum beats training the unconstrained allocation on the same U tokens.
    assert result.loss <= result.unlimited_allocation_loss
    assert result.effective_tokens < result.tokens


def test_data_constrained_without_repetition_costs_nothing():
    result = plan_data_constrained(MUENNIGHOFF, 1e20, 1e12)  # 1e12 unique tokens: far more than D
    assert result.epochs < 1
    assert result.loss_penalty == pytest.approx(0.0, abs=1e-12)
    assert result.params == pytest.approx(result.unlimited_params, rel=1e-9)


def test_data_constrained_penalty_grows_as_data_shrinks():
    penalties = [plan_data_constrained(MUENNIGHOFF, 1e22, u).loss_penalty for u in (1e11, 25e9, 5e9, 1e9)]
    assert penalties == sorted(penalties)


def test_data_constrained_needs_a_data_constrained_law():
    with pytest.raises(ValueError, match="repeated data"):
        plan_data_constrained(CHINCHILLA, 1e22, 25e9)
    with pytest.raises(ValueError, match="unique_tokens"):
        plan_data_constrained(MUENNIGHOFF, 1e22, -1.0)


# -- target loss --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["chinchilla", "epoch2024", "muennighoff2023"])
def test_target_loss_is_reached_at_the_optimum(name):
    estimate = PRESETS[name]
    result = plan_for_loss(estimate, 2.1)
    assert result.reachable and result.reason is None
    # The plan at that budget predicts exactly the target, and is that budget's optimum.
    at_budget = plan(estimate, result.flops)
    assert at_budget.loss == pytest.approx(2.1, rel=1e-9)
    assert result.params == pytest.approx(at_budget.params, rel=1e-9)


def test_target_loss_chinchilla_closed_form():
    # Along Eq. 4, L*(C) = E + (A G^-alpha + B G^beta) (C/6)^(-alpha beta/(alpha+beta)) (Hoffmann et al. 2022);
    # solve for C at L = 2.0 and compare with the numerical answer.
    c = CHINCHILLA.coefficients
    G = (c["alpha"] * c["A"] / (c["beta"] * c["B"])) ** (1 / (c["alpha"] + c["beta"]))
    k = c["A"] * G ** -c["alpha"] + c["B"] * G ** c["beta"]
    exponent = c["alpha"] * c["beta"] / (c["alpha"] + c["beta"])
    closed = 6 * ((2.0 - c["E"]) / k) ** (-1 / exponent)
    assert plan_for_loss(CHINCHILLA, 2.0).flops == pytest.approx(closed, rel=1e-9)


def test_target_below_E_is_unreachable():
    result = plan_for_loss(CHINCHILLA, 1.6)
    assert not result.reachable and result.flops is None
    assert "irreducible loss E = 1.69" in result.reason


def test_target_with_unique_tokens_has_a_floor():
    floor = float(loss_floor(get_law("data_constrained"), MUENNIGHOFF.coefficients, 25e9))
    # The frontier at an enormous budget approaches, but stays above, the analytic floor.
    approach = float(frontier_loss(get_law("data_constrained"), MUENNIGHOFF.coefficients, np.asarray(1e34), 25e9))
    assert floor <= approach < floor + 1e-3
    assert not plan_for_loss(MUENNIGHOFF, floor - 1e-3, unique_tokens=25e9).reachable
    reachable = plan_for_loss(MUENNIGHOFF, 2.2, unique_tokens=25e9)
    assert reachable.reachable and reachable.epochs > 1
    assert reachable.flops > plan_for_loss(MUENNIGHOFF, 2.2).flops  # scarce data costs compute


def test_target_rejects_losses_above_the_range():
    with pytest.raises(ValueError, match="lower loss"):
        plan_for_loss(CHINCHILLA, 50.0)
    with pytest.raises(ValueError, match="no loss"):
        plan_for_loss(PRESETS["kaplan2020"], 2.0)


def test_compute_for_loss_falls_with_the_target():
    law = get_law("chinchilla")
    budgets = [float(compute_for_loss(law, CHINCHILLA.coefficients, loss)) for loss in (2.4, 2.2, 2.0, 1.9)]
    assert budgets == sorted(budgets)


# -- inference-aware (Sardana et al. 2024) --------------------------------------------------

def test_inference_zero_demand_is_compute_optimal():
    result = plan_inference(CHINCHILLA, 0.0, flops=1e22)
    assert result.inference_optimal.params == pytest.approx(result.compute_optimal.params, rel=1e-6)
    assert result.flops_saved_pct == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("demand", [1e11, 2e12, 1e14])
def test_inference_optimum_holds_the_loss_and_first_order_condition(demand):
    result = plan_inference(CHINCHILLA, demand, flops=1e22)
    best = result.inference_optimal
    assert float(CHINCHILLA.predict(best.params, best.tokens)) == pytest.approx(result.loss, rel=1e-10)
    assert result.loss == pytest.approx(plan(CHINCHILLA, 1e22).loss, rel=1e-12)
    # Stationarity of 6 N D(N) + 2 N T on L(N, D) = l, with x = A / N^alpha and g = l - E:
    #   6 D (1 - (alpha / beta) x / (g - x)) + 2 T = 0.
    c = CHINCHILLA.coefficients
    x, g = c["A"] / best.params ** c["alpha"], result.loss - c["E"]
    stationarity = 6 * best.tokens * (1 - c["alpha"] / c["beta"] * x / (g - x)) + 2 * demand
    assert abs(stationarity) < 1e-5 * (6 * best.tokens + 2 * demand)


def test_inference_optimum_beats_a_brute_force_search():
    result = plan_inference(CHINCHILLA, 2e12, flops=1e22)
    c, loss = CHINCHILLA.coefficients, result.loss
    params = np.geomspace(0.2, 1.0, 4001) * result.compute_optimal.params
    gap = loss - c["E"] - c["A"] / params ** c["alpha"]
    tokens = np.where(gap > 0, (c["B"] / np.where(gap > 0, gap, 1.0)) ** (1 / c["beta"]), np.inf)
    totals = 6 * params * tokens + 2 * params * 2e12
    assert result.inference_optimal.total_flops <= totals.min() * (1 + 1e-9)


def test_more_inference_means_smaller_models_trained_longer():
    results = [plan_inference(CHINCHILLA, t, loss=2.0) for t in (1e11, 1e12, 1e13, 1e14)]
    params = [r.inference_optimal.params for r in results]
    tokens = [r.inference_optimal.tokens for r in results]
    saved = [r.flops_saved_pct for r in results]
    assert params == sorted(params, reverse=True) and tokens == sorted(tokens) and saved == sorted(saved)
    assert all(r.params_ratio < 1 < r.tokens_ratio for r in results)


def test_inference_needs_one_target():
    with pytest.raises(ValueError, match="exactly one"):
        plan_inference(CHINCHILLA, 1e12)
    with pytest.raises(ValueError, match="unreachable"):
        plan_inference(CHINCHILLA, 1e12, loss=1.5)


# -- cost ----------------------------------------------------------------------------------

def test_cost_arithmetic_and_intervals():
    hardware = Hardware(gpu="h100", gpus=64, mfu=0.5)
    cost = cost_of(1e22, hardware, 2.5, flops_interval=(5e21, 2e22))
    hours = 1e22 / (989e12 * 0.5) / 3600  # NVIDIA H100 SXM datasheet: 989 TFLOP/s dense BF16
    assert cost.gpu_hours == pytest.approx(hours)
    assert cost.days == pytest.approx(hours / 64 / 24)
    assert cost.dollars == pytest.approx(2.5 * hours)
    assert cost.dollars_interval == pytest.approx((1.25 * hours, 5 * hours))
    assert cost_of(1e22, hardware).dollars is None
    with pytest.raises(ValueError, match="price"):
        cost_of(1e22, hardware, 0.0)


class _Bootstrapped:
    """A fitted Chinchilla law with bootstrap draws: the interface FitResult gives planning."""

    label, law, params_convention = "fit:test", "chinchilla", "total"

    def __init__(self, coefficients, draws):
        self.coefficients, self._draws, self.samples = coefficients, draws, {k: list(v[:, 0]) for k, v in draws.items()}

    def predict(self, params, tokens):
        return get_law("chinchilla").predict(self.coefficients, params=params, tokens=tokens)

    def optimal(self, flops):
        return get_law("chinchilla").optimal(self.coefficients, flops)

    def draws(self):
        return self._draws


def test_intervals_propagate_from_bootstrap_draws():
    rng = np.random.default_rng(0)
    base = dict(CHINCHILLA.coefficients)
    draws = {k: (v * np.exp(rng.normal(0, 0.02, size=(200, 1)))) for k, v in base.items()}
    fit = _Bootstrapped(base, draws)
    hardware = Hardware(gpu="a100", gpus=8)
    target = plan_for_loss(fit, 2.1, hardware=hardware, price_per_gpu_hour=1.5)
    low, high = target.flops_interval
    assert low < target.flops < high
    assert target.cost.dollars_interval[0] < target.cost.dollars < target.cost.dollars_interval[1]
    assert target.reachable_draws == "200/200"
    inference = plan_inference(fit, 1e12, flops=1e21)
    assert inference.params_interval[0] < inference.inference_optimal.params < inference.params_interval[1]


# -- one entry point -------------------------------------------------------------------------

def test_plan_beyond_picks_the_question_and_default_laws():
    assert plan_beyond(flops=1e22, unique_tokens=25e9).question == "data-constrained"
    report = plan_beyond(loss=2.0)
    assert report.question == "target-loss"
    assert [r.label for r in report.results] == ["chinchilla", "chinchilla-unrounded", "epoch2024", "muennighoff2023"]
    priced = plan_beyond(flops=1e21, hardware=Hardware(gpu="h100"), price_per_gpu_hour=2.0)
    assert priced.question == "cost" and len(priced.results) == len(PRESETS)
    for report in (plan_beyond([CHINCHILLA], flops=1e22, inference_tokens=1e12), priced):
        data = report.to_dict()
        assert set(data["conventions"]) == {"params", "flops", "budget"} or "C_min" in data["conventions"]["budget"]


@pytest.mark.parametrize("options, message", [
    ({"flops": 1e21, "price_per_gpu_hour": 2.0}, "needs `hardware`"),
    ({"flops": 1e21, "loss": 2.0}, "drop the budget"),
    ({"unique_tokens": 1e9}, "needs a budget"),
    ({"inference_tokens": 1e12}, "exactly one"),
    ({"params": 1e9, "loss": 2.0}, "does not combine"),
    ({"flops": 1e21, "inference_tokens": 1e12, "unique_tokens": 1e9}, "does not combine"),
    ({"flops": 1e21}, "nothing beyond"),
])
def test_plan_beyond_rejects_contradictions(options, message):
    with pytest.raises(ValueError, match=message):
        plan_beyond(**options)


def test_every_result_states_its_conventions():
    for report in (plan_beyond(flops=1e22, unique_tokens=25e9), plan_beyond([CHINCHILLA], loss=2.0),
                   plan_beyond([CHINCHILLA, MUENNIGHOFF], flops=1e22, inference_tokens=1e12)):
        for result in report.to_dict()["results"]:
            assert "6 N D" in result["conventions"]["flops"] and "C_min" in result["conventions"]["budget"]
            assert result["conventions"]["params"].startswith("total")
    assert math.isfinite(plan_beyond([CHINCHILLA], loss=2.0).results[0].flops)


def test_fitted_law_from_json_gives_cost_intervals():
    # A committed FitResult (fitting engine's fixture: Chinchilla fit with 20 bootstrap draws).
    from pathlib import Path

    from scaling.fit.result import resolve_law

    fit = resolve_law(str(Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json"))
    hardware = Hardware(gpu="h100", gpus=256)
    target = plan_for_loss(fit, 2.1, hardware=hardware, price_per_gpu_hour=2.5)
    assert target.flops_interval[0] < target.flops < target.flops_interval[1]
    assert target.cost.days_interval[0] < target.cost.days < target.cost.days_interval[1]
    assert target.cost.dollars == pytest.approx(2.5 * target.cost.gpu_hours)
    report = plan_beyond([fit], flops=1e22, inference_tokens=2e12)
    (inference,) = report.results
    assert inference.params_interval[0] < inference.inference_optimal.params < inference.params_interval[1]
    assert report.to_dict()["results"][0]["label"].startswith("fit:chinchilla@")


def test_absurd_inputs_are_rejected_not_planned():
    from scaling.planning.inference import MAX_INFERENCE_TOKENS

    with pytest.raises(ValueError, match="inference_tokens"):
        plan_inference(CHINCHILLA, 1e300, flops=1e21)
    assert math.isfinite(plan_inference(CHINCHILLA, MAX_INFERENCE_TOKENS, flops=1e21).flops_saved)
    with pytest.raises(ValueError, match="unique_tokens"):
        plan_data_constrained(MUENNIGHOFF, 1e21, 1e-300)
    for flops in (1e300, 1e-300):
        with pytest.raises(ValueError, match="flops"):
            plan_data_constrained(MUENNIGHOFF, flops, 1e9)
        with pytest.raises(ValueError, match="flops"):
            plan_inference(CHINCHILLA, 1e12, flops=flops)


def test_plan_beyond_passes_shape_options_and_picks_data_constrained_laws():
    report = plan_beyond(flops=1e21, hardware=Hardware(gpu="h100"), price_per_gpu_hour=2.0, vocab_size=256,
                         seq_len=128)
    assert {(r.plan.shape.vocab_size, r.plan.shape.seq_len) for r in report.results} == {(256, 128)}
    target = plan_beyond(loss=2.5, unique_tokens=1e9)
    assert [r.label for r in target.results] == ["muennighoff2023"]
