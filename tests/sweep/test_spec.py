"""Sweep specs: TOML parsing, IsoFLOP and N x D grid expansion, bundled specs."""

from __future__ import annotations

import math
import tomllib

import pytest

from scaling.flops import count_params, flops_per_token
from scaling.sweep.grids import IsoFlopGrid, NxDGrid, ShapeRule, Sizes, log_range
from scaling.sweep.spec import SweepConfig, expand, plan_runs
from scaling.sweep.specfile import bundled_specs, load_spec, parse_spec

ISOFLOP = """
name = "iso"
data = "stdlib"
device = "cpu"
seeds = [0, 1]
[shape]
n_layer = 2
head_dim = 8
seq_len = 32
[isoflop]
budgets = [1e10, 1e11]
sizes = { d_model = [8, 16, 32] }
[train]
min_steps = 10
"""


def test_isoflop_tokens_fill_each_budget_under_6nd():
    spec = parse_spec(tomllib.loads(ISOFLOP))
    runs = plan_runs(spec)
    assert len(runs) == 2 * 3 * 2  # budgets x widths x seeds
    for run in runs:
        # Hoffmann et al. 2022, Sec. 3.2: D = C / (6 N), rounded to whole tokens
        six_nd = 6 * count_params(run.model).total * run.tokens
        assert six_nd == pytest.approx(run.budget_flops, rel=1e-4)
    assert {r.seed for r in runs} == {0, 1}


def test_isoflop_exact_flop_count_gives_fewer_tokens_than_6nd():
    doc = tomllib.loads(ISOFLOP)
    exact = parse_spec({**doc, "flops_method": "chinchilla_appF"})
    for run in plan_runs(exact):
        assert flops_per_token(run.model, "chinchilla_appF") * run.tokens == pytest.approx(run.budget_flops, rel=1e-4)
    six = {(r.model.d_model, r.budget_flops): r.tokens for r in plan_runs(parse_spec(doc))}
    assert all(r.tokens != six[(r.model.d_model, r.budget_flops)] for r in plan_runs(exact))


def test_log_range_of_sizes_and_suggested_shapes():
    spec = SweepConfig(name="g", grid=IsoFlopGrid(budgets=(1e15,), sizes=Sizes(params=log_range(1e5, 1e7, 3))))
    runs = plan_runs(spec)
    assert [r.model.d_model for r in runs] == sorted(r.model.d_model for r in runs)
    for run, target in zip(runs, (1e5, 1e6, 1e7)):
        assert count_params(run.model).total == pytest.approx(target, rel=0.05)


def test_centred_sizes_bracket_the_tokens_per_param_optimum():
    sizes = Sizes(center_tokens_per_param=20.0, span=16.0, count=5)
    targets = sizes.targets(6e18)
    assert len(targets) == 5
    assert math.sqrt(targets[0] * targets[-1]) == pytest.approx(math.sqrt(6e18 / 120), rel=1e-9)
    assert targets[-1] / targets[0] == pytest.approx(16.0)


def test_fixed_depth_width_rule_picks_nearest_count():
    rule = ShapeRule(n_layer=3, head_dim=8, seq_len=64)
    for target in (5e3, 3e4, 1e5):
        chosen = count_params(rule.shape_for(target)).total
        neighbours = [count_params(rule.model(rule.shape_for(target).d_model + k)).total for k in (-8, 8)
                      if rule.shape_for(target).d_model + k >= 8]
        assert all(abs(math.log(chosen / target)) <= abs(math.log(n / target)) for n in neighbours)
        assert rule.shape_for(target).n_head == rule.shape_for(target).d_model // 8


def test_n_by_d_grid_sizes_times_tokens_per_param():
    doc = {"name": "nd", "shape": {"n_layer": 2, "seq_len": 32, "params_convention": "non-embedding"},
           "grid": {"sizes": {"d_model": [16, 32]}, "tokens_per_param": [10, 40]}}
    runs = plan_runs(parse_spec(doc))
    assert len(runs) == 4 and all(r.budget_flops is None for r in runs)
    for run in runs:
        ratio = run.tokens / count_params(run.model).non_embedding
        assert min(abs(ratio - 10), abs(ratio - 40)) < 1e-3 * ratio


def test_n_by_d_grid_sizes_times_token_range():
    grid = NxDGrid(sizes=Sizes(params=(2e4,)), tokens=log_range(1e5, 1e6, 3))
    runs = plan_runs(SweepConfig(name="nd", grid=grid, shape=ShapeRule(n_layer=2, seq_len=32)))
    assert [r.tokens for r in runs] == [100000, 316228, 1000000]


def test_sizes_rounding_to_one_shape_are_dropped_once(caplog):
    spec = SweepConfig(name="dup", grid=IsoFlopGrid(budgets=(1e11,), sizes=Sizes(params=(9000.0, 9100.0))),
                       shape=ShapeRule(n_layer=2, seq_len=32))
    assert len(plan_runs(spec)) == 1
    assert "duplicate run" in caplog.text


def test_one_budget_in_two_tables_keeps_every_seed(caplog):
    # Same FLOPs and sizes, different seeds: every (shape, tokens, seed) is a run of its own.
    doc = {"name": "seeds", "shape": {"n_layer": 2, "seq_len": 32},
           "isoflop": {"budgets": [{"flops": 1e10, "sizes": {"d_model": [8, 16, 32]}, "seeds": [0]},
                                   {"flops": 1e10, "sizes": {"d_model": [8, 16, 32]}, "seeds": [1, 2]}]}}
    runs = plan_runs(parse_spec(doc))
    assert sorted((r.model.d_model, r.seed) for r in runs) == [(w, s) for w in (8, 16, 32) for s in (0, 1, 2)]
    assert "duplicate run" not in caplog.text
    doc["isoflop"]["budgets"][1]["seeds"] = [0, 1]  # seed 0 now planned twice: dropped once, said why
    runs = plan_runs(parse_spec(doc))
    assert sorted((r.model.d_model, r.seed) for r in runs) == [(w, s) for w in (8, 16, 32) for s in (0, 1)]
    assert "seeds [0]" in caplog.text and "listed twice" in caplog.text


def test_fixed_depth_shape_of_a_huge_size_is_found_at_once():
    # the width search bisects: a size far past any trainable one costs a few dozen counts
    rule = ShapeRule(n_layer=2)
    target = 1e15
    width = rule.shape_for(target).d_model
    assert rule.counted(rule.model(width - 8)) < target <= rule.counted(rule.model(width + 8))
    assert abs(math.log(rule.counted(rule.model(width)) / target)) < 1e-6


def test_per_budget_sizes():
    doc = {"name": "pb", "shape": {"n_layer": 2, "seq_len": 32},
           "isoflop": {"budgets": [{"flops": 1e10, "sizes": {"d_model": [8, 16]}},
                                   {"flops": 1e11, "sizes": {"d_model": [16, 32, 48]}}]}}
    runs = plan_runs(parse_spec(doc))
    assert [(r.budget_flops, r.model.d_model) for r in runs] == [
        (1e10, 8), (1e10, 16), (1e11, 16), (1e11, 32), (1e11, 48)]


def test_per_budget_seeds_override_the_spec_seeds():
    # More seeds where runs are cheap and noisy: the small budget gets three, the other the spec's.
    doc = {"name": "pb", "seeds": [0], "shape": {"n_layer": 2, "seq_len": 32},
           "isoflop": {"budgets": [{"flops": 1e10, "sizes": {"d_model": [8, 16]}, "seeds": [0, 1, 2]},
                                   {"flops": 1e11, "sizes": {"d_model": [16, 32]}}]}}
    runs = plan_runs(parse_spec(doc))
    assert [(r.budget_flops, r.model.d_model, r.seed) for r in runs] == [
        (1e10, 8, 0), (1e10, 8, 1), (1e10, 8, 2), (1e10, 16, 0), (1e10, 16, 1), (1e10, 16, 2),
        (1e11, 16, 0), (1e11, 32, 0)]
    doc["isoflop"]["budgets"][0]["seeds"] = []
    with pytest.raises(ValueError, match="isoflop.budgets.seeds must be a non-empty list"):
        parse_spec(doc)


@pytest.mark.parametrize("change, message", [
    ({"isoflop": {"budgets": [0.0], "sizes": [1e4]}}, "positive"),
    ({"grid": {"sizes": [1e4], "tokens": [1e6]}}, "exactly one of"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"min": 1e4, "count": 3}}}, "min, max and count"),
    ({"isoflop": {"budgets": [1e10], "sizes": [1e4], "size": 3}}, "unknown keys"),
    ({"train": {"tokens": 5}}, "may not set"),
    ({"flops_method": "7ND"}, "flops_method"),
    ({"seeds": []}, "seeds"),
    ({"shape": {"n_layer": 2, "params_convention": "embedding"}}, "params_convention"),
    ({"colour": "blue"}, "unknown sweep spec keys"),
    ({"shape": {"n_layer": "one"}}, "shape.n_layer must be an integer or null, got 'one'"),
    ({"shape": {"n_layer": 1, "seq_len": 1.5}}, "shape.seq_len must be an integer"),
    ({"isoflop": {"budgets": ["1e10"], "sizes": [1e4]}}, "isoflop.budgets must be a list of numbers"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"min": "a", "max": 1e5, "count": 3}}}, "isoflop.sizes.min must be a number"),
    ({"isoflop": {"budgets": [{"flops": "x", "sizes": [1e4]}]}}, "isoflop.budgets.flops must be a number"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"center_tokens_per_param": 20, "count": 2.5}}}, "count must be an integer"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"min": 1e4, "max": 1e5, "count": 1_000_000_000}}},
     "count from 1 to 1000"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"center_tokens_per_param": 20, "count": 10**9}}},
     "sizes.count from 1 to 1000"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"center_tokens_per_param": 0}}}, "center_tokens_per_param must be"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"center_tokens_per_param": -20}}}, "center_tokens_per_param must be"),
    ({"isoflop": {"budgets": [1e41], "sizes": [1e4]}}, "up to 1e\\+40"),
    ({"isoflop": {"budgets": [1e10], "sizes": [1e30]}}, "parameter counts up to 1e\\+15"),
    ({"isoflop": {"budgets": [1e10], "sizes": {"d_model": [2**40]}}}, "sizes.d_model must be integers from 1"),
    ({"isoflop": {"budgets": {"min": 1e10, "max": 1e12, "count": 1000}, "sizes": {"min": 1e4, "max": 1e6,
                                                                                  "count": 1000}}},
     "plans 2,000,000 runs"),
    ({"seeds": [2**63]}, "seeds must be integers from 0 to 4294967295"),
    ({"seeds": [-1]}, "seeds must be integers from 0"),
    ({"isoflop": None, "grid": {"sizes": [1e4], "tokens_per_param": [1e-9]}}, "less than one token"),
    ({"train": {"eval_points": 10**9}}, "eval_points must be at most 1000"),
    ({"train": {"compile": "no"}}, "compile must be true, false or None, got 'no'"),
])
def test_bad_specs_raise_value_error(change, message):
    doc = {**tomllib.loads(ISOFLOP), **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        expand(parse_spec(doc))


def test_widths_need_fixed_depth():
    spec = SweepConfig(name="w", grid=IsoFlopGrid(budgets=(1e10,), sizes=Sizes(widths=(16,))))
    with pytest.raises(ValueError, match="n_layer"):
        plan_runs(spec)


def test_expand_gives_train_configs_with_spec_defaults():
    configs = expand(parse_spec(tomllib.loads(ISOFLOP)))
    assert len(configs) == 12
    assert all(c.device == "cpu" and c.data == "stdlib" and c.min_steps == 10 for c in configs)


def test_unknown_train_key_names_the_fields():
    doc = tomllib.loads(ISOFLOP)
    doc["train"] = {"learning_rate": 1e-3}
    with pytest.raises(ValueError, match="unknown keys learning_rate"):
        expand(parse_spec(doc))


@pytest.mark.parametrize("name", ["cpu-smoke", "cpu-isoflop", "gpu-small", "gpu-1b"])
def test_bundled_specs_load_and_expand(name):
    assert name in bundled_specs()
    spec = load_spec(name)
    configs = expand(spec)
    assert spec.name == name and len(configs) >= 6
    assert len({(c.model, c.tokens, c.seed) for c in configs}) == len(configs)


def test_cpu_isoflop_design_follows_the_pilot():
    """The CPU study's design: 3 layers, head size 8, >= 4 budgets spanning >= 1.5 decades, 5+ sizes each."""
    spec = load_spec("cpu-isoflop")
    runs = plan_runs(spec)
    budgets = sorted({r.budget_flops for r in runs})
    assert len(budgets) >= 4 and budgets[-1] / budgets[0] >= 10**1.5
    assert all(r.model.n_layer == 3 and r.model.head_dim == 8 for r in runs)
    for budget in budgets:
        sizes = [r for r in runs if r.budget_flops == budget]
        assert len(sizes) >= 5
        # the optimum measured at the smallest budget, ~60 tokens/param, sits strictly inside
        # each budget's sizes, which span at least 8x in parameters
        ratios = [r.tokens / count_params(r.model).total for r in sizes]
        assert min(ratios) < 60 < max(ratios)
        counts = [count_params(r.model).total for r in sizes]
        assert max(counts) / min(counts) >= 8


def test_load_spec_errors(tmp_path):
    with pytest.raises(ValueError, match="no bundled spec"):
        load_spec("no-such-sweep")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_spec(bad)
    named = tmp_path / "mine.toml"
    named.write_text(ISOFLOP.replace('name = "iso"\n', ""))
    assert load_spec(named).name == "mine"
