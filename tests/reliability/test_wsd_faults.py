"""Reliability of WSD sweeps: kill -9 while a stable run trains and while a branch trains.

The real trainer, through the CLI, in its own process group. After each kill the same command
finishes the sweep: every run's final loss and held-out curve equal an uninterrupted sweep's bit
for bit (CPU runs resume exactly), no finished run is retrained, no branch ever starts before its
parent kept its state, and the kept states are removed at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from sweep_specs import tiny_spec
from test_sweep_faults import finish, finished_records, kill_group, results, start
from scaling.rundir.events import read_events
from scaling.rundir.files import run_dirs
from scaling.rundir.record import read_config_json

pytestmark = [pytest.mark.slow, pytest.mark.needs("torch")]

SPEC = tiny_spec(name="tinywsd", budgets="[6e8, 9e8, 1.2e9]",
                 train="checkpoint_every = 5\nwarmup_steps = 5\nlog_every = 5") + """
[wsd]
cooldown_fraction = 0.2
"""
RUNS = 2 * (1 + 3)


def branch_dirs(sweep_dir: Path) -> list[Path]:
    return [d for d in run_dirs(sweep_dir) if (read_config_json(d) or {}).get("config", {}).get("branch_from")]


def wait_for(condition, process, timeout=300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.02)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tinywsd.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference")
    done = finish(spec, out)
    assert done.returncode == 0, done.stderr
    found = results(out / "tinywsd", split="val")
    assert len(found) == RUNS
    return found


def test_kill9_during_a_stable_run_and_during_a_branch(spec, reference, tmp_path):
    sweep_dir = tmp_path / "tinywsd"
    process = start(spec, tmp_path, workers=1)  # one worker: the kill lands inside a stable run
    wait_for(lambda: list(sweep_dir.glob("*/branch-*.pt")) and not finished_records(sweep_dir), process)
    kill_group(process)
    before = finished_records(sweep_dir)

    process = start(spec, tmp_path, workers=2)
    wait_for(lambda: any((d / "checkpoint.pt").exists() for d in branch_dirs(sweep_dir)), process)
    kill_group(process)
    for run_id, record in finished_records(sweep_dir).items():
        assert before.get(run_id, record) == record  # a kill never rewrites a finished run
        before[run_id] = record

    done = finish(spec, tmp_path)
    assert done.returncode == 0, done.stderr
    assert results(sweep_dir, split="val") == reference
    for run_id, record in before.items():  # finished runs were neither lost nor retrained
        assert (sweep_dir / run_id / "record.json").read_bytes() == record
    events = read_events(sweep_dir)
    finished = Counter(e["run_id"] for e in events if e["event"] == "finish" and e.get("status") == "ok")
    assert len(finished) == RUNS and set(finished.values()) == {1}
    resumed = {e["run_id"] for e in events if e["event"] == "start" and e.get("resume")}
    assert resumed, "a killed run resumes from its checkpoint or kept state rather than starting over"
    assert not list(sweep_dir.rglob("branch-*.pt")) and not list(sweep_dir.rglob("checkpoint.pt"))
