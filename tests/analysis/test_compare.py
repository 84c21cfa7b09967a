"""Kaplan vs Chinchilla comparisons (scaling.analysis.compare)."""

import json

import pytest

from scaling.analysis.compare import compare, compare_range
from scaling.laws.presets import PRESETS, convert_params

ALL = list(PRESETS.values())


def test_own_allocation_has_zero_excess():
    result = compare(ALL, ALL, [1e21])
    scorers = {e.scorer for e in result.evaluations}
    assert scorers == {"chinchilla", "chinchilla-unrounded", "epoch2024", "muennighoff2023"}  # the loss-predicting presets
    for e in result.evaluations:
        if e.allocation == e.scorer:
            assert e.excess == pytest.approx(0.0, abs=1e-12)
        else:
            assert e.excess >= -1e-12  # nothing beats a law's own optimum under that law
        assert e.excess_pct == pytest.approx(100 * e.excess / e.optimum_loss)


def test_kaplan_converted_to_total_and_worse_under_chinchilla():
    result = compare([PRESETS["kaplan2020"]], [PRESETS["chinchilla"]], [5.76e23])
    (alloc,), (score,) = result.allocations, result.evaluations
    assert alloc.params_convention == "non-embedding"
    # Pearce & Song 2024: N_total = N_nonemb + 47491 N_nonemb^(1/3).
    assert alloc.params_total == pytest.approx(alloc.params + 47491 * alloc.params ** (1 / 3))
    assert score.params == pytest.approx(alloc.params_total)
    assert score.tokens == pytest.approx(5.76e23 / (6 * score.params))
    assert score.excess_pct > 1.0  # Kaplan's larger model on fewer tokens loses under Chinchilla's law
    assert any("Pearce & Song" in n for n in result.notes)
    assert any("Eq. 5.5" in n for n in result.notes)


def test_range_is_one_budget_per_decade_and_diverges():
    result = compare_range([PRESETS["kaplan2020"], PRESETS["chinchilla"]], [PRESETS["chinchilla"]], 1e19, 1e25)
    assert result.budgets == pytest.approx([10.0**k for k in range(19, 26)])
    kaplan = [e.excess_pct for e in result.evaluations if e.allocation == "kaplan2020"]
    assert kaplan[-1] > kaplan[0]  # N ~ C^0.73 vs C^0.45: the allocations drift apart
    json.loads(result.to_json())


def test_bad_inputs():
    with pytest.raises(ValueError, match="LO"):
        compare_range(ALL, ALL, 1e22, 1e20)
    with pytest.raises(ValueError, match="predicts a loss"):
        compare(ALL, [PRESETS["kaplan2020"]], [1e21])
    with pytest.raises(ValueError, match="positive finite"):
        compare(ALL, ALL, [float("nan")])


def test_total_allocation_converted_for_a_non_embedding_scorer():
    # Kaplan's Eq. 1.5 (Table 2) as a scorer: N is non-embedding, so a total-N allocation is
    # converted with the inverse of Pearce & Song 2024's relation.
    from scaling.laws.kaplan import TABLE2
    from scaling.laws.presets import Preset
    joint = Preset(label="kaplan-eq1.5", law="kaplan_nd", coefficients=TABLE2, params_convention="non-embedding",
                   source="Kaplan et al. 2020, Table 2", dataset="WebText2", tokenizer="GPT-2 BPE")
    result = compare([PRESETS["chinchilla"], joint], [joint], [1e21])
    chinchilla, own = result.evaluations
    n_total = result.allocations[0].params
    assert chinchilla.params == pytest.approx(float(convert_params(n_total, source="total", target="non-embedding")))
    assert own.excess == pytest.approx(0.0, abs=1e-12) and chinchilla.excess > 0


def test_range_wider_than_max_decades_or_overflowing_is_rejected():
    with pytest.raises(ValueError, match="flops_range"):
        compare_range(ALL, ALL, 1e-300, 1e300)
    with pytest.raises(ValueError, match="flops"):
        compare(ALL, ALL, [1e-300])
