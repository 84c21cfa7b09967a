"""Reliability: sweeps under kill -9, concurrency, read-only and full stores, corrupt files.

Every test runs the real trainer on a four-run sweep through the CLI, in its own process group,
and asserts that no finished run is lost or retrained and that the final store equals an
uninterrupted sweep's (each run's final loss and whole curve, bit for bit: CPU runs resume
exactly). Read-only and full stores use a small tmpfs where this machine can mount one (root);
elsewhere the full store is simulated by injecting ENOSPC into the workers' writes.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from sweep_specs import tiny_spec
from scaling.rundir.record import read_record_json
from scaling.rundir.events import read_events
from scaling.rundir.files import run_dirs

pytestmark = [pytest.mark.slow, pytest.mark.needs("torch")]

SPEC = tiny_spec(train="checkpoint_every = 5")
RUNS = 4


def start(spec: Path, out: Path, workers: int = 2) -> subprocess.Popen[str]:
    """`scaling sweep` in a new process group (so kill -9 reaches its workers too)."""
    return subprocess.Popen([sys.executable, "-m", "scaling", "sweep", str(spec), "--out", str(out),
                             "--workers", str(workers)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(spec: Path, out: Path, workers: int = 2) -> subprocess.CompletedProcess[str]:
    process = start(spec, out, workers)
    stdout, stderr = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)


def results(sweep_dir: Path, split: str | None = None) -> dict[str, tuple[float, list[float]]]:
    """Each finished run's final loss and its whole curve (its `split` rows only, when given)."""
    out = {}
    for run_dir in run_dirs(sweep_dir):
        record = read_record_json(run_dir)
        if record and record["status"] == "ok":
            curve = pd.read_parquet(run_dir / "curve.parquet")
            rows = curve if split is None else curve[curve["split"] == split]
            out[run_dir.name] = (record["loss"], rows["loss"].tolist())
    return out


def finished_records(sweep_dir: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sweep_dir.glob("*/record.json")
            if b'"status": "ok"' in p.read_bytes()}


def assert_complete(sweep_dir: Path, reference: dict, before: dict[str, bytes]) -> None:
    assert results(sweep_dir) == reference
    for run_id, record in before.items():  # finished runs were neither lost nor retrained
        assert (sweep_dir / run_id / "record.json").read_bytes() == record
    assert not list(sweep_dir.rglob("*.tmp")) and not list(sweep_dir.glob("*/checkpoint.pt"))


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference")
    done = finish(spec, out)
    assert done.returncode == 0, done.stderr
    found = results(out / "tiny")
    assert len(found) == RUNS
    return found


def test_kill9_of_the_process_group_at_random_moments(spec, reference, tmp_path):
    rng = random.Random(0)
    sweep_dir = tmp_path / "tiny"
    before: dict[str, bytes] = {}
    for _ in range(3):
        process = start(spec, tmp_path)
        time.sleep(rng.uniform(1.0, 10.0))
        kill_group(process)
        for run_id, record in finished_records(sweep_dir).items():
            assert before.get(run_id, record) == record  # a kill never rewrites a finished run
            before[run_id] = record
    done = finish(spec, tmp_path)
    assert done.returncode == 0, done.stderr
    assert_complete(sweep_dir, reference, before)


def test_concurrent_sweeps_train_each_run_once(spec, reference, tmp_path):
    first, second = start(spec, tmp_path, workers=1), start(spec, tmp_path, workers=1)
    for process in (first, second):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    starts = Counter(e["run_id"] for e in read_events(tmp_path / "tiny") if e["event"] == "start")
    assert len(starts) == RUNS and set(starts.values()) == {1}
    assert_complete(tmp_path / "tiny", reference, {})


def test_corrupt_record_curve_and_checkpoint_are_set_aside_and_retrained(spec, reference, tmp_path):
    sweep_dir = tmp_path / "tiny"
    process = start(spec, tmp_path, workers=1)
    deadline = time.monotonic() + 300
    while len(finished_records(sweep_dir)) < 2 or not list(sweep_dir.glob("*/checkpoint.pt")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    kill_group(process)
    done = sorted(finished_records(sweep_dir))
    (sweep_dir / done[0] / "record.json").write_bytes((sweep_dir / done[0] / "record.json").read_bytes()[:30])
    (sweep_dir / done[1] / "curve.parquet").write_bytes(b"PAR1 truncated")
    checkpoints = list(sweep_dir.glob("*/checkpoint.pt"))
    for checkpoint in checkpoints:
        checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    untouched = {k: v for k, v in finished_records(sweep_dir).items() if k not in done[:2]}
    finished = finish(spec, tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert_complete(sweep_dir, reference, untouched)
    for kept in (f"{done[0]}/record.json.corrupt-*", f"{done[1]}/curve.parquet.corrupt-*"):
        assert len(list(sweep_dir.glob(kept))) == 1  # kept for inspection
    assert len(list(sweep_dir.glob("*/checkpoint.pt.corrupt-*"))) == len(checkpoints)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)


def test_read_only_store_is_one_line_and_a_rerun_completes(spec, reference, tmp_path):
    mount = tmp_path / "store"
    if not _mount_tmpfs(mount, "50m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the injected full store covers store faults")
    try:
        process = start(spec, mount, workers=1)
        deadline = time.monotonic() + 300
        while not finished_records(mount / "tiny"):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.05)
        kill_group(process)
        before = finished_records(mount / "tiny")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        refused = finish(spec, mount)
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and str(mount) in lines[-1] and "Read-only" in lines[-1]
        assert "Traceback" not in refused.stderr
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        done = finish(spec, mount)
        assert done.returncode == 0, done.stderr
        assert_complete(mount / "tiny", reference, before)
    finally:
        _umount(mount)


def _fill_after(writes: int):
    """In this worker, let `writes` files through, then fail every write with ENOSPC."""
    from scaling import atomic

    real = atomic._write_atomic
    budget = [writes]

    def filling(path, data):
        budget[0] -= 1
        if budget[0] < 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    atomic._write_atomic = filling


def train_on_a_filling_disk(cfg, run_dir):
    """Train, on a disk that fills after a few files (ENOSPC injected, per worker)."""
    from scaling import atomic
    from scaling.training.train import train

    if not getattr(atomic, "_filling", False):
        atomic._filling = True
        _fill_after(int(os.environ.get("FILL_AFTER_WRITES", "6")))
    return train(cfg, run_dir)


def test_full_store_is_one_line_nothing_lost_and_a_rerun_completes(spec, reference, tmp_path, monkeypatch):
    mount = tmp_path / "small"
    if _mount_tmpfs(mount, "120k"):  # a real small filesystem: it fills part-way through the sweep
        try:
            full = finish(spec, mount)
            assert full.returncode == 1, full.stderr
            last = full.stderr.strip().splitlines()[-1]
            assert last.startswith("error: cannot write ") and "No space left on device" in last
            assert "Traceback" not in full.stderr
            before = finished_records(mount / "tiny")
            shutil.copytree(mount / "tiny", tmp_path / "big" / "tiny", symlinks=True)
        finally:
            _umount(mount)
    else:  # no mount allowed: ENOSPC injected into the workers' writes
        from scaling.errors import StoreFault
        from scaling.sweep.scheduler import run_sweep
        from scaling.sweep.specfile import load_spec

        monkeypatch.setenv("FILL_AFTER_WRITES", "12")
        with pytest.raises(StoreFault, match="No space left on device"):
            run_sweep(load_spec(spec), tmp_path / "big", workers=1, train_fn=train_on_a_filling_disk)
        before = finished_records(tmp_path / "big" / "tiny")
    done = finish(spec, tmp_path / "big")
    assert done.returncode == 0, done.stderr
    assert_complete(tmp_path / "big" / "tiny", reference, before)


def test_ctrl_c_is_one_line_exit_130_and_a_rerun_resumes(spec, reference, tmp_path):
    sweep_dir = tmp_path / "tiny"
    process = start(spec, tmp_path)
    deadline = time.monotonic() + 120
    while not list(sweep_dir.glob("*/checkpoint.pt")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends: the sweep and its workers alike
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
        "error: interrupted; what finished is kept, and running the command again resumes the rest"]
    done = finish(spec, tmp_path)
    assert done.returncode == 0, done.stderr
    assert_complete(sweep_dir, reference, {})
