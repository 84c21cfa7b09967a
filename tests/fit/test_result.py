"""FitResult (scaling.fit.result): LawEstimate protocol, intervals, versioned JSON."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.laws.registry import get_law
from scaling.fit.result import resolve_law
from scaling.fit.result import READABLE_SCHEMAS, FitResult

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json"
"""`fit_law("chinchilla", "chinchilla-2022", drop_highest=5, bootstrap=20, seed=0)`, saved with
schema scaling.FitResult/1. It must keep loading (saved results still load, as lmfit tests its saved models)."""


def test_saved_schema1_result_still_loads():
    fit = FitResult.from_json(FIXTURE.read_text())
    assert fit.law == "chinchilla" and fit.approach == "3" and fit.converged
    assert fit.n_points == 240 and fit.uncertainty == "bootstrap(n=20, seed=0)"
    assert fit.coefficients["E"] == pytest.approx(1.8172, abs=2e-3)  # Besiroglu et al. 2024
    assert fit.derived["a"] == pytest.approx(0.5139, abs=1e-3)
    assert fit.label.startswith("fit:chinchilla@")
    # The LawEstimate protocol, as planning uses it.
    params, tokens = fit.optimal(1e21)
    assert 6 * params * tokens == pytest.approx(1e21, rel=1e-9)
    assert fit.predict(params, tokens) == pytest.approx(
        get_law("chinchilla").predict(fit.coefficients, params, tokens))
    assert fit.params_convention == "total"


def test_round_trip_is_exact():
    fit = FitResult.from_json(FIXTURE.read_text())
    again = FitResult.from_json(fit.to_json())
    assert again == fit
    assert again.to_json() == fit.to_json()


@settings(max_examples=20, deadline=None)
@given(E=st.floats(0.5, 4.0), alpha=st.floats(0.05, 1.0), beta=st.floats(0.05, 1.0),
       objective=st.one_of(st.none(), st.floats(0.0, 10.0)), converged=st.booleans())
def test_round_trip_property(E, alpha, beta, objective, converged):
    fit = FitResult.build(law="chinchilla", coefficients={"E": E, "A": 400.0, "B": 410.0, "alpha": alpha, "beta": beta},
                          converged=converged, message="m", n_points=10, data_digest="0" * 64, objective=objective)
    assert FitResult.from_json(fit.to_json()) == fit
    assert fit.derived["a"] == pytest.approx(beta / (alpha + beta))  # Hoffmann et al. 2022, Eq. 4


def test_json_keys_as_the_cli_promises():
    import json
    data = json.loads(FIXTURE.read_text())
    assert data["schema"] in READABLE_SCHEMAS
    assert set(data["coefficients"]) == {"E", "A", "B", "alpha", "beta"}
    for key in ("a", "b", "objective", "converged"):
        assert key in data


def test_other_schema_is_refused():
    with pytest.raises(ValueError, match="field schema is .scaling.FitResult/0.; this version reads"):
        FitResult.from_json('{"schema": "scaling.FitResult/0"}')


def test_intervals_at_a_budget_come_from_the_draws():
    fit = FitResult.from_json(FIXTURE.read_text())
    intervals = fit.optimal_interval([1e21, 1e23], level=0.9)
    params, tokens = fit.optimal(np.array([1e21, 1e23]))
    for name, point in (("params", params), ("tokens", tokens)):
        low, high = intervals[name]
        assert np.all(low <= point) and np.all(point <= high) and np.all(low < high)
    low, high = intervals["loss"]
    assert np.all(low < high) and np.all(high < 3.0)
    low, high = fit.predict_interval(1e9, 2e10)
    assert low < fit.predict(1e9, 2e10) < high


def test_no_draws_no_intervals():
    fit = FitResult.build(law="chinchilla", coefficients={"E": 1.7, "A": 400.0, "B": 410.0, "alpha": 0.34, "beta": 0.28},
                          converged=True, message="m", n_points=10, data_digest="0" * 64)
    assert fit.stderr is None and fit.cov is None and fit.intervals == {}
    with pytest.raises(ValueError, match="bootstrap"):
        fit.optimal_interval(1e21)


def test_plan_reads_a_fit_file():
    estimate = resolve_law(str(FIXTURE))
    assert isinstance(estimate, FitResult)
    assert estimate.optimal(1e21)[0] == pytest.approx(FitResult.from_json(FIXTURE.read_text()).optimal(1e21)[0])


def test_optimal_interval_survives_draws_whose_optimum_overflows():
    # A bootstrap draw with both exponents near 0 puts N_opt at 0 and D_opt at infinity
    # (G = (alpha A / (beta B))^(1/(alpha+beta)) underflows); its loss there is unbounded and must
    # show in the interval, not crash it.
    from scaling.fit.result import FitResult

    good = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    samples = {k: [v] * 99 for k, v in good.items()}
    for draw in (0, 1):
        samples["beta"][draw] = samples["alpha"][draw] = 1e-12
    fit = FitResult.build(law="chinchilla", coefficients=good, samples=samples, converged=True,
                          message="", n_points=10, data_digest="x", level=0.999)
    interval = fit.optimal_interval(1e21)
    low, high = interval["loss"]
    assert np.isfinite(low).all() and np.isinf(high).all()
