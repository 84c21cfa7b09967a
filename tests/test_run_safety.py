"""Silent divergence flagged, one writer per run directory, readable files, `scaling runs` on
an empty folder."""

from __future__ import annotations

import os
import stat

import pytest
from typer.testing import CliRunner

from scaling.rundir.lock import run_lock
from scaling.cli import app
from scaling.errors import RunBusy
from scaling.atomic import write_atomic


def _rows(*losses, split="val"):
    return [{"step": 10 * (i + 1), "split": split, "loss": loss} for i, loss in enumerate(losses)]


@pytest.mark.needs("torch")
def test_divergence_above_the_uniform_guess_or_without_progress():
    from scaling.training.train import divergence

    assert "above ln 128 = 4.8520" in divergence(_rows(4.9, 5.0), 4.88, 128)
    assert "not below the loss at step 10 (3.0000)" in divergence(_rows(3.0, 3.1), 3.2, 128)
    assert divergence(_rows(4.8, 3.0), 2.5, 128) is None
    assert divergence(_rows(4.8, split="train") + _rows(4.0, 3.0), 2.9, 128) is None  # val rows first
    assert divergence([], None, 128) is None


def test_diverged_runs_are_left_out_of_fits_with_a_count(tmp_path, caplog):
    import pandas as pd

    from scaling.runs import read_runs

    sweep = tmp_path / "s"
    sweep.mkdir()
    rows = [{"run_id": f"r{i}", "status": "ok" if i < 4 else "diverged", "params": 1e6 * (i + 1),
             "tokens": 1e8, "loss": 3.0 - 0.1 * i if i < 4 else None, "schema_version": 1} for i in range(6)]
    pd.DataFrame(rows).to_parquet(sweep / "summary.parquet")
    runs = read_runs(sweep)
    assert len(runs) == 4
    assert "skipped 2 of 6 runs whose status is not ok ({'diverged': 2})" in caplog.text


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_files_are_created_readable_as_the_umask_allows(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "record.json", b"{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "record.json").stat().st_mode) == mode


@pytest.mark.needs("torch")
def test_train_takes_the_run_lock_sweeps_take(tmp_path):
    from scaling.config import ModelConfig, TrainConfig
    from scaling.training.train import train_exclusive

    cfg = TrainConfig(model=ModelConfig(n_layer=1, d_model=8, n_head=1, seq_len=8, vocab_size=16),
                      tokens=1000, data="synthetic:markov:seed=0,vocab=16", device="cpu")
    run_dir = tmp_path / "run"
    with run_lock(run_dir) as taken:  # as a sweep worker (or another `scaling train`) holds it
        assert taken
        with pytest.raises(RunBusy, match=f"{run_dir} is being trained by .* {os.getpid()}"):
            train_exclusive(cfg, run_dir)
        result = CliRunner().invoke(app, ["train", "--tokens", "1000", "--shape", "1,8,1", "--seq-len", "8",
                                          "--data", "synthetic:markov:seed=0,vocab=16", "--device", "cpu",
                                          "--out", str(run_dir), "--quiet"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if not line.startswith("warning: ")]
    assert len(errors) == 1 and "is being trained by" in errors[0]  # one line, besides the data's warning
    assert not (run_dir / "record.json").exists()


def test_runs_on_an_empty_folder_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["runs", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == f"{tmp_path}: no runs (no run directories and no sweep.json)\n"


@pytest.mark.slow  # trains twice; tests/reliability covers corrupt files through whole sweeps
def test_truncated_checkpoint_is_moved_aside_and_the_run_trained_from_the_start(tmp_path, caplog):
    from scaling.config import ModelConfig, TrainConfig
    from scaling.training.train import train

    cfg = TrainConfig(model=ModelConfig(n_layer=1, d_model=8, n_head=1, seq_len=8, vocab_size=16),
                      tokens=4000, data="synthetic:markov:seed=0,vocab=16", device="cpu", min_steps=10)
    reference = train(cfg, tmp_path / "reference")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    record = train(cfg, run_dir)
    assert f"{run_dir / 'checkpoint.pt'} is corrupt" in caplog.text
    assert len(list(run_dir.glob("checkpoint.pt.corrupt-*"))) == 1
    assert record.status == "ok" and record.loss == reference.loss


@pytest.mark.slow
def test_truncated_record_is_moved_aside_by_train(tmp_path):
    from scaling.config import ModelConfig, TrainConfig
    from scaling.training.train import train

    cfg = TrainConfig(model=ModelConfig(n_layer=1, d_model=8, n_head=1, seq_len=8, vocab_size=16),
                      tokens=4000, data="synthetic:markov:seed=0,vocab=16", device="cpu", min_steps=10)
    first = train(cfg, tmp_path)
    (tmp_path / "record.json").write_text('{"run_id": "x", "stat')
    again = train(cfg, tmp_path)
    assert again.loss == first.loss and list(tmp_path.glob("record.json.corrupt-*"))
