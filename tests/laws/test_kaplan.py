"""Kaplan et al. 2020 forms (scaling.laws.kaplan) against the paper's tables and equations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.laws.registry import get_law
from scaling.laws.kaplan import PF_DAY, TABLE2, TABLE5, TABLE6


def test_table_constants():
    # Kaplan et al. 2020, Table 5 (single-variable fits).
    assert TABLE5 == {"N_c": 8.8e13, "alpha_N": 0.076, "D_c": 5.4e13, "alpha_D": 0.095,
                      "C_c": 3.1e8, "alpha_C": 0.050}
    # Kaplan et al. 2020, Table 2 (joint fit of Eq. 1.5).
    assert TABLE2 == {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
    # Kaplan et al. 2020, Table 6 (compute-efficient allocation, C_min in PF-days).
    assert TABLE6 == {"N_e": 1.3e9, "p_N": 0.73, "D_e": 2e10, "p_D": 0.27,
                      "B_e": 2.0e6, "p_B": 0.24, "S_e": 5.4e3, "p_S": 0.03}
    assert PF_DAY == 8.64e19


def test_single_variable_laws():
    # Eq. 1.1 and 1.2: at N = N_c (D = D_c) the loss is exactly 1; a 10x larger N scales it by 10^-alpha.
    n_law, d_law = get_law("kaplan_n"), get_law("kaplan_d")
    coef_n = {"N_c": TABLE5["N_c"], "alpha_N": TABLE5["alpha_N"]}
    assert n_law.predict(coef_n, params=8.8e13) == pytest.approx(1.0)
    assert n_law.predict(coef_n, params=1e9) / n_law.predict(coef_n, params=1e10) == pytest.approx(10**0.076)
    coef_d = {"D_c": TABLE5["D_c"], "alpha_D": TABLE5["alpha_D"]}
    assert d_law.predict(coef_d, tokens=5.4e12) == pytest.approx(10**0.095)
    offset = get_law("kaplan_n_offset")
    assert offset.predict({"E": 1.5, **coef_n}, params=1e9) == pytest.approx(1.5 + (8.8e13 / 1e9) ** 0.076)


def test_compute_frontier_in_pf_days():
    # Eq. 1.3 with C_c^min = 3.1e8 PF-days: at C_min = 1 PF-day, L = 3.1e8^0.05.
    law = get_law("kaplan_c")
    coef = {"C_c": TABLE5["C_c"], "alpha_C": TABLE5["alpha_C"]}
    assert law.predict(coef, flops=PF_DAY) == pytest.approx(3.1e8**0.05)


def test_joint_law_limits_and_optimum():
    law = get_law("kaplan_nd")
    # Eq. 1.5: with infinite data it reduces to (N_c/N)^alpha_N.
    assert law.predict(TABLE2, params=1e9, tokens=1e300) == pytest.approx((6.4e13 / 1e9) ** 0.076)
    # Its minimum on C = 6ND scales as C^(alpha_D/(alpha_N+alpha_D)) ~ C^0.575, not Table 6's 0.73.
    n1, _ = law.optimal(TABLE2, 1e20)
    n2, _ = law.optimal(TABLE2, 1e21)
    assert np.log10(n2 / n1) == pytest.approx(0.103 / (0.076 + 0.103))
    grid = np.logspace(np.log10(n1) - 1, np.log10(n1) + 1, 2001)
    losses = law.predict(TABLE2, params=grid, tokens=1e20 / (6 * grid))
    assert grid[np.argmin(losses)] == pytest.approx(n1, rel=3e-3)


def test_table6_allocation():
    law = get_law("kaplan_allocation")
    assert not law.predicts_loss
    n, d = law.optimal(TABLE6, PF_DAY)  # C_min = 1 PF-day: the table's scales
    assert (n, d) == (pytest.approx(1.3e9), pytest.approx(2e10))
    n, d = law.optimal(TABLE6, 1e3 * PF_DAY)
    assert n == pytest.approx(1.3e9 * 1e3**0.73) and d == pytest.approx(2e10 * 1e3**0.27)
    details = law.details(TABLE6, PF_DAY)
    assert details["batch_tokens"] == pytest.approx(2.0e6) and details["steps_min"] == pytest.approx(5.4e3)
    with pytest.raises(TypeError):
        law.predict(TABLE6, params=1e9, tokens=1e10)


@settings(max_examples=50, deadline=None)
@given(log_c=st.floats(15, 30), step=st.floats(0.01, 3))
def test_allocations_monotone(log_c, step):
    for name, coef in (("kaplan_allocation", TABLE6), ("kaplan_nd", TABLE2)):
        n1, d1 = get_law(name).optimal(coef, 10**log_c)
        n2, d2 = get_law(name).optimal(coef, 10 ** (log_c + step))
        assert n2 > n1 and d2 > d1


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="params"):
        get_law("kaplan_n").predict({"N_c": 1e13, "alpha_N": 0.07}, params=-1.0)
    with pytest.raises(ValueError, match="flops"):
        get_law("kaplan_allocation").optimal(TABLE6, float("nan"))
