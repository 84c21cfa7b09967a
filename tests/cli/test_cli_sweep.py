"""`scaling sweep` and `scaling runs`: the bundled smoke sweep end to end with the real trainer
(SIGKILLed mid-way, restarted, summarised, fitted), the dry run, the status table, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sweep_specs import tiny_spec
from scaling.rundir.events import read_events
from scaling.rundir.meta import update_sweep_meta
from scaling.cli import app

needs_torch = pytest.mark.skipif(find_spec("torch") is None, reason="needs torch: pip install -e '.[train]' (its check comes first)")

TINY = tiny_spec()


def _scaling(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from scaling.cli import main; main()", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # a minute of real training; resuming and skipping fast: tests/sweep/test_backends.py
@pytest.mark.needs("torch")
def test_smoke_sweep_killed_restarted_summarised_and_fitted(tmp_path):
    """End to end: `scaling sweep cpu-smoke`, kill -9 mid-way, rerun, fit Approach 2."""
    sweep_dir = tmp_path / "cpu-smoke"
    first = _scaling("sweep", "cpu-smoke", "--out", str(tmp_path))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(sweep_dir.glob("*/record.json")):
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    done_before = {p.parent.name: p.read_bytes() for p in sweep_dir.glob("*/record.json")}
    assert done_before, "the first sweep finished a run before it was killed"
    second = _scaling("sweep", "cpu-smoke", "--out", str(tmp_path))
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert "8/8 runs" in err

    events = read_events(sweep_dir)
    finishes = Counter(e["run_id"] for e in events if e["event"] == "finish")
    assert len(finishes) == 8 and set(finishes.values()) == {1}  # every run finished exactly once
    for run_id, record in done_before.items():  # finished runs were not retrained
        assert (sweep_dir / run_id / "record.json").read_bytes() == record
    assert not list(sweep_dir.rglob("*.tmp")) and not list(sweep_dir.glob("*/checkpoint.pt"))

    summary = pd.read_parquet(sweep_dir / "summary.parquet")
    assert len(summary) == 8 and (summary["status"] == "ok").all()
    assert summary["loss"].notna().all() and (summary["params"] > summary["params_nonembedding"]).all()
    assert sorted(summary["budget_flops"].unique()) == [1e9, 3e9]
    meta = json.loads((sweep_dir / "sweep.json").read_text())
    assert "sweep cpu-smoke" in meta["command"] and meta["machine"]["cpu_count"] == os.cpu_count()
    assert len(meta["history"]) == 2 and len(meta["runs"]) == 8

    fitted = CliRunner().invoke(app, ["fit", str(sweep_dir), "--approach", "2", "--format", "json"])
    assert fitted.exit_code == 0, fitted.output  # Approach 2 straight from the sweep directory
    fit = json.loads(fitted.output)
    assert fit["converged"] and fit["n_points"] == 8 and len(fit["optima"]) == 2
    assert not any(o["edge"] for o in fit["optima"])  # each budget's best size is interior
    assert 0 < fit["a"] < 2  # N_opt grows with C


@pytest.mark.needs("torch")
def test_dry_run_lists_every_run_with_flops_and_estimate(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    result = CliRunner().invoke(app, ["sweep", str(spec), "--dry-run", "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].split()[:2] == ["run_id", "budget"] and len(lines) == 2 + 4 + 2
    # each run: its status, FLOPs, micro batch x accumulation, estimated time, then where its LR and batch came from
    assert all("pending" in line and "e+08" in line and " x 1 " in line and "s  0.05/sqrt(d_model); " in line
               for line in lines[2:6])
    assert "4 runs (4 to train)" in lines[-2] and "from a probe" in lines[-2]
    assert lines[-1].startswith("placement: ") and "CPU workers" in lines[-1]
    assert not (tmp_path / "runs").exists()
    as_json = CliRunner().invoke(app, ["sweep", str(spec), "--dry-run", "--workers", "1", "--format", "json",
                                       "--out", str(tmp_path / "runs")])
    document = json.loads(as_json.stdout)
    assert document["schema"] == "scaling.SweepDryRun/1" and document["workers"] == 1 and len(document["runs"]) == 4
    # one worker runs them one after another: at least the sum of the runs' estimates
    assert document["wall_s"] >= sum(run["est_s"] for run in document["runs"])


def test_runs_prints_the_status_table(tmp_path):
    update_sweep_meta(tmp_path, name="s", spec={}, invocation={},
                            runs=[{"run_id": "abc", "budget_flops": 1e9, "params": 10, "tokens": 5}])
    result = CliRunner().invoke(app, ["runs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "abc" in result.output and "1 runs: 1 pending" in result.output
    as_json = CliRunner().invoke(app, ["runs", str(tmp_path), "--format", "json"])
    document = json.loads(as_json.output)
    assert document["schema"] == "scaling.RunsStatus/1" and document["runs"][0]["status"] == "pending"
    as_csv = CliRunner().invoke(app, ["runs", str(tmp_path), "--format", "csv"])
    assert as_csv.output.splitlines()[1].startswith("abc,pending")


def test_bad_input_is_one_line_exit_2(tmp_path):
    runner = CliRunner()
    for args in (["sweep", "no-such-spec"], ["sweep", "cpu-smoke", "--address", "x:1"],
                 ["sweep", "cpu-smoke", "--workers", "0"], ["runs", str(tmp_path / "missing")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: ") and result.output.count("\n") == 1


@needs_torch
def test_sweep_delegates_options_to_run_sweep(tmp_path, monkeypatch):
    import scaling.sweep.backends
    import scaling.sweep.scheduler

    calls = {}

    def fake_run_sweep(spec, out, **kwargs):
        calls.update(kwargs, name=spec.name, out=out)
        return scaling.sweep.backends.SweepProgress(total=0)

    monkeypatch.setattr(scaling.sweep.scheduler, "run_sweep", fake_run_sweep)
    result = CliRunner().invoke(app, ["sweep", "cpu-smoke", "--backend", "ray", "--address", "auto",
                                      "--retries", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls["name"] == "cpu-smoke" and calls["out"] == Path(tmp_path)
    assert (calls["backend"], calls["address"], calls["retries"], calls["workers"]) == ("ray", "auto", 3, None)
