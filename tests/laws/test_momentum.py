"""Tissue et al. 2024's loss-curve law through the one engine: its areas against their definition,
recovery of known coefficients from curves under cosine, WSD and constant schedules, a bootstrap
over whole curves, and one-line refusals of bad curve tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from scaling.fit.engine import fit_curves
from scaling.fit.result import FitResult, FitWarning
from scaling.laws.momentum import MOMENTUM_CURVE, annealing_areas
from scaling.schedules import parse_schedule

from curve_world import SCHEDULES, schedule_of, synthetic_curve

def areas_by_definition(lr: list[float], warmup: int, decay: float) -> tuple[list[float], list[float]]:
    """Eq. 3 of Tissue et al. 2024 step by step: S1 += eta_i; m_i = lambda m_{i-1} + (eta_{i-1} - eta_i)
    (no drop counted in the warmup); S2 += m_i."""
    s1 = s2 = m = 0.0
    out1, out2 = [], []
    for i, eta in enumerate(lr):
        previous = lr[i - 1] if i else eta
        m = decay * m + (0.0 if i < warmup else previous - eta)
        s1, s2 = s1 + eta, s2 + m
        out1.append(s1)
        out2.append(s2)
    return out1, out2


@pytest.mark.parametrize("text", ["cosine", "wsd:cooldown_shape=1-sqrt", "stepped"])
def test_areas_follow_their_definition(text: str) -> None:
    lr = parse_schedule(text, peak_lr=1e-2, steps=300, warmup_steps=20).lr_at(np.arange(300))
    area, annealing = annealing_areas(lr, 20, decay=0.99)
    truth_area, truth_annealing = areas_by_definition(lr.tolist(), 20, 0.99)
    assert area == pytest.approx(truth_area, rel=1e-12)
    assert annealing == pytest.approx(truth_annealing, rel=1e-9, abs=1e-15)
    assert annealing[19] == 0.0 and annealing[-1] > 0


@pytest.mark.parametrize("truth", [{"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3},
                                   {"L0": 1.2, "A": 2.5, "alpha": 0.2, "C": 1.5},
                                   {"L0": 3.0, "A": 0.3, "alpha": 0.8, "C": 0.05}])
@pytest.mark.parametrize("texts", [SCHEDULES[:1], SCHEDULES[1:2], SCHEDULES])
def test_the_engine_recovers_the_law_from_cosine_and_wsd_curves(truth: dict[str, float],
                                                                texts: tuple[str, ...]) -> None:
    curves = pd.concat([synthetic_curve(f"run{i}", text, truth) for i, text in enumerate(texts)])
    fit = fit_curves("momentum_curve", curves)
    assert fit.converged and fit.options["curves"] == len(texts)
    assert fit.coefficients == pytest.approx(truth, rel=1e-4)
    held_out = synthetic_curve("held-out", "wsd:cooldown_fraction=0.1", truth)  # a schedule never fitted
    inputs = MOMENTUM_CURVE.curve_inputs(schedule_of("wsd:cooldown_fraction=0.1"), held_out.step)
    predicted = MOMENTUM_CURVE.predict(fit.coefficients, **inputs)
    assert predicted == pytest.approx(held_out.loss, rel=1e-6)


def test_the_bootstrap_resamples_whole_curves() -> None:
    truth = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}
    rng = np.random.default_rng(1)
    curves = pd.concat([synthetic_curve(f"run{i}", text, truth) for i, text in enumerate(SCHEDULES * 2)])
    curves = curves.assign(loss=curves.loss * np.exp(rng.normal(0, 0.003, len(curves))))
    fit = fit_curves("momentum_curve", curves, bootstrap=20, n_jobs=1)
    assert fit.uncertainty == "bootstrap(n=20, seed=0)" and fit.options["bootstrap_unit"] == "curve"
    assert set(fit.intervals) >= set(truth)
    for name, value in truth.items():
        low, high = fit.intervals[name]
        assert low < fit.coefficients[name] < high and abs(value - fit.coefficients[name]) < 3 * (high - low)
    assert FitResult.from_json(fit.to_json()) == fit
    # One curve cannot be resampled as curves: no interval, said so, never a zero-width one.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alone = fit_curves("momentum_curve", curves[curves.run_id == "run0"], bootstrap=10, n_jobs=1)
    assert not alone.intervals and alone.uncertainty.startswith("none")
    assert any(issubclass(w.category, FitWarning) and "single distinct curve" in str(w.message) for w in caught)


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.drop(columns="schedule"), "curves lack column(s) schedule"),
    (lambda c: c.assign(loss=np.where(c.step == 100, np.nan, c.loss)), "curves column 'loss' must hold finite"),
    (lambda c: c.assign(loss=-c.loss), "curves column 'loss' must hold finite numbers > 0"),
    (lambda c: c.assign(step="x"), "curves column 'step' must hold finite numbers"),
    (lambda c: c.assign(step=c.step * 2), "curves of run 'run0': steps must be from 1 to the schedule's 2000"),
    (lambda c: c.assign(schedule=[schedule_of("cosine"), schedule_of("constant")] * (len(c) // 2)),
     "curves column 'schedule' must hold one Schedule per run; run 'run0' has 2"),
])
def test_bad_curve_tables_are_refused_in_one_line(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    curves = synthetic_curve("run0", "cosine", {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3})
    with pytest.raises(ValueError) as caught:
        fit_curves("momentum_curve", edit(curves))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_curve_inputs_are_the_areas_at_the_logged_steps() -> None:
    schedule = schedule_of("wsd:cooldown_fraction=0.2")
    area, annealing = annealing_areas(schedule.lr_at(np.arange(schedule.steps)), schedule.warmup_steps)
    inputs = MOMENTUM_CURVE.curve_inputs(schedule, [1, 10, 2000])
    assert inputs["lr_area"] == pytest.approx(area[[0, 9, 1999]]) and inputs["lr_annealing"] == pytest.approx(annealing[[0, 9, 1999]])


def test_the_curve_law_is_not_a_params_tokens_law() -> None:
    with pytest.raises(TypeError, match="lr_area and lr_annealing"):
        MOMENTUM_CURVE.predict({"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}, params=1e6, tokens=1e9)
    for bad in ([0.0, 0.0], [1e-3, -1e-3], [1e-3, float("nan")]):
        with pytest.raises(ValueError, match="learning rates >= 0, not all 0"):
            annealing_areas(bad)
    # a cooldown to 0 ends at an LR of 0: it counts as ZERO_LR of the peak, adding nothing that matters
    area, annealing = annealing_areas([1e-3, 1e-3, 0.0])
    assert area[-1] == pytest.approx(2e-3, rel=1e-5) and annealing[-1] == pytest.approx(1e-3, rel=1e-5)
