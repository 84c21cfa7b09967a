"""Executors with an injected fake trainer: scheduling, retries, locks, worker deaths, two
concurrent sweeps, a SIGKILLed sweep restarted, and the Ray backend on a local cluster.

`fake_train` follows scaling.training.train.train's contract (config.json, a resumable checkpoint,
record.json written last) without torch, so these tests take seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from scaling.atomic import write_json
from scaling.rundir.record import read_record_json
from scaling.rundir.events import read_events
from scaling.rundir.lock import is_locked, run_lock
from scaling.rundir.meta import read_sweep_meta
from scaling.rundir.summary import read_summary
from scaling.atomic import write_atomic
from scaling.sweep.backends import (
    LocalBackend,
    RunTask,
    execute_run,
    gpu_share,
)
from scaling.sweep.grids import IsoFlopGrid, ShapeRule, Sizes
from scaling.sweep.spec import SweepConfig
from scaling.sweep.scheduler import run_sweep, schedule

FAKE_STEPS = 5


def fake_train(cfg, run_dir):
    """Seed 1 raises, seed 2 diverges, seed 3 kills its worker; others train FAKE_STEPS steps of
    FAKE_STEP_S seconds each, checkpointing every step and resuming from the checkpoint."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {"run_id": run_dir.name, "config": cfg.to_dict()})
    if cfg.seed == 1:
        raise RuntimeError("boom")
    if cfg.seed == 3:
        os._exit(9)
    checkpoint = run_dir / "checkpoint.pt"
    step = int(checkpoint.read_text()) if checkpoint.exists() else 0
    while step < FAKE_STEPS:
        time.sleep(float(os.environ.get("FAKE_STEP_S", "0.01")))
        step += 1
        write_atomic(checkpoint, str(step).encode())
    status = "diverged" if cfg.seed == 2 else "ok"
    record = {"run_id": run_dir.name, "status": status, "loss": 1.0 + 10.0 / cfg.model.d_model if status == "ok" else None,
              "train_loss": 2.0, "params": cfg.model.d_model * 100, "params_nonembedding": cfg.model.d_model * 50,
              "tokens": cfg.tokens, "flops": 6.0 * cfg.model.d_model * 100 * cfg.tokens, "flops_method": "6ND",
              "lr": 1e-3, "batch_tokens": 512, "wall_s": 0.1, "device": "cpu", "started_at": "now",
              "versions": {"git_sha": "abc"}, "config": cfg.to_dict()}
    write_json(run_dir / "record.json", record)
    return record


def tiny_spec(name="fake", seeds=(0,), widths=(8, 16, 24)):
    return SweepConfig(name=name, seeds=tuple(seeds), device="cpu", train={"min_steps": 10},
                       shape=ShapeRule(n_layer=1, seq_len=16),
                       grid=IsoFlopGrid(budgets=(1e9,), sizes=Sizes(widths=tuple(widths))))


class InlineBackend:
    """Runs tasks synchronously in this process (scheduler tests without processes)."""

    def __init__(self, train_fn, slots=2):
        self.train_fn, self.slots, self.queue = train_fn, slots, []

    def free_slots(self):
        return self.slots - len(self.queue)

    def submit(self, task):
        self.queue.append(task)

    def poll(self, timeout):
        done = [execute_run(t, self.train_fn) for t in self.queue]
        self.queue = []
        return done

    def close(self):
        pass


def _tasks(tmp_path, seeds):
    from scaling.sweep.scheduler import sweep_tasks

    tasks, _ = sweep_tasks(tiny_spec(seeds=seeds), tmp_path / "fake")
    (tmp_path / "fake").mkdir(exist_ok=True)
    return tasks


def test_schedule_retries_failures_then_records_them(tmp_path):
    tasks = _tasks(tmp_path, seeds=(0, 1, 2))
    state = schedule(tasks, InlineBackend(fake_train), retries=2)
    assert (state.ok, state.diverged, state.failed) == (3, 3, 3)
    assert state.left == {} and len(state.trained) == 9  # every run's steps, FLOPs and seconds, for the ETA
    assert all(steps >= 10 and flops > 0 and seconds > 0 for steps, flops, seconds in state.trained)
    starts = Counter(e["run_id"] for e in read_events(tmp_path / "fake") if e["event"] == "start")
    for task in tasks:
        expected = 3 if task.config.seed == 1 else 1  # 1 try + 2 retries for the failing seed
        assert starts[task.run_id] == expected
        record = read_record_json(task.run_dir)
        assert record["status"] == {0: "ok", 1: "failed", 2: "diverged"}[task.config.seed]
    failed = read_record_json(next(t for t in tasks if t.config.seed == 1).run_dir)
    assert "RuntimeError: boom" in failed["error"] and failed["loss"] is None


def test_finished_runs_are_skipped_and_failed_ones_retried_next_time(tmp_path):
    tasks = _tasks(tmp_path, seeds=(0, 1))
    schedule(tasks, InlineBackend(fake_train), retries=0)
    state = schedule(tasks, InlineBackend(fake_train), retries=0)
    assert (state.skipped, state.failed) == (3, 3)


def test_a_run_held_elsewhere_is_waited_for(tmp_path):
    tasks = _tasks(tmp_path, seeds=(0,))
    held = tasks[0]
    with run_lock(held.run_dir) as acquired:
        assert acquired
        backend = InlineBackend(fake_train)
        backend_poll = backend.poll

        def poll_then_finish(timeout):  # the holder finishes while the scheduler waits
            outcomes = backend_poll(timeout)
            if any(o.outcome == "locked" for o in outcomes):
                fake_train(held.config, held.run_dir)
            return outcomes

        backend.poll = poll_then_finish
        state = schedule(tasks, backend)
    assert (state.ok, state.skipped) == (2, 1)
    assert not any(e["run_id"] == held.run_id for e in read_events(tmp_path / "fake"))


def test_local_workers_train_every_run_once_and_survive_a_dead_worker(tmp_path):
    spec = tiny_spec(seeds=(0, 3))
    state = run_sweep(spec, tmp_path, workers=2, retries=1, train_fn=fake_train)
    assert (state.ok, state.failed) == (3, 3)
    events = read_events(tmp_path / "fake")
    assert Counter(e["event"] for e in events)["start"] == 3 + 3 * 2  # seed 3 tried twice
    summary = read_summary(tmp_path / "fake")
    assert len(summary) == 6
    dead = summary[summary["seed"] == 3]
    assert set(dead["status"]) == {"failed"} and dead["loss"].isna().all()
    crashed = read_record_json(tmp_path / "fake" / dead["run_id"].iloc[0])
    assert crashed["error"] == "worker died with exit code 9"
    state = run_sweep(spec, tmp_path, workers=2, retries=0, train_fn=fake_train)
    assert (state.skipped, state.failed) == (3, 3)


def test_rerunning_a_finished_sweep_leaves_its_store_byte_for_byte(tmp_path):
    # A committed study is rerun by its documented command: nothing to train, so nothing written
    # (sweep.json keeps its provenance, summary.parquet its bytes); the progress says no run is
    # running and no time is left.
    spec = tiny_spec()
    run_sweep(spec, tmp_path, workers=1, train_fn=fake_train)
    files = {p: p.read_bytes() for p in (tmp_path / "fake").rglob("*") if p.is_file() and p.name != "lock"}
    seen = []
    state = run_sweep(spec, tmp_path, workers=1, train_fn=fake_train,
                      progress=lambda s: seen.append((s.running, s.eta_s)))
    assert (state.ok, state.skipped, state.eta_s) == (0, 3, 0.0)
    assert all(running == 0 for running, _ in seen) and seen[-1][1] == 0.0
    after = {p: p.read_bytes() for p in (tmp_path / "fake").rglob("*") if p.is_file() and p.name != "lock"}
    assert after == files
    # A spec that plans one more run is not finished: its sweep.json records the new plan.
    state = run_sweep(tiny_spec(widths=(8, 16, 24, 32)), tmp_path, workers=1, train_fn=fake_train)
    assert (state.ok, state.skipped) == (1, 3)
    assert len(json.loads((tmp_path / "fake" / "sweep.json").read_text())["history"]) == 2


def test_local_backend_gives_each_worker_its_gpu_and_one_thread(tmp_path):
    backend = LocalBackend(_report_env, 2, gpus=["0", "1"], threads=1)
    try:
        for index in range(2):
            backend.submit(RunTask(f"r{index}", None, tmp_path))
        outcomes = []
        deadline = time.monotonic() + 30
        while len(outcomes) < 2 and time.monotonic() < deadline:
            outcomes += backend.poll(0.2)
    finally:
        backend.close()
    envs = sorted(json.loads((tmp_path / f"r{i}" / "env.json").read_text())["gpu"] for i in range(2))
    assert envs == ["0", "1"]
    assert all(json.loads((tmp_path / f"r{i}" / "env.json").read_text())["omp"] == "1" for i in range(2))


def _report_env(config, run_dir):
    write_json(Path(run_dir) / "env.json", {"gpu": os.environ.get("CUDA_VISIBLE_DEVICES"),
                                                         "omp": os.environ.get("OMP_NUM_THREADS")})
    write_json(Path(run_dir) / "record.json", {"status": "ok"})


def test_ray_gpu_shares_grow_with_the_model_and_pack_a_gpu_whole():
    shares = [gpu_share(10**k) for k in range(3, 12)]
    assert shares == sorted(shares) and shares[0] < 1.0 and shares[-1] == 1.0  # small runs share; large ones do not
    assert all((1 / share).is_integer() for share in shares)  # runs of one size fill a GPU, nothing left idle


SWEEP_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from test_backends import fake_train, tiny_spec
from scaling.sweep.scheduler import run_sweep
state = run_sweep(tiny_spec(widths={widths!r}), Path({out!r}), workers={workers}, train_fn=fake_train)
print("DONE", state.ok, state.skipped, state.failed)
"""


def _start_sweep(out, workers, widths, step_s):
    script = SWEEP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), workers=workers, widths=widths)
    env = {**os.environ, "FAKE_STEP_S": str(step_s)}
    return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # two real processes racing: which trains what is up to the OS (the lock: test above)
def test_two_concurrent_sweeps_never_train_one_run_twice(tmp_path):
    widths = (8, 16, 24, 32, 40, 48)
    sweeps = [_start_sweep(tmp_path, 1, widths, 0.03) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in sweeps]
    assert all(p.returncode == 0 for p in sweeps), outputs
    events = read_events(tmp_path / "fake")
    starts = Counter(e["run_id"] for e in events if e["event"] == "start")
    assert len(starts) == len(widths) and set(starts.values()) == {1}
    assert len({e["pid"] for e in events}) == 2, "both sweeps should have trained some runs"
    summary = read_summary(tmp_path / "fake")
    assert (summary["status"] == "ok").all() and len(summary) == len(widths)


@pytest.mark.slow  # kills a real sweep at a moment found by polling its events
def test_sigkill_mid_sweep_then_restart_loses_and_repeats_nothing(tmp_path):
    widths = (8, 16, 24, 32, 40, 48)
    sweep_dir = tmp_path / "fake"
    first = _start_sweep(tmp_path, 2, widths, 0.1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once some runs finished and another is mid-way
        events = read_events(sweep_dir)
        finished = {e["run_id"] for e in events if e["event"] == "finish"}
        started = {e["run_id"] for e in events if e["event"] == "start"}
        if finished and any(_checkpoint_step(sweep_dir / rid) in (1, 2) for rid in started - finished):
            break
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)  # returns once the workers, holding its pipes, died too
    events = read_events(sweep_dir)
    finished = {e["run_id"] for e in events if e["event"] == "finish"}
    interrupted = {e["run_id"] for e in events if e["event"] == "start"} - finished
    checkpointed = {rid for rid in interrupted if _checkpoint_step(sweep_dir / rid) is not None}
    assert finished and checkpointed
    records_before = {rid: (sweep_dir / rid / "record.json").read_bytes() for rid in finished}
    deadline = time.monotonic() + 30  # the workers see their parent's pipe close, die, and free their locks
    while any(is_locked(sweep_dir / rid) for rid in interrupted) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(is_locked(sweep_dir / rid) for rid in interrupted)
    second = _start_sweep(tmp_path, 2, widths, 0.01)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    events = read_events(sweep_dir)
    finishes = Counter(e["run_id"] for e in events if e["event"] == "finish")
    assert len(finishes) == len(widths) and set(finishes.values()) == {1}
    for rid, before in records_before.items():  # finished runs were not retrained
        assert (sweep_dir / rid / "record.json").read_bytes() == before
        assert sum(e["event"] == "start" and e["run_id"] == rid for e in events) == 1
    resumed = {e["run_id"] for e in events if e["event"] == "start" and e["resume"]}
    assert resumed == checkpointed, "interrupted runs resume from their checkpoint"
    assert not list(sweep_dir.rglob("*.tmp")), "no half-written files"


def _checkpoint_step(run_dir):
    try:
        return int((run_dir / "checkpoint.pt").read_text())
    except (FileNotFoundError, ValueError):
        return None


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    tests = str(Path(__file__).parent)  # so Ray's workers can unpickle fake_train
    path = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.mark.slow  # starting a Ray cluster takes seconds; the local backend is the default run's
def test_ray_backend_on_a_local_cluster(tmp_path, local_ray):
    spec = tiny_spec(seeds=(0, 2))
    state = run_sweep(spec, tmp_path, backend="ray", train_fn=fake_train)
    assert (state.ok, state.diverged) == (3, 3)
    state = run_sweep(spec, tmp_path, backend="ray", train_fn=fake_train)
    assert state.skipped == 6
    meta = read_sweep_meta(tmp_path / "fake")
    assert [h["backend"] for h in meta["history"]] == ["ray"]  # the rerun trained nothing, so recorded nothing
    assert local_ray.is_initialized()  # the backend leaves a cluster it did not start running


def test_a_writer_killed_before_its_rename_leaves_no_temporary_behind(tmp_path):
    # kill -9 between a temporary file and its rename leaves `.record.json.*.tmp`; the next
    # attempt, holding the run's lock, removes it and trains the run to completion.
    task = _tasks(tmp_path, seeds=(0,))[0]
    task.run_dir.mkdir(parents=True)
    (task.run_dir / ".record.json.k1ll3d.tmp").write_text('{"status": "o')
    outcome = execute_run(task, fake_train)
    assert outcome.outcome == "ok"
    assert not list(task.run_dir.glob("*.tmp")) and not list(task.run_dir.glob(".*.tmp"))
