"""Helpers for the run-store tests: a finished run written as the trainer writes it, without
torch. Not a test module (no `test_` prefix)."""

from __future__ import annotations

from pathlib import Path

from scaling.atomic import write_json

CONFIG = {"seed": 4, "flops_method": "6ND", "device": "cpu",
          "model": {"n_layer": 2, "d_model": 16, "n_head": 2, "seq_len": 32, "vocab_size": 256}}
RECORD = {"run_id": "r1", "status": "ok", "loss": 3.25, "train_loss": 3.3, "params": 5000,
          "params_nonembedding": 2000, "tokens": 100000, "flops": 3.0e9, "flops_method": "6ND",
          "lr": 0.01, "batch_tokens": 512, "wall_s": 2.5, "device": "cpu", "started_at": "2026-01-01T00:00:00",
          "versions": {"git_sha": "deadbeef"}, "config": CONFIG}


def finished_run(sweep_dir: Path, run_id: str = "r1", **changes: object) -> Path:
    """`sweep_dir/run_id/` holding config.json and an "ok" record.json (`changes` edit the record)."""
    run_dir = sweep_dir / run_id
    run_dir.mkdir(parents=True)
    write_json(run_dir / "config.json", {"run_id": run_id, "config": CONFIG})
    write_json(run_dir / "record.json", {**RECORD, "run_id": run_id, **changes})
    return run_dir


def outside_file(tmp_path: Path, name: str = "precious.txt") -> Path:
    """A file outside every store, that a planted link points at."""
    path = tmp_path / "elsewhere" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("the user's own data\n")
    return path
