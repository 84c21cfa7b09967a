"""Bounds before work: memory and time estimated, and impossible runs refused, before training."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sweep_specs import tiny_spec
from scaling.training import bounds
from scaling.training.bounds import ResourceLimitError, check_run, estimate_memory
from scaling.cli import app
from scaling.config import ModelConfig, TrainConfig
from scaling.flops import count_params
from scaling.training.hyperparams import resolve

MODEL = ModelConfig(n_layer=2, d_model=32, n_head=4, seq_len=32, vocab_size=64)


def test_memory_estimate_counts_adamw_state_and_activations():
    cfg = resolve(TrainConfig(model=MODEL, tokens=10**6, batch_size=8, device="cpu"))
    estimate = estimate_memory(cfg)
    assert estimate.state == 16 * count_params(MODEL).total  # weights, grads, two AdamW moments
    # Korthikanti et al. 2022, Eq. 1, float32: 2 s b d (34 + 5 a s / d) per layer, plus logits.
    per_layer = 2 * 32 * 8 * 32 * (34 + 5 * 4 * 32 / 32)
    assert estimate.activations == 2 * per_layer + 12 * 8 * 32 * 64
    doubled = estimate_memory(resolve(TrainConfig(model=MODEL, tokens=10**6, batch_size=16, device="cpu")))
    assert doubled.activations == pytest.approx(2 * estimate.activations)


def test_absurd_budget_is_refused_naming_the_largest_sensible_one():
    cfg = TrainConfig(model=MODEL, tokens=10**30, device="cpu")
    with pytest.raises(ResourceLimitError, match=r"largest sensible budget for this model is about [0-9.e+]+ tokens"):
        check_run(cfg)


def test_batch_beyond_memory_is_refused_naming_estimate_and_limit(monkeypatch):
    monkeypatch.setattr(bounds, "memory_limit", lambda device: (2**30, "available RAM"))
    cfg = TrainConfig(model=MODEL, tokens=10**9, batch_size=200_000, device="cpu")
    with pytest.raises(ResourceLimitError, match=r"needs about [0-9.]+ GiB .* available RAM here is 1 GiB"):
        check_run(cfg)
    with pytest.raises(ResourceLimitError, match=r"0.5 GiB \(1/2 per concurrent run\)"):
        check_run(TrainConfig(model=MODEL, tokens=10**9, batch_size=20_000, device="cpu"), share=2)
    check_run(TrainConfig(model=MODEL, tokens=10**6, batch_size=8, device="cpu"))  # small: accepted


@pytest.mark.needs("torch")
def test_train_refuses_before_creating_the_run(tmp_path):
    result = CliRunner().invoke(app, ["train", "--tokens", "1e30", "--shape", "1,8,1", "--device", "cpu",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "largest sensible budget" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


SPEC = tiny_spec(name="huge", budgets="[1e8, 1e40]")


@pytest.mark.parametrize("dry_run", [True, False])
def test_sweep_with_an_absurd_budget_is_refused_before_any_work(tmp_path, dry_run):
    spec = tmp_path / "huge.toml"
    spec.write_text(SPEC)
    args = ["sweep", str(spec), "--out", str(tmp_path / "store")] + (["--dry-run"] if dry_run else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "largest sensible budget" in result.output and "1e+40 FLOPs" in result.output
    assert not (tmp_path / "store").exists()
