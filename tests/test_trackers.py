"""Trackers with the real clients, offline: a tiny sweep logged to MLflow (sqlite) by
`scaling sweep --tracker mlflow` and fitted back from MLflow; the same runs to TensorBoard event
files and to W&B offline run folders, read back with each tool's own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sweep_specs import tiny_spec
from scaling.rundir.files import run_dirs
from scaling.rundir.summary import summary_row
from scaling.runs import read_runs

pytest.importorskip("torch")
pytestmark = pytest.mark.slow  # a real sweep, and MLflow creating its database: about a minute here
TINY = tiny_spec(widths="[8, 16, 24]")
COLUMNS = ["run_id", "params", "params_nonembedding", "tokens", "flops", "loss", "seed", "budget_flops",
           "n_layer", "d_model", "lr", "batch_tokens"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny sweep run by the CLI with --tracker mlflow: (sweep dir, tracking URI)."""
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("tracked")
    (root / "tiny.toml").write_text(TINY)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result = CliRunner().invoke(app(), ["sweep", str(root / "tiny.toml"), "--out", str(root / "runs"),
                                        "--workers", "2", "--tracker", "mlflow", "--tracking-uri", uri])
    assert result.exit_code == 0, result.output
    return root / "runs" / "tiny", uri


def app():  # imported late: the module must collect without the extras
    from scaling.cli import app as typer_app

    return typer_app


def _table(frame: pd.DataFrame, columns: list[str] = COLUMNS) -> pd.DataFrame:
    return frame[columns].sort_values("run_id").reset_index(drop=True)


def test_mlflow_round_trip_gives_the_store_runs_table_and_fit(logged: tuple[Path, str]) -> None:
    from scaling.trackers import read_tracker

    sweep_dir, uri = logged
    from_store = read_runs(sweep_dir)
    from_mlflow = read_runs(read_tracker("mlflow:tiny", uri))
    assert len(from_store) == 6
    pd.testing.assert_frame_equal(_table(from_mlflow), _table(from_store), check_dtype=False)

    fits = [CliRunner().invoke(app(), ["fit", source, "--approach", "3", "--format", "json", "--jobs", "1",
                                       "--tracking-uri", uri])
            for source in (str(sweep_dir), "mlflow:tiny")]
    assert all(f.exit_code == 0 for f in fits), [f.output for f in fits]
    store_fit, mlflow_fit = (json.loads(f.stdout) for f in fits)
    assert mlflow_fit["data_digest"] == store_fit["data_digest"]  # the same rows were fitted
    # the rows come back in another order: the optimum agrees to rounding
    assert mlflow_fit["coefficients"] == pytest.approx(store_fit["coefficients"], rel=1e-6)


def test_mlflow_holds_config_curve_and_record_once(logged: tuple[Path, str]) -> None:
    from mlflow.tracking import MlflowClient

    from scaling.trackers import open_tracker

    sweep_dir, uri = logged
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id],
                                "tags.`scaling.run_id` = '" + run_dirs(sweep_dir)[0].name + "'")
    record = json.loads((run_dirs(sweep_dir)[0] / "record.json").read_text())
    assert run.data.params["model.d_model"] == str(record["config"]["model"]["d_model"])
    assert run.data.metrics["loss"] == pytest.approx(record["loss"]) and run.data.tags["status"] == "ok"
    history = client.get_metric_history(run.info.run_id, "curve/val_loss")
    assert len(history) >= 2 and history[-1].value == pytest.approx(record["loss"])
    tracker = open_tracker("mlflow", uri, "tiny")  # a rerun of the sweep logs nothing twice
    assert not tracker.log_run(summary_row(run_dirs(sweep_dir)[0], "tiny"), run_dirs(sweep_dir)[0])


def test_tensorboard_event_files_hold_each_run(logged: tuple[Path, str], tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from scaling.trackers import open_tracker

    sweep_dir, _ = logged
    tracker = open_tracker("tensorboard", str(tmp_path), "tiny")
    run_dir = run_dirs(sweep_dir)[0]
    assert tracker.log_run(summary_row(run_dir, "tiny"), run_dir)
    events = EventAccumulator(str(tmp_path / "tiny" / run_dir.name))
    events.Reload()
    record = json.loads((run_dir / "record.json").read_text())
    assert events.Scalars("curve/val_loss")[-1].value == pytest.approx(record["loss"], rel=1e-6)
    assert events.Scalars("final/params")[0].value == record["params"]
    assert len(events.Scalars("curve/train_loss")) > 5


def test_wandb_offline_run_folders_read_back(logged: tuple[Path, str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    from scaling.trackers import open_tracker, read_tracker

    monkeypatch.setenv("WANDB_MODE", "offline")
    sweep_dir, _ = logged
    tracker = open_tracker("wandb", str(tmp_path), "tiny")
    logged_dirs = run_dirs(sweep_dir)[:2]
    for run_dir in logged_dirs:
        assert tracker.log_run(summary_row(run_dir, "tiny"), run_dir)
    assert not tracker.log_run(summary_row(logged_dirs[0], "tiny"), logged_dirs[0])
    from_wandb = read_runs(read_tracker(f"wandb:{tmp_path}"))
    from_store = read_runs(sweep_dir)
    expected = from_store[from_store["run_id"].isin([d.name for d in logged_dirs])]
    columns = [c for c in COLUMNS if c != "budget_flops"]  # summary_row without the plan has none
    pd.testing.assert_frame_equal(_table(from_wandb, columns), _table(expected, columns), check_dtype=False)
