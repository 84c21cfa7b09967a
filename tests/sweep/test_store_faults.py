"""The store under faults: corrupt files named, moved aside and retrained; newer schemas
refused; a store that cannot be written stops the sweep with nothing lost; the runs table is
never stale. Fast: the fake trainer of test_backends, in this process."""

from __future__ import annotations

import errno
import json
from collections import Counter

import pandas as pd
import pytest
from test_backends import InlineBackend, fake_train, tiny_spec

from scaling import atomic
from scaling.errors import StoreFault
from scaling.rundir.record import NewerSchema, is_finished
from scaling.runs import read_runs
from scaling.rundir.events import read_events
from scaling.rundir.meta import update_sweep_meta
from scaling.rundir.protocol import run_status
from scaling.rundir.summary import status_table, write_summary
from scaling.sweep.scheduler import schedule
from scaling.sweep.scheduler import run_sweep, sweep_tasks


def _sweep(tmp_path, train_fn=fake_train):
    spec = tiny_spec()
    tasks, entries = sweep_tasks(spec, tmp_path / spec.name)
    update_sweep_meta(tmp_path / spec.name, name=spec.name, spec={}, runs=entries, invocation={})
    state = schedule(tasks, InlineBackend(train_fn), retries=0)
    return tasks, state


def _starts(sweep_dir):
    return Counter(e["run_id"] for e in read_events(sweep_dir) if e["event"] == "start")


def test_truncated_record_is_named_moved_aside_and_retrained(tmp_path, caplog):
    tasks, _ = _sweep(tmp_path)
    broken = tasks[0].run_dir / "record.json"
    broken.write_bytes(broken.read_bytes()[:40])
    assert run_status(tasks[0].run_dir) == "corrupt"  # readers name it, never move it
    assert str(broken) in caplog.text
    _, state = _sweep(tmp_path)
    assert (state.ok, state.skipped) == (1, 2)
    assert _starts(tasks[0].sweep_dir)[tasks[0].run_id] == 2
    assert len(list(tasks[0].run_dir.glob("record.json.corrupt-*"))) == 1  # kept for inspection
    assert run_status(tasks[0].run_dir) == "ok"


def test_corrupt_curve_of_a_finished_run_is_moved_aside_and_retrained(tmp_path):
    tasks, _ = _sweep(tmp_path)
    (tasks[1].run_dir / "curve.parquet").write_bytes(b"PAR1 not really")
    _, state = _sweep(tmp_path)
    assert (state.ok, state.skipped) == (1, 2)
    assert list(tasks[1].run_dir.glob("curve.parquet.corrupt-*"))
    assert list(tasks[1].run_dir.glob("record.json.corrupt-*"))


def test_a_record_from_a_newer_schema_is_refused_not_taken_as_finished(tmp_path):
    tasks, _ = _sweep(tmp_path)
    path = tasks[0].run_dir / "record.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 99}))
    with pytest.raises(NewerSchema, match=f"{path}: run record schema_version 99; this scaling reads up to 1"):
        run_sweep(tiny_spec(), tmp_path, workers=1, train_fn=fake_train)
    with pytest.raises(NewerSchema):
        read_runs(tasks[0].sweep_dir)


def test_a_full_store_stops_the_sweep_with_nothing_lost_and_a_rerun_completes(tmp_path, monkeypatch):
    real = atomic._write_atomic
    budget = {"writes": 10}  # sweep.json, then 7 files per fake run

    def filling(path, data):  # the disk fills after a few files
        budget["writes"] -= 1
        if budget["writes"] < 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(atomic, "_write_atomic", filling)
    with pytest.raises(StoreFault, match="cannot write .*: No space left on device .*rerunning the sweep"):
        _sweep(tmp_path)
    finished = {t.run_id for t in sweep_tasks(tiny_spec(), tmp_path / "fake")[0] if is_finished(t.run_dir)}
    assert 0 < len(finished) < 3
    monkeypatch.setattr(atomic, "_write_atomic", real)
    _, state = _sweep(tmp_path)
    assert state.skipped == len(finished) and state.ok == 3 - len(finished)


def test_runs_table_is_never_stale(tmp_path):
    tasks, _ = _sweep(tmp_path)
    write_summary(tasks[0].sweep_dir)
    summary = pd.read_parquet(tasks[0].sweep_dir / "summary.parquet")
    # A sweep killed after a run finished but before it rewrote the summary: drop that run.
    summary[summary["run_id"] != tasks[2].run_id].to_parquet(tasks[0].sweep_dir / "summary.parquet")
    assert len(read_runs(tasks[0].sweep_dir)) == 3
    assert len(status_table(tasks[0].sweep_dir)) == 3
