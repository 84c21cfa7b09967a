"""The run store: atomic writes, per-run locks, statuses, the derived summary, sweep metadata."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from scaling.atomic import write_json
from scaling.provenance import CHECKOUT
from scaling.rundir.record import is_finished
from scaling.rundir.events import append_event, read_events
from scaling.rundir.lock import is_locked, run_lock
from scaling.rundir.meta import read_sweep_meta, update_sweep_meta
from scaling.rundir.protocol import run_status
from scaling.rundir.summary import SUMMARY_COLUMNS, SUMMARY_SCHEMA_VERSION, read_summary, status_table, write_summary
from scaling.sweep.store import provenance

RECORD = {"run_id": "r1", "status": "ok", "loss": 3.25, "train_loss": 3.3, "params": 5000,
          "params_nonembedding": 2000, "tokens": 100000, "flops": 3.0e9, "flops_method": "6ND",
          "lr": 0.01, "batch_tokens": 512, "wall_s": 2.5, "device": "cpu", "started_at": "2026-01-01T00:00:00",
          "versions": {"git_sha": "deadbeef"},
          "config": {"seed": 4, "flops_method": "6ND", "device": "cpu",
                     "model": {"n_layer": 2, "d_model": 16, "n_head": 2, "seq_len": 32, "vocab_size": 256}}}


def make_run(sweep_dir, run_id, **changes):
    run_dir = sweep_dir / run_id
    run_dir.mkdir(parents=True)
    write_json(run_dir / "config.json", {"run_id": run_id, "config": RECORD["config"]})
    if changes.get("status") != "none":
        write_json(run_dir / "record.json", {**RECORD, "run_id": run_id, **changes})
    return run_dir


def test_write_atomic_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "f.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_run_lock_is_exclusive_and_released(tmp_path):
    with run_lock(tmp_path / "r") as first:
        assert first and is_locked(tmp_path / "r")
        with run_lock(tmp_path / "r") as second:  # another open file: flock conflicts
            assert not second
    assert not is_locked(tmp_path / "r")


def test_lock_of_a_killed_process_is_released(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from scaling.rundir.lock import run_lock\n"
        f"with run_lock(__import__('pathlib').Path({str(tmp_path / 'r')!r})) as ok:\n"
        "    print(ok, flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    assert is_locked(tmp_path / "r")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert not is_locked(tmp_path / "r")
    assert run_status(tmp_path / "r") == "pending"


def test_run_status_follows_the_files(tmp_path):
    run_dir = make_run(tmp_path, "r1", status="none")
    assert run_status(run_dir) == "killed"  # started (config.json), no record, not locked
    with run_lock(run_dir):
        assert run_status(run_dir) == "running"
    write_json(run_dir / "record.json", {**RECORD, "status": "diverged", "loss": None})
    assert run_status(run_dir) == "diverged" and is_finished(run_dir)
    write_json(run_dir / "record.json", {**RECORD, "status": "failed"})
    assert not is_finished(run_dir)


def test_summary_has_the_style_columns_and_nulls_for_unfinished_runs(tmp_path):
    make_run(tmp_path, "a")
    make_run(tmp_path, "b", status="diverged", loss=None)
    make_run(tmp_path, "c", status="none")
    update_sweep_meta(tmp_path, name="demo", spec={}, invocation={"command": "x"},
                            runs=[{"run_id": "a", "budget_flops": 3e9}])
    path = write_summary(tmp_path)
    frame = pd.read_parquet(path)
    assert list(frame.columns) == list(SUMMARY_COLUMNS)
    rows = frame.set_index("run_id")
    assert rows.loc["a", "loss"] == 3.25 and rows.loc["a", "budget_flops"] == 3e9
    assert rows.loc["a", "git_sha"] == "deadbeef" and rows.loc["a", "sweep"] == "demo"
    assert (rows.loc["a", "n_layer"], rows.loc["a", "d_model"], rows.loc["a", "seed"]) == (2, 16, 4)
    assert list(rows["status"]) == ["ok", "diverged", "killed"]
    assert rows.loc[["b", "c"], "loss"].isna().all()  # null, never NaN, when status != ok
    assert (frame["schema_version"] == SUMMARY_SCHEMA_VERSION).all()


def test_read_summary_rederives_a_stale_summary(tmp_path):
    make_run(tmp_path, "a")
    assert len(read_summary(tmp_path)) == 1
    time.sleep(0.01)
    make_run(tmp_path, "b")
    assert len(read_summary(tmp_path)) == 2
    assert len(read_summary(tmp_path / "summary.parquet")) == 2


def test_fitting_reads_the_sweep_directory(tmp_path):
    from scaling.runs import read_runs

    make_run(tmp_path, "a")
    make_run(tmp_path, "b", status="diverged", loss=None)
    write_summary(tmp_path)
    runs = read_runs(tmp_path)
    assert list(runs["loss"]) == [3.25] and list(runs["params"]) == [5000]


def test_sweep_meta_accumulates_runs_and_history(tmp_path):
    first = {"command": "scaling sweep s", "git_sha": "a"}
    update_sweep_meta(tmp_path, name="s", spec={"v": 1}, invocation=first, runs=[{"run_id": "x"}])
    meta = update_sweep_meta(tmp_path, name="s", spec={"v": 2}, invocation={**first, "git_sha": "b"},
                                   runs=[{"run_id": "x"}, {"run_id": "y"}])
    assert [r["run_id"] for r in meta["runs"]] == ["x", "y"]
    assert [h["git_sha"] for h in meta["history"]] == ["a", "b"] and meta["git_sha"] == "b"
    assert read_sweep_meta(tmp_path)["spec"] == {"v": 2}
    make_run(tmp_path, "x")  # x ran; y was planned and never started
    meta = update_sweep_meta(tmp_path, name="s", spec={"v": 3}, invocation=first, runs=[{"run_id": "z"}])
    assert [r["run_id"] for r in meta["runs"]] == ["x", "z"]  # x keeps its plan (budget label); y is no longer planned


def test_provenance_names_command_code_and_machine():
    info = provenance("scaling sweep cpu-smoke")
    assert info["command"] == "scaling sweep cpu-smoke"
    assert info["machine"]["cpu_count"] == os.cpu_count() and info["machine"]["hostname"]
    if (CHECKOUT / ".git").exists():  # run from this project's checkout: its HEAD, not None
        head = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
        assert info["git_sha"] == head.stdout.strip() and info["git_dirty"] in (True, False)
    else:  # an installed wheel
        assert info["git_sha"] is None


def test_status_table_lists_pending_runs(tmp_path):
    make_run(tmp_path, "a")
    update_sweep_meta(tmp_path, name="s", spec={}, invocation={},
                            runs=[{"run_id": "a", "budget_flops": 1e9}, {"run_id": "p", "budget_flops": 1e9,
                                                                           "params": 10, "tokens": 5}])
    table = status_table(tmp_path)
    assert dict(zip(table["run_id"], table["status"])) == {"a": "ok", "p": "pending"}
    with pytest.raises(FileNotFoundError):
        status_table(tmp_path / "nope")


def test_events_survive_a_torn_last_line(tmp_path):
    append_event(tmp_path, "start", "a")
    with open(tmp_path / "events.jsonl", "a") as handle:
        handle.write('{"event": "fin')
    assert [e["event"] for e in read_events(tmp_path)] == ["start"]
