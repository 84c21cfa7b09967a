"""`scaling tune` and hyperparameter rules: the fit recovers known laws, rules files round-trip
and drive TrainConfig resolution, tune specs expand through the sweep runner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling.atomic import write_json
from scaling.config import ModelConfig, TrainConfig
from scaling.flops import training_flops
from scaling.training.hyperparams import deepseek_budget, hyperparameter_sources, resolve, run_id
from scaling.fit.result import FitWarning
from scaling.sweep.spec import plan_runs
from scaling.sweep.specfile import parse_spec
from scaling.sweep.dryrun import dry_run
from scaling.tuning.grid import fit_rules, tune
from scaling.tuning.optimum import near_optimal, profile_optimum
from scaling.training.rules import DEEPSEEK_RULES, PowerRule, TuneRules, load_rules

TRUE_LR = (0.5, -0.1)
TRUE_BATCH = (2.0, 0.3)


def bowl_loss(flops: float, lr: float, batch_tokens: float) -> float:
    """A loss surface whose optimum sits at the true laws: quadratic in log LR and log batch."""
    eta = TRUE_LR[0] * flops ** TRUE_LR[1]
    batch = TRUE_BATCH[0] * flops ** TRUE_BATCH[1]
    return (3.0 - 0.1 * math.log10(flops)) * (1 + 0.02 * math.log(lr / eta) ** 2 + 0.01 * math.log(batch_tokens / batch) ** 2)


def synthetic_grid(budgets=(1e10, 1e11, 1e12, 1e13)) -> pd.DataFrame:
    rows = []
    for budget in budgets:
        eta, batch = TRUE_LR[0] * budget ** TRUE_LR[1], TRUE_BATCH[0] * budget ** TRUE_BATCH[1]
        for i in range(-3, 4):
            for j in range(-3, 4):
                lr, b = eta * 2.0 ** (i + 0.3), batch * 2.0 ** (j - 0.2)
                rows.append({"run_id": f"{budget:g}-{i}-{j}", "budget_flops": budget, "flops": budget, "lr": lr,
                             "batch_tokens": b, "loss": bowl_loss(budget, lr, b)})
    return pd.DataFrame(rows)


def test_fit_rules_recovers_known_laws_from_the_band():
    result = fit_rules(synthetic_grid(), band=0.005, bootstrap=20)
    assert result.rules.lr.p == pytest.approx(TRUE_LR[1], abs=0.02)
    assert result.rules.batch_tokens.p == pytest.approx(TRUE_BATCH[1], abs=0.02)
    assert result.rules.lr(1e11) == pytest.approx(TRUE_LR[0] * 1e11 ** TRUE_LR[1], rel=0.3)
    low, high = result.rules.lr.intervals["p"]
    assert low <= result.rules.lr.p <= high
    assert result.runs["near_optimal"].sum() < len(result.runs) / 2 and not result.edges


def test_fit_rules_flags_an_optimum_on_the_grid_edge():
    runs = synthetic_grid()
    runs = runs[runs["lr"] > runs.groupby("budget_flops")["lr"].transform("median")]  # best LR now at the low edge
    with pytest.warns(FitWarning, match="edge"):
        result = fit_rules(runs, band=0.005, bootstrap=0)
    assert result.edges and any("edge" in note for note in result.rules.notes)


def test_a_band_at_one_value_gives_a_constant_rule():
    runs = synthetic_grid()
    runs = runs[runs["batch_tokens"] == runs.groupby("budget_flops")["batch_tokens"].transform("min")]
    runs = runs.assign(batch_tokens=256.0)  # one batch everywhere: no trend in C, exponent 0
    result = fit_rules(runs, band=0.005, bootstrap=0)
    assert result.rules.batch_tokens.p == pytest.approx(0.0, abs=1e-6)
    assert result.rules.batch_tokens.k == pytest.approx(256.0, rel=1e-4)
    assert result.lr_fit is not None


def test_too_few_budgets_in_the_band_are_named_not_fitted():
    runs = synthetic_grid((1e10, 1e11))
    with pytest.warns(FitWarning, match="not identifiable"):
        result = fit_rules(runs, band=0.0, bootstrap=0)  # 2 budgets: 2 points for 2 coefficients
    assert result.lr_fit is None and result.rules.lr.p == 0.0
    assert any("not identifiable" in note for note in result.rules.notes)


def test_profile_optimum_and_band():
    lrs = [2.0**k for k in range(-8, -2)]
    losses = [(math.log2(lr) + 5.5) ** 2 for lr in lrs]
    best, interior = profile_optimum(lrs, losses)
    assert interior and best == pytest.approx(2**-5.5, rel=1e-6)
    assert profile_optimum(lrs, sorted(losses)) == (lrs[0], False)
    assert list(near_optimal([1.0, 1.005, 1.02, math.nan], 0.01)) == [True, True, False, False]


def test_rules_file_round_trips_and_rejects_other_json(tmp_path):
    rules = TuneRules(name="t", source="test", flops_convention="6ND", lr=PowerRule(k=0.5, p=-0.1, intervals={"p": [-0.2, 0.0]}),
                      batch_tokens=PowerRule(k=2.0, p=0.3), band=0.01, budgets=(1e10, 1e11))
    assert TuneRules.from_json(rules.to_json()) == rules
    with pytest.raises(ValueError, match="schema"):
        TuneRules.from_json(json.dumps({"schema": "scaling.FitResult/1"}))
    with pytest.raises(ValueError, match="rules"):
        load_rules("nope")
    with pytest.raises(ValueError, match="not found"):
        load_rules(f"rules:{tmp_path / 'missing.json'}")


def test_a_rules_file_is_its_to_json_text():
    # the committed cpu-tune rules, written by `scaling tune`: reading and writing them changes no byte
    text = (Path(__file__).resolve().parents[2] / "runs" / "cpu-tune" / "rules.json").read_text()
    rules = TuneRules.from_json(text, where="rules.json")
    assert rules.to_json() == text
    assert rules.lr.intervals["p"] == [-0.6623481387710002, -0.27936488326490244]
    with pytest.raises(ValueError, match="^bad.json: not a rules file"):
        TuneRules.from_json(json.dumps({"schema": "scaling.FitResult/1"}), where="bad.json")
    with pytest.raises(ValueError, match="^bad.json: bad rules file: 'lr'"):
        TuneRules.from_json(json.dumps({"schema": "scaling.TuneRules/1", "name": "t", "source": "s",
                                        "flops_convention": "6ND"}), where="bad.json")

def test_deepseek_preset_is_the_published_law():
    # DeepSeek-AI 2024, Sec. 3.1, Eq. 1 / Fig. 3: eta_opt = 0.3118 C^-0.1250, B_opt = 0.2920 C^0.3271
    assert (DEEPSEEK_RULES.lr.k, DEEPSEEK_RULES.lr.p) == (0.3118, -0.1250)
    assert (DEEPSEEK_RULES.batch_tokens.k, DEEPSEEK_RULES.batch_tokens.p) == (0.2920, 0.3271)
    cfg = TrainConfig(model=ModelConfig(n_layer=2, d_model=64, n_head=1), tokens=2_000_000, rules="deepseek")
    assert resolve(cfg).lr == pytest.approx(0.3118 * deepseek_budget(cfg) ** -0.125)


def test_train_config_reads_a_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(TuneRules(name="t", source="test", flops_convention="6ND", lr=PowerRule(k=0.5, p=-0.1),
                              batch_tokens=PowerRule(k=2.0, p=0.3)).to_json())
    model = ModelConfig(n_layer=2, d_model=32, n_head=1, seq_len=32)
    cfg = TrainConfig(model=model, tokens=5_000_000, rules=f"rules:{path}", min_steps=10)
    flops = training_flops(model, cfg.tokens)
    resolved = resolve(cfg)
    assert resolved.lr == pytest.approx(0.5 * flops**-0.1)
    assert resolved.batch_size == round(2.0 * flops**0.3 / 32)
    assert hyperparameter_sources(cfg) == {"lr": f"rules:{path} eta_opt(C)", "batch": f"rules:{path} B_opt(C)"}
    assert "rules" not in TrainConfig(model=model, tokens=10).to_dict()  # old run ids stay
    assert run_id(cfg) != run_id(TrainConfig(model=model, tokens=5_000_000, min_steps=10))
    with pytest.raises(ValueError, match="rules"):
        TrainConfig(model=model, tokens=10, rules="file.json")


TUNE_SPEC = """
name = "tiny-tune"
data = "synthetic:markov:seed=0,vocab=16"
device = "cpu"
[shape]
n_layer = 1
seq_len = 16
vocab_size = 16
[isoflop]
budgets = [1e9, 3e9, 1e10]
sizes = { center_tokens_per_param = 20, count = 1 }
[tune]
lr = [0.001, 0.004, 0.016, 0.064]
batch_size = [2, 4, 8]
band = 0.01
bootstrap = 10
"""


def fake_train(cfg, run_dir):
    """Writes a record whose loss is the bowl at the run's LR and batch (no torch)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = resolve(cfg)
    batch_tokens = cfg.batch_size * cfg.model.seq_len
    flops = training_flops(cfg.model, cfg.tokens)
    record = {"run_id": run_dir.name, "status": "ok", "loss": bowl_loss(flops * 1e3, cfg.lr * 10, batch_tokens * 100),
              "train_loss": 2.0, "params": 1000, "params_nonembedding": 500, "tokens": cfg.tokens, "flops": flops,
              "flops_method": "6ND", "lr": cfg.lr, "batch_tokens": batch_tokens, "wall_s": 0.1, "device": "cpu",
              "started_at": "now", "versions": {}, "config": cfg.to_dict()}
    write_json(run_dir / "config.json", {"run_id": run_dir.name, "config": cfg.to_dict()})
    write_json(run_dir / "record.json", record)
    return record


@pytest.mark.filterwarnings("ignore:tune:scaling.fit.result.FitWarning")  # the coarse grid's edges, expected
def test_tune_spec_crosses_the_grid_and_writes_rules_a_sweep_reads(tmp_path):
    import tomllib

    spec = parse_spec(tomllib.loads(TUNE_SPEC))
    runs = plan_runs(spec)
    assert len(runs) == 3 * 4 * 3
    assert {dict(r.overrides)["lr"] for r in runs} == {0.001, 0.004, 0.016, 0.064}
    rows = dry_run(spec, tmp_path, measure=False).runs
    assert {r["lr_source"] for r in rows} == {"tune grid"}
    result, rules_path = tune(spec, tmp_path, workers=1, train_fn=fake_train)
    assert rules_path == tmp_path / "tiny-tune" / "rules.json"
    for label, fit in (("lr", result.lr_fit), ("batch", result.batch_fit)):
        assert (tmp_path / "tiny-tune" / "fits" / f"tune-{label}.json").exists() == (fit is not None)
    rules = load_rules(f"rules:{rules_path}")
    assert rules.band == 0.01 and rules.budgets == (1e9, 3e9, 1e10)
    sweep = parse_spec({**tomllib.loads(TUNE_SPEC.split("[tune]")[0]), "name": "uses-rules",
                        "train": {"rules": f"rules:{rules_path}", "min_steps": 1}})
    rows = dry_run(sweep, tmp_path, measure=False).runs
    assert all(r["lr_source"].startswith("rules:") for r in rows)
    assert [r["lr"] for r in rows] == pytest.approx([rules.lr(training_flops(run.model, run.tokens))
                                                     for run in plan_runs(sweep)])


def test_tune_spec_errors_name_the_field():
    import tomllib

    doc = tomllib.loads(TUNE_SPEC)
    with pytest.raises(ValueError, match=r"\[train\] may not set lr"):
        parse_spec({**doc, "train": {"lr": 0.01}})
    with pytest.raises(ValueError, match="tune.batch_size"):
        parse_spec({**doc, "tune": {"lr": [0.01], "batch_size": [0]}})
    with pytest.raises(ValueError, match="unknown keys in \\[tune\\]"):
        parse_spec({**doc, "tune": {"lr": [0.01], "batch_size": [1], "momentum": [0.9]}})


def test_mup_sweep_shapes_carry_the_parametrization():
    import tomllib

    doc = tomllib.loads(TUNE_SPEC)
    doc["shape"] = {**doc["shape"], "parametrization": "mup", "base_width": 16}
    del doc["tune"]
    runs = plan_runs(parse_spec(doc))
    assert all(r.model.parametrization == "mup" and r.model.base_width == 16 for r in runs)
    cfg = TrainConfig(model=runs[0].model, tokens=runs[0].tokens)
    assert "muP" in hyperparameter_sources(cfg)["lr"]


def test_synthetic_grid_has_its_optimum_inside():
    grid = synthetic_grid((1e10,))
    best = grid.loc[grid["loss"].idxmin()]
    assert 0.3 < best["lr"] / (TRUE_LR[0] * 1e10 ** TRUE_LR[1]) < 3 and np.isfinite(best["loss"])


@pytest.mark.slow  # the grid through worker processes (14 s); the library's grid: the test above
@pytest.mark.filterwarnings("ignore:tune:scaling.fit.result.FitWarning")  # the coarse grid's edges, expected
def test_tune_command_runs_the_grid_writes_rules_and_draws_the_figure(tmp_path, monkeypatch):
    import functools

    import scaling.tuning.grid as grid
    from typer.testing import CliRunner

    from scaling.cli import app

    monkeypatch.setattr(grid, "tune", functools.partial(grid.tune, train_fn=fake_train))
    (tmp_path / "tiny-tune.toml").write_text(TUNE_SPEC)
    figure = tmp_path / "tune.png"
    result = CliRunner().invoke(app, ["tune", str(tmp_path / "tiny-tune.toml"), "--out", str(tmp_path),
                                      "--workers", "1", "--figure", str(figure)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tiny-tune" / "rules.json").exists() and figure.stat().st_size > 0
    assert "eta_opt = " in result.output and f"wrote {tmp_path / 'tiny-tune' / 'rules.json'}" in result.output
    # Again, its runs all trained: --format json prints the rules file it writes, csv the optimum per budget.
    args = ["tune", str(tmp_path / "tiny-tune.toml"), "--out", str(tmp_path), "--workers", "1"]
    as_json = CliRunner().invoke(app, [*args, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    written = json.loads((tmp_path / "tiny-tune" / "rules.json").read_text())
    assert json.loads(as_json.stdout) == written and written["schema"] == "scaling.TuneRules/1"
    as_csv = CliRunner().invoke(app, [*args, "--format", "csv"])
    header, *rows = as_csv.stdout.strip().splitlines()
    assert header.startswith("budget_flops,") and len(rows) == len(written["budgets"])


def test_a_figure_that_cannot_be_written_is_refused_before_the_grid_trains(tmp_path):
    from typer.testing import CliRunner

    from scaling.cli import app

    (tmp_path / "tiny-tune.toml").write_text(TUNE_SPEC)
    for figure, says in ((tmp_path / "missing" / "tune.png", "--figure: no such directory"),
                         (tmp_path / "tune.txt", "--figure must end in .png")):
        result = CliRunner().invoke(app, ["tune", str(tmp_path / "tiny-tune.toml"), "--out", str(tmp_path),
                                          "--figure", str(figure)])
        assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
        assert not (tmp_path / "tiny-tune").exists()  # nothing trained
