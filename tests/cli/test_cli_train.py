"""`scaling train`: options reach TrainConfig, errors are one line, a tiny real run works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="needs torch: pip install -e '.[train]'")
from typer.testing import CliRunner

import scaling.sweep.placement
import scaling.training.train
from scaling.cli import app
from scaling.config import TrainConfig
from scaling.flops import count_params
from scaling.rundir.curve import read_curve
from scaling.rundir.record import read_record

runner = CliRunner()
TINY = ["--shape", "2,32,4", "--seq-len", "32", "--tokens", "7680", "--batch-size", "8", "--device", "cpu",
        "--threads", "1", "--data", "synthetic:markov:vocab=16,tokens=32768,chains=32"]


def test_options_reach_the_train_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_train(cfg: TrainConfig, run_dir: Path, *, progress: Any = None, estimator: Any = None) -> Any:
        seen.update(cfg=cfg, run_dir=run_dir)
        raise ValueError("stop here")

    monkeypatch.setattr(scaling.training.train, "train", fake_train)
    result = runner.invoke(app, ["train", "--params", "1e5", "--tokens", "2e6", "--out", str(tmp_path),
                                 "--lr", "0.003", "--schedule", "wsd", "--seed", "4"])
    assert result.exit_code == 2 and "error: stop here" in result.output
    cfg = seen["cfg"]
    assert cfg.tokens == 2_000_000 and cfg.lr == 0.003 and cfg.schedule == "wsd" and cfg.seed == 4
    assert 0.95e5 <= count_params(cfg.model).total <= 1.05e5
    assert seen["run_dir"] == tmp_path
    result = runner.invoke(app, ["train", "--params", "1e5", "--tokens", "2e6", "--out", str(tmp_path / "mup"),
                                 "--rules", "deepseek", "--mup-base-width", "32"])
    assert result.exit_code == 2 and seen["cfg"].rules == "deepseek"
    assert (seen["cfg"].model.parametrization, seen["cfg"].model.base_width) == ("mup", 32)
    result = runner.invoke(app, ["train", "--params", "1e5", "--tokens", "2e6", "--out", str(tmp_path / "wsd"),
                                 "--schedule", "wsd:cooldown_fraction=0.1,cooldown_shape=1-sqrt"])
    assert result.exit_code == 2 and seen["cfg"].schedule == "wsd:cooldown_fraction=0.1,cooldown_shape=1-sqrt"


def test_a_loaded_cpu_trains_with_the_free_cores_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_train(cfg: TrainConfig, run_dir: Path, *, progress: Any = None, estimator: Any = None) -> Any:
        seen.update(cfg=cfg)
        raise ValueError("stop here")

    monkeypatch.setattr(scaling.training.train, "train", fake_train)
    monkeypatch.setattr(scaling.sweep.placement, "cpu_cores", lambda: (8, 3, 5.2))  # 8 cores, load 5.2
    args = ["train", "--params", "1e5", "--tokens", "2e6", "--device", "cpu", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert seen["cfg"].threads == 3 and result.output.strip() == "error: stop here"  # a refusal stays one line
    monkeypatch.undo()  # a real tiny run, its threads chosen on a loaded machine
    monkeypatch.setattr(scaling.sweep.placement, "cpu_cores", lambda: (2, 1, 1.4))
    tiny = [arg for i, arg in enumerate(TINY) if "--threads" not in TINY[max(i - 1, 0):i + 1]]
    result = runner.invoke(app, ["train", *tiny, "--out", str(tmp_path / "tiny")])
    assert result.exit_code == 0, result.output
    assert "1 of 2 cores busy (load average 1.4): training with 1 thread(s)" in result.output
    assert read_record(tmp_path / "tiny").extra["threads"] == 1
    monkeypatch.setattr(scaling.training.train, "train", fake_train)
    monkeypatch.setattr(scaling.sweep.placement, "cpu_cores", lambda: (8, 3, 5.2))
    runner.invoke(app, [*args, "--threads", "6"])
    assert seen["cfg"].threads == 6  # asked for: kept
    monkeypatch.setattr(scaling.sweep.placement, "cpu_cores", lambda: (8, 8, 0.1))
    result = runner.invoke(app, args)
    assert seen["cfg"].threads is None and "cores busy" not in result.output  # a quiet machine: torch's default


@pytest.mark.parametrize("schedule,message", [
    ("wsd:cooldown_shape=sqrt", "error: schedule.cooldown_shape must be one of linear, 1-sqrt, got 'sqrt'"),
    ("warmup", "error: schedule.kind must be one of cosine, wsd, stepped, constant, got 'warmup'"),
])
def test_a_bad_schedule_is_one_line_naming_the_field(tmp_path: Path, schedule: str, message: str) -> None:
    result = runner.invoke(app, ["train", "--params", "1e5", "--tokens", "2e6", "--out", str(tmp_path),
                                 "--schedule", schedule])
    assert result.exit_code == 2 and result.output.strip() == message


@pytest.mark.parametrize("args", [["--tokens", "1e4"], ["--tokens", "1e4", "--params", "1e4", "--shape", "1,8,1"],
                                  ["--tokens", "-5", "--params", "1e4"], ["--tokens", "1e4", "--shape", "2,30,4"],
                                  ["--tokens", "1e4", "--shape", "two"], ["--tokens", "1e4", "--params", "1e4", "--rules", "x.json"]])
def test_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_a_tiny_run_end_to_end(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "run"), "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["schema"] == "scaling.RunRecord/1" and record["status"] == "ok" and record["steps"] == 30
    assert read_record(tmp_path / "run") is not None and read_curve(tmp_path / "run").num_rows > 30
    # the held-out split is small: said once, as a warning, on stderr
    assert result.stderr.count("warning: validation split holds") == 1
    again = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "run"), "--json"])  # deprecated alias
    assert json.loads(again.stdout)["run_id"] == record["run_id"]
    table = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "run"), "--format", "csv"])
    assert table.stdout.splitlines()[0].startswith("run_id,status,loss,params,tokens,flops")


def test_help_describes_every_option() -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "--tokens" in result.output and "--shape" in result.output


@pytest.mark.parametrize("tracker", ["tensorboard", "wandb"])
def test_a_tracker_that_cannot_open_fails_before_the_run_trains(tmp_path, monkeypatch, tracker):
    pytest.importorskip({"tensorboard": "tensorboard", "wandb": "wandb"}[tracker])

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained before opening the tracker")

    monkeypatch.setattr("scaling.training.train.train_exclusive", must_not_train)
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a file where the tracker's folder would go
    result = CliRunner().invoke(app, ["train", "--params", "1e4", "--tokens", "2e4", "--out", str(tmp_path / "run"),
                                     "--tracker", tracker, "--tracking-uri", str(blocked / "logs")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: --tracking-uri '{blocked / 'logs'}': the {tracker} tracker cannot open it")
    assert result.output.count("\n") == 1


def test_a_curve_fit_puts_a_final_loss_estimate_in_the_progress_line(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from curve_world import SCHEDULES, synthetic_curve
    from scaling.fit.engine import fit_curves

    truth = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}
    curves = pd.concat([synthetic_curve(f"run{i}", text, truth) for i, text in enumerate(SCHEDULES)])
    fit = tmp_path / "curve-fit.json"
    fit.write_text(fit_curves("momentum_curve", curves, bootstrap=8, n_jobs=1).to_json())
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "run"), "--curve-fit", str(fit)])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stderr.splitlines() if "tokens/s" in line)  # the last progress line
    assert ", final ~ " in line and "own curve" not in line
    assert "DRIFTING" in line  # another model's law: this run is far from it
    assert "final train loss " in result.stderr and "from the curve fit" in result.stderr
    own = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "own")])
    assert own.exit_code == 0 and "final ~" not in own.stderr  # 30 steps: too short for its own curve
    assert "no final-loss estimate" in own.stderr


@pytest.mark.parametrize("content,names", [(None, "no such fit file"), ("[]", "--curve-fit"),
                                           ("chinchilla", "not a loss-curve law")])
def test_a_bad_curve_fit_is_refused_before_training(tmp_path: Path, content: str | None, names: str) -> None:
    path = tmp_path / "fit.json"
    if content == "chinchilla":
        path.write_text((Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json").read_text())
    elif content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "run"), "--curve-fit", str(path)])
    assert result.exit_code == 2 and result.output.startswith("error: --curve-fit: ") and names in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "run").exists()
