"""One training run on CPU: falling loss, determinism, divergence, resume, records."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc
import pytest

pytest.importorskip("torch", reason="needs torch: pip install -e '.[train]'")
import torch

import scaling.training.train
from scaling.config import ModelConfig, TrainConfig
from scaling.training.model import GPT
from scaling.rundir.curve import read_curve
from scaling.rundir.record import RunRecord, read_record
from scaling.training.hyperparams import run_id
from scaling.training.train import train

DATA = "synthetic:markov:seed=0,vocab=16,tokens=65536,chains=64"
CFG = TrainConfig(model=ModelConfig(n_layer=2, d_model=32, n_head=4, seq_len=32, vocab_size=16),
                  tokens=60 * 8 * 32, data=DATA, device="cpu", batch_size=8, lr=1e-2, eval_tokens=1024,
                  eval_points=3, log_every=5, threads=1)
TIMING = ["wall_s", "tokens_per_s"]


def _curve(run_dir: Path) -> list[dict[str, object]]:
    return read_curve(run_dir).drop(TIMING).to_pylist()


def test_loss_falls_and_records_pass_schema(tmp_path: Path) -> None:
    record = train(CFG, tmp_path / "run")
    assert record.status == "ok" and record == read_record(tmp_path / "run")
    assert record.steps == 60 and record.tokens == CFG.tokens and record.batch_tokens == 256
    assert record.params == sum(p.numel() for p in GPT(CFG.model).parameters())
    assert record.flops == pytest.approx(6 * record.params * record.tokens)
    assert record.extra["entropy_rate"] < record.loss < math.log(16)
    curve = read_curve(tmp_path / "run")
    train_loss = curve.filter(pc.equal(curve["split"], "train"))["loss"].to_pylist()
    val_rows = curve.filter(pc.equal(curve["split"], "val"))
    assert train_loss[-1] < train_loss[0] - 0.3
    assert val_rows["step"].to_pylist() == [5, 15, 60] and val_rows["loss"][-1].as_py() == record.loss
    assert set(curve["run_id"].to_pylist()) == {run_id(CFG)}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["run_id"] == record.run_id
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_one_seed_gives_one_curve(tmp_path: Path) -> None:
    a, b = train(CFG, tmp_path / "a"), train(CFG, tmp_path / "b")
    assert a.loss == b.loss and _curve(tmp_path / "a") == _curve(tmp_path / "b")
    other = train(replace(CFG, seed=1), tmp_path / "c")
    assert other.run_id != a.run_id and other.loss != a.loss


def test_injected_nan_gives_a_diverged_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forward = GPT.forward
    calls = {"n": 0}

    def poisoned(self: GPT, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        out = forward(self, idx, targets)
        calls["n"] += self.training
        return out * math.nan if self.training and calls["n"] > 12 else out

    monkeypatch.setattr(GPT, "forward", poisoned)
    record = train(CFG, tmp_path / "run")
    assert record.status == "diverged" and record.loss is None and record.steps == 12
    assert read_record(tmp_path / "run") == record
    assert all(math.isfinite(x) for x in read_curve(tmp_path / "run")["loss"].to_pylist())


class _Killed(Exception):
    pass


def _dies_at_step_33(monkeypatch: pytest.MonkeyPatch):
    """Make the trainer die at step 33 (as a kill would); returns the real lr_at, to restore."""
    lr_at = scaling.training.train.lr_at

    def dies_at_33(step: int, cfg: TrainConfig, steps: int) -> float:
        if step == 33:
            raise _Killed("killed")
        return lr_at(step, cfg, steps)

    monkeypatch.setattr(scaling.training.train, "lr_at", dies_at_33)
    return lr_at


def test_killed_run_resumes_to_the_same_curve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = train(CFG, tmp_path / "reference")
    interrupted = replace(CFG, checkpoint_every=10)
    assert run_id(interrupted) == reference.run_id  # checkpointing does not change the run
    lr_at = _dies_at_step_33(monkeypatch)
    with pytest.raises(_Killed):
        train(interrupted, tmp_path / "run")
    failed = read_record(tmp_path / "run")
    assert failed is not None and failed.status == "failed" and "killed" in str(failed.error)
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    monkeypatch.setattr(scaling.training.train, "lr_at", lr_at)
    resumed = train(interrupted, tmp_path / "run")
    assert resumed.status == "ok" and resumed.loss == reference.loss
    assert _curve(tmp_path / "run") == _curve(tmp_path / "reference")


def test_finished_run_is_not_trained_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = train(CFG, tmp_path / "run")
    monkeypatch.setattr(scaling.training.train._Trainer, "run", lambda self: pytest.fail("trained twice"))
    assert train(CFG, tmp_path / "run") == record
    with pytest.raises(ValueError, match="holds"):
        train(replace(CFG, seed=5), tmp_path / "run")


def test_data_wider_than_the_model_fails_cleanly(tmp_path: Path) -> None:
    cfg = replace(CFG, data="synthetic:markov:vocab=32,tokens=8192,chains=8")
    with pytest.raises(ValueError, match="vocabulary"):
        train(cfg, tmp_path / "run")
    record = read_record(tmp_path / "run")
    assert record is not None and record.status == "failed" and record.loss is None


def test_run_id_is_stable_and_ignores_operational_fields() -> None:
    assert run_id(CFG) == run_id(TrainConfig.from_dict(CFG.to_dict()))
    assert run_id(CFG) == run_id(replace(CFG, threads=2, checkpoint_every=3))
    assert run_id(CFG) != run_id(replace(CFG, lr=2e-2))
    assert len(run_id(CFG)) == 12


@pytest.mark.parametrize("change", [{"tokens": 0}, {"device": "tpu"}, {"schedule": "linear"}, {"lr": -1.0},
                                    {"min_lr_ratio": 1.5}, {"batch_size": 6, "micro_batch_size": 4},
                                    {"flops_method": "5ND"}, {"seed": -1}])
def test_train_config_rejects_bad_values(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(CFG, **change)


def test_train_config_round_trips() -> None:
    assert TrainConfig.from_dict(CFG.to_dict()) == CFG
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({**CFG.to_dict(), "learning_rate": 1.0})


def test_a_foreign_failed_record_is_retried(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "record.json").write_text(json.dumps({"run_id": run_id(CFG), "status": "failed", "loss": None}))
    assert train(CFG, run_dir).status == "ok"


def test_a_resumed_run_whose_corpus_was_replaced_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    cfg = replace(CFG, data=str(corpus), model=replace(CFG.model, vocab_size=256), checkpoint_every=10)
    lr_at = _dies_at_step_33(monkeypatch)
    with pytest.raises(_Killed):
        train(cfg, tmp_path / "run")
    monkeypatch.setattr(scaling.training.train, "lr_at", lr_at)
    corpus.write_text("pack my box with five dozen liquor jugs! " * 400)  # same name, other data
    with pytest.raises(ValueError, match=r"checkpoint.pt: run \w+ started on data .* \(the corpus was replaced\)"):
        train(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint.pt").exists()  # kept: restoring the corpus resumes the run
