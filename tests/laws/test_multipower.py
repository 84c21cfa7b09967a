"""Luo et al. 2025's multi-power law through the one engine: its grouped loss reduction against
the exact O(T^2) sum, its hand-written gradient against finite differences, recovery of known
coefficients from curves under cosine, WSD and constant schedules (noise-free and with 0.5%
noise), a held-out cosine curve predicted from constant and WSD curves, a bootstrap over whole
curves, and the refusal of curves without an LR decay."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import check_grad

from scaling.fit.engine import fit_curves
from scaling.fit.identify import NotIdentifiable
from scaling.fit.result import FitWarning
from scaling.fit.objective import LawModel, MultiPowerModel, huber
from scaling.laws.multipower import MAX_GROUPS, MULTI_POWER_CURVE, drop_groups, group_edges
from scaling.schedules import parse_schedule

from curve_world import MULTI_POWER_TRUTH, SCHEDULES, WARMUP, schedule_of, synthetic_curve

LAW = "multi_power_curve"


def exact_curve(lr: np.ndarray, warmup: int, truth: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Luo et al. 2025, Eq. 1 term by term after every step t: LD(t) = B sum_{k<=t} (eta_{k-1} - eta_k)
    G(eta_k^-gamma S_k(t)), O(T^2); and the loss."""
    drop = np.zeros_like(lr)
    drop[1:] = lr[:-1] - lr[1:]
    drop[:warmup] = 0.0
    area = np.concatenate([[0.0], np.cumsum(lr)])
    reduction = np.empty(lr.size)
    for t in range(1, lr.size + 1):
        k = np.arange(t)
        x = lr[k] ** -truth["gamma"] * (area[t] - area[k])
        reduction[t - 1] = truth["B"] * (drop[k] * (1 - (truth["C"] * x + 1) ** -truth["beta"])).sum()
    return reduction, truth["L0"] + truth["A"] * area[1:] ** -truth["alpha"] - reduction


@pytest.mark.parametrize("text", ["cosine", "wsd:cooldown_fraction=0.2", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3",
                                  "stepped", "constant"])
def test_grouped_drops_match_the_exact_sum(text: str) -> None:
    schedule = parse_schedule(text, peak_lr=3e-3, steps=1500, warmup_steps=40)
    lr = schedule.lr_at(np.arange(1500))
    reduction, loss = exact_curve(lr, 40, MULTI_POWER_TRUTH)
    inputs = MULTI_POWER_CURVE.curve_inputs(schedule, np.arange(1, 1501))
    predicted = MULTI_POWER_CURVE.predict(MULTI_POWER_TRUTH, **inputs)
    grouped = MULTI_POWER_TRUTH["L0"] + MULTI_POWER_TRUTH["A"] * inputs["lr_area"] ** -MULTI_POWER_TRUTH["alpha"] - predicted
    assert inputs["drop"].shape == (1500, len(group_edges(1500))) and inputs["drop"].shape[1] <= MAX_GROUPS
    assert np.abs(grouped - reduction).max() <= 2e-3 * max(reduction.max(), 1e-12)  # the docstring's bound
    assert predicted == pytest.approx(loss, rel=1e-4)
    done = np.arange(1, 1501)
    dropped = np.where(done > 40, lr[39] - lr[done - 1], 0.0)  # none in the warmup, then all since its end
    assert inputs["drop"].sum(axis=1) == pytest.approx(dropped, abs=1e-15)  # every drop counted once


def test_groups_are_bounded_and_the_recent_drops_exact() -> None:
    assert len(group_edges(10**8)) <= MAX_GROUPS and list(group_edges(10**8)[:17]) == list(range(17))
    lr = np.array([1.0, 1.0, 0.5, 0.5, 0.25])
    inputs = drop_groups(lr, 0, np.array([5]))  # drops 0.5 at step 2, 0.25 at step 4 (0-based)
    held = inputs["drop"][0] != 0
    assert inputs["drop"][0][held] == pytest.approx([0.25, 0.5])
    assert inputs["drop_lr"][0][held] == pytest.approx([0.25, 0.5]) and inputs["drop_area"][0][held] == pytest.approx([0.25, 1.25])
    with pytest.raises(ValueError, match="learning rates >= 0, not all 0"):
        drop_groups([0.0, 0.0], 0, np.array([1]))


def test_the_gradient_is_exact() -> None:
    curves = pd.concat([synthetic_curve(f"run{i}", text, MULTI_POWER_TRUTH, law=LAW) for i, text in enumerate(SCHEDULES)])
    inputs = {k: np.concatenate([MULTI_POWER_CURVE.curve_inputs(schedule_of(t), c.step)[k] for t, (_, c) in
                                 zip(SCHEDULES, curves.groupby("run_id", sort=True))]) for k in MULTI_POWER_CURVE.inputs}
    model = MultiPowerModel(MULTI_POWER_CURVE, inputs)
    generic = LawModel(MULTI_POWER_CURVE, inputs)  # complex-step derivatives of `predict`
    log_loss = np.log(curves.sort_values("run_id", kind="stable").loss.to_numpy() * 1.01)
    rng = np.random.default_rng(0)
    for _ in range(5):
        theta = np.array([0.6, -0.2, 0.45, 4.6, -1.2, 0.5, 0.5]) + rng.normal(0, 0.2, 7)
        value, jac = model.log_loss_jac(theta)
        reference, reference_jac = generic.log_loss_jac(theta)
        assert value == pytest.approx(reference, rel=1e-12) and jac == pytest.approx(reference_jac, rel=1e-7, abs=1e-12)
        assert model.log_loss(theta[None])[0] == pytest.approx(value, rel=1e-12)

        def objective(t: np.ndarray) -> float:
            return float(huber(model.log_loss_jac(t)[0] - log_loss, 1e-3)[0].sum())

        def gradient(t: np.ndarray) -> np.ndarray:
            return model.huber_value_grad(t, log_loss, 1e-3)[1]

        scale = np.linalg.norm(gradient(theta))
        assert check_grad(objective, gradient, theta, epsilon=1e-7) <= 1e-5 * scale


@pytest.mark.parametrize("texts", [SCHEDULES[:3], SCHEDULES])
def test_the_engine_recovers_known_coefficients(texts: tuple[str, ...]) -> None:
    curves = pd.concat([synthetic_curve(f"run{i}", text, MULTI_POWER_TRUTH, law=LAW) for i, text in enumerate(texts)])
    fit = fit_curves(LAW, curves)
    assert fit.converged and fit.options["curves"] == len(texts) and fit.n_points == len(curves)
    assert fit.coefficients == pytest.approx(MULTI_POWER_TRUTH, rel=1e-3)


def reduction_share(truth: dict[str, float], text: str) -> float:
    """LD at the end of a curve as a share of the loss there."""
    schedule = schedule_of(text)
    inputs = MULTI_POWER_CURVE.curve_inputs(schedule, [schedule.steps])
    without = MULTI_POWER_CURVE.predict({**truth, "B": 0.0}, **inputs)[0]
    return float(1 - MULTI_POWER_CURVE.predict(truth, **inputs)[0] / without)


@pytest.mark.slow  # six random laws (5 s); the fast check of recovery: test_the_engine_recovers_known_coefficients
@settings(max_examples=6, deadline=None, derandomize=True)
@given(alpha=st.floats(0.2, 0.8), beta=st.floats(0.3, 1.5), gamma=st.floats(0.2, 0.8),
       log_c=st.floats(-2.0, 1.0), B=st.floats(30.0, 200.0))
def test_recovery_is_a_property_of_cosine_wsd_and_constant_curves(alpha: float, beta: float, gamma: float,
                                                                  log_c: float, B: float) -> None:
    truth = {**MULTI_POWER_TRUTH, "alpha": alpha, "beta": beta, "gamma": gamma, "C": float(np.exp(log_c)), "B": B}
    assume(0.02 < reduction_share(truth, "cosine") < 0.5)  # the decay's term a visible share, the loss positive
    curves = pd.concat([synthetic_curve(f"run{i}", text, truth, law=LAW) for i, text in enumerate(SCHEDULES)])
    fit = fit_curves(LAW, curves)
    assert fit.converged
    assert fit.coefficients == pytest.approx(truth, rel=1e-3)


def noisy(curves: pd.DataFrame, sigma: float, seed: int) -> pd.DataFrame:
    return curves.assign(loss=curves.loss * np.exp(np.random.default_rng(seed).normal(0, sigma, len(curves))))


def held_out_errors(fit, text: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(final relative error, mean relative error after warmup) of `fit` on a noise-free curve."""
    truth = synthetic_curve("held-out", text, MULTI_POWER_TRUTH, law=LAW)
    predicted = MULTI_POWER_CURVE.predict(fit.coefficients, **MULTI_POWER_CURVE.curve_inputs(schedule_of(text), truth.step))
    errors = np.abs(predicted / truth.loss.to_numpy() - 1)
    return float(errors[-1]), float(errors[truth.step.to_numpy() > WARMUP].mean())


def test_noisy_curves_give_coefficients_within_reason() -> None:
    curves = noisy(pd.concat([synthetic_curve(f"run{i}", text, MULTI_POWER_TRUTH, law=LAW)
                              for i, text in enumerate(SCHEDULES)]), 0.005, seed=3)
    fit = fit_curves(LAW, curves)
    assert fit.converged
    assert fit.coefficients["L0"] == pytest.approx(MULTI_POWER_TRUTH["L0"], rel=0.05)
    assert fit.coefficients["alpha"] == pytest.approx(MULTI_POWER_TRUTH["alpha"], rel=0.25)
    final, mean = held_out_errors(fit, "wsd:cooldown_fraction=0.1")
    assert final < 0.005 and mean < 0.01


@pytest.mark.parametrize("sigma", [0.0, pytest.param(0.005, marks=pytest.mark.slow)])  # noisy: 3.4 s, slow
def test_constant_and_wsd_curves_predict_a_held_out_cosine_curve(sigma: float) -> None:
    texts = ("constant", "wsd:cooldown_fraction=0.2", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3")
    curves = noisy(pd.concat([synthetic_curve(f"run{i}", text, MULTI_POWER_TRUTH, law=LAW)
                              for i, text in enumerate(texts)]), sigma, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # noisy: the flat direction (beta up, C down) hits max_iter
        fit = fit_curves(LAW, curves)
    final, mean = held_out_errors(fit, "cosine")
    if sigma == 0.0:
        assert fit.converged and final < 1e-5 and mean < 1e-5  # the 0.5% final / 1% MRE target, with room
    else:
        # WSD cooldowns show G only up to the cooldown's area, cosine's early drops need its tail:
        # with 0.5% noise per row, 6 seeds gave 0.4-1.4% final and 0.13-0.65% mean error (docs/curves.md).
        assert final < 0.02 and mean < 0.01


@pytest.mark.slow  # multi-power refits (1.8 s); fast: tests/fit's test_fit_curve_resamples_whole_curves_of_a_sweep
def test_the_bootstrap_resamples_whole_curves() -> None:
    curves = noisy(pd.concat([synthetic_curve(f"run{i}", text, MULTI_POWER_TRUTH, law=LAW, every=40)
                              for i, text in enumerate(SCHEDULES * 2)]), 0.003, seed=1)
    fit = fit_curves(LAW, curves, bootstrap=8, n_jobs=1)
    assert fit.uncertainty == "bootstrap(n=8, seed=0)" and fit.options["bootstrap_unit"] == "curve"
    assert set(fit.intervals) == set(MULTI_POWER_TRUTH)
    for name in ("L0", "alpha"):
        low, high = fit.intervals[name]
        assert low <= fit.coefficients[name] <= high


def test_curves_without_a_decay_are_refused_in_one_line() -> None:
    curves = pd.concat([synthetic_curve(f"run{i}", "constant", MULTI_POWER_TRUTH, law=LAW, steps=s)
                        for i, s in enumerate((1000, 2000))])
    with pytest.raises(NotIdentifiable) as caught:
        fit_curves(LAW, curves)
    assert "decay the LR after warmup" in str(caught.value) and "\n" not in str(caught.value)


def test_the_law_is_not_a_params_tokens_law() -> None:
    with pytest.raises(TypeError, match="lr_area, drop, drop_lr, drop_area"):
        MULTI_POWER_CURVE.predict(MULTI_POWER_TRUTH, params=1e6, tokens=1e9)


def test_a_cooldown_to_zero_is_a_schedule_the_law_reads() -> None:
    from scaling.laws.registry import get_law
    from scaling.schedules import parse_schedule

    law = get_law("multi_power_curve")
    to_zero = parse_schedule("wsd:min_lr_ratio=0", peak_lr=1e-2, steps=400, warmup_steps=20)
    near_zero = parse_schedule("wsd:min_lr_ratio=0.000001", peak_lr=1e-2, steps=400, warmup_steps=20)
    steps = np.arange(1, 401)
    coefficients = {"L0": 2.0, "A": 0.5, "alpha": 0.5, "B": 300.0, "C": 2.0, "beta": 0.6, "gamma": 0.5}
    loss = law.predict(coefficients, **law.curve_inputs(to_zero, steps))
    assert np.all(np.isfinite(loss))
    assert np.allclose(loss, law.predict(coefficients, **law.curve_inputs(near_zero, steps)), rtol=1e-5)
