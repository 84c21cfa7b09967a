"""Allocation-only rules (scaling.laws.allocation)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.laws.registry import get_law


@settings(max_examples=50, deadline=None)
@given(log_c=st.floats(10, 30), k=st.floats(0.01, 1.0), a=st.floats(0.3, 0.7), r=st.floats(1, 100))
def test_six_n_d_and_monotone(log_c, k, a, r):
    c = 10**log_c
    for name, coef in (("power_allocation", {"k": k, "a": a}), ("tokens_per_param", {"r": r})):
        n, d = get_law(name).optimal(coef, c)
        assert 6 * n * d == pytest.approx(c, rel=1e-9)
        n2, d2 = get_law(name).optimal(coef, 2 * c)
        assert n2 > n and d2 > d


def test_tokens_per_param_ratio():
    n, d = get_law("tokens_per_param").optimal({"r": 20.0}, 6 * 20 * 1e18)
    assert n == pytest.approx(1e9) and d == pytest.approx(2e10)
