"""Built-in presets (scaling.laws.presets): constants, closed forms and conventions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.laws.chinchilla import exponents
from scaling.laws.presets import PRESETS, convert_params, get_preset
from scaling.fit.result import resolve_law

EXPECTED_NAMES = ["chinchilla", "chinchilla-unrounded", "epoch2024", "chinchilla-approach1",
                  "chinchilla-approach2", "kaplan2020", "tokens-per-param-20", "muennighoff2023"]


def test_every_preset_present():
    assert list(PRESETS) == EXPECTED_NAMES


def test_constants():
    # Hoffmann et al. 2022, Eq. 10 (printed).
    assert dict(PRESETS["chinchilla"].coefficients) == {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    # Hoffmann et al. 2022, TeX source: e, a, b are logs of E, A, B.
    unrounded = PRESETS["chinchilla-unrounded"].coefficients
    assert math.log(unrounded["E"]) == pytest.approx(0.5267228, abs=1e-12)
    assert math.log(unrounded["A"]) == pytest.approx(6.0073404, abs=1e-12)
    assert math.log(unrounded["B"]) == pytest.approx(6.0179186, abs=1e-12)
    assert unrounded["alpha"] == 0.33917084 and unrounded["beta"] == 0.2849083
    assert unrounded["E"] == pytest.approx(1.6934, abs=1e-4)
    # Besiroglu et al. 2024 (Epoch AI replication).
    assert dict(PRESETS["epoch2024"].coefficients) == {"E": 1.8172, "A": 482.01, "B": 2085.43,
                                                       "alpha": 0.3478, "beta": 0.3658}
    # Hoffmann et al. 2022 Tables 3 and A3 through a log-space least-squares power law.
    assert dict(PRESETS["chinchilla-approach1"].coefficients) == {"k": 0.09916, "a": 0.4981}
    assert dict(PRESETS["chinchilla-approach2"].coefficients) == {"k": 0.1449, "a": 0.4899}
    # Kaplan et al. 2020, Table 6.
    assert PRESETS["kaplan2020"].coefficients["N_e"] == 1.3e9 and PRESETS["kaplan2020"].coefficients["p_N"] == 0.73
    assert dict(PRESETS["tokens-per-param-20"].coefficients) == {"r": 20.0}


def test_exponent_a():
    # a = beta / (alpha + beta) (Hoffmann et al. 2022, Eq. 4): 0.4516 for the printed constants
    # (0.46/0.54 as the paper rounds them); Epoch's refit implies a = 0.513 (Besiroglu et al. 2024).
    assert exponents(PRESETS["chinchilla"].coefficients)[0] == pytest.approx(0.4516, abs=1e-4)
    assert exponents(PRESETS["epoch2024"].coefficients)[0] == pytest.approx(0.513, abs=1e-3)
    n1, _ = PRESETS["chinchilla"].optimal(1e20)
    n2, _ = PRESETS["chinchilla"].optimal(1e21)
    assert math.log10(n2 / n1) == pytest.approx(0.28 / 0.62)


def test_gopher_budget_40b_vs_32b():
    # Hoffmann et al. 2022 text: 40B params at Gopher's 5.76e23 FLOPs; reproduced only by the
    # unrounded constants (Besiroglu et al. 2024); the printed ones give about 32B.
    n_unrounded, _ = PRESETS["chinchilla-unrounded"].optimal(5.76e23)
    n_printed, _ = PRESETS["chinchilla"].optimal(5.76e23)
    assert n_unrounded == pytest.approx(40e9, rel=0.02)
    assert n_printed == pytest.approx(32e9, rel=0.02)


def test_closed_form_at_2_21e19():
    # Hoffmann et al. 2022, Eq. 4 closed form: N_opt ~ 326M, D_opt ~ 11.3B at C = 2.21e19 from the printed constants
    # (nanoGPT's grid search finds 316M; the paper's Table 3 row says 400M).
    n, d = PRESETS["chinchilla"].optimal(2.21e19)
    assert n == pytest.approx(326e6, rel=5e-3)
    assert d == pytest.approx(11.3e9, rel=5e-3)


def test_epoch2024_about_20_tokens_per_param():
    # Besiroglu et al. 2024: about 20 tokens per parameter near Chinchilla's scale.
    n, d = PRESETS["epoch2024"].optimal(5.76e23)
    assert 15 < d / n < 25
    assert float(PRESETS["epoch2024"].predict(70e9, 1.4e12)) == pytest.approx(
        1.8172 + 482.01 / 70e9**0.3478 + 2085.43 / 1.4e12**0.3658)


def test_kaplan_budget_is_twice_c_min():
    # Kaplan et al. 2020, Eq. 5.5: a user budget C is 2 C_min; Table 6 at C_min = 1 PF-day.
    kaplan = PRESETS["kaplan2020"]
    n, d = kaplan.optimal(2 * 8.64e19)
    assert (n, d) == (pytest.approx(1.3e9), pytest.approx(2e10))
    assert kaplan.params_convention == "non-embedding"
    assert "Eq. 5.5" in kaplan.budget_convention
    assert kaplan.details(2 * 8.64e19)["batch_tokens"] == pytest.approx(2e6)


@settings(max_examples=40, deadline=None)
@given(log_c=st.floats(16, 27), step=st.floats(0.01, 2))
def test_monotone_and_six_n_d(log_c, step):
    c = 10**log_c
    for preset in PRESETS.values():
        n1, d1 = preset.optimal(c)
        n2, d2 = preset.optimal(c * 10**step)
        assert n2 > n1 and d2 > d1, preset.label
        if preset.law != "kaplan_allocation":  # Table 6 gives D separately; every other law assumes C = 6ND
            assert 6 * n1 * d1 == pytest.approx(c, rel=1e-9), preset.label


def test_provenance_fields():
    for preset in PRESETS.values():
        assert preset.source and preset.dataset and preset.tokenizer
        assert preset.params_convention in ("total", "non-embedding")


def test_convert_params_pearce_song():
    # Pearce & Song 2024: N_total = N_nonemb + 47491 N_nonemb^(1/3).
    assert float(convert_params(1e9, source="non-embedding", target="total")) == pytest.approx(1e9 + 47491e3)
    values = np.logspace(5, 13, 9)
    back = convert_params(convert_params(values, source="non-embedding", target="total"),
                          source="total", target="non-embedding")
    np.testing.assert_allclose(back, values, rtol=1e-12)
    with pytest.raises(ValueError, match="convention"):
        convert_params(1e9, source="total", target="bogus")


def test_resolve_law():
    assert resolve_law("epoch2024") is PRESETS["epoch2024"]
    with pytest.raises(ValueError, match="unknown law 'nope'"):
        get_preset("nope")
    with pytest.raises(ValueError, match="no such fit file"):
        resolve_law("does/not/exist.json")


def test_bad_preset_rejected():
    from scaling.laws.presets import Preset
    with pytest.raises(ValueError, match="missing"):
        Preset(label="x", law="chinchilla", coefficients={"E": 1.0}, params_convention="total",
               source="s", dataset="d", tokenizer="t")
