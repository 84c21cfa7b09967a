"""Executors: run a sweep's runs on local worker processes or on a Ray cluster.

The scheduler (`scaling.sweep.scheduler.schedule`) drives either backend through the `Backend`
protocol: it hands runs to free slots, retries failed ones, sets aside runs another process
holds (their lock) and checks them again, and reports progress. Each run executes in `execute_run`,
which follows the run protocol (`scaling.rundir.protocol.attempt`: the run's lock taken in the
process that trains it, so two sweeps on one directory never train one run, and `kill -9` frees it).

Local: K worker processes, each bound to a GPU (CUDA_VISIBLE_DEVICES) with its share of the
card's memory when several runs share one, or single-threaded on CPU; how many, where and with
how much memory is `scaling.sweep.placement`'s decision (on CPU, one per free core: measured
here, two 1-thread workers give 1.2-1.8x the throughput of one 2-thread process and hold up
when the box is shared).
Ray: each run a task with its CPU/GPU needs; runs of small models take a fraction of a GPU.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from scaling.config import branch_parent
from scaling.errors import EnvironmentFault, install_hint
from scaling.rundir import protocol
from scaling.rundir.files import LinkRefused
from scaling.sweep.timing import ETA_FIT_RUNS, run_cost

if TYPE_CHECKING:
    from scaling.config import TrainConfig

logger = logging.getLogger(__name__)

TrainFn = Callable[["TrainConfig", Path], Any]
"""train(cfg, run_dir) -> record; writes run_dir/record.json last (scaling.training.train.train)."""

POLL_S = 0.5
"""Seconds between the scheduler's checks of results, dead workers and runs held elsewhere."""


@dataclass(frozen=True)
class RunTask:
    """One run to execute: its config (a TrainConfig), where it lives, its planned FLOPs."""

    run_id: str
    config: TrainConfig
    sweep_dir: Path
    flops: float = 0.0
    params: int = 0
    planned: TrainConfig | None = None
    """The config as the spec gave it, before its micro batch was fitted (what the dry run's
    "batch from" describes); None when `config` is that."""

    @property
    def after(self) -> tuple[str, int] | None:
        """A cooldown branch's parent run id and step: it starts once the parent kept that state."""
        branch_from = getattr(self.config, "branch_from", None)  # None for a config that cannot say
        if branch_from is None:
            return None
        return branch_parent(branch_from)

    @property
    def run_dir(self) -> Path:
        return self.sweep_dir / self.run_id


@dataclass(frozen=True)
class RunOutcome:
    """What one attempt did: "ok" | "diverged" | "failed" (trained now), "skipped" (finished
    before), "locked" (another process holds it)."""

    run_id: str
    outcome: str
    error: str | None = None
    wall_s: float = 0.0
    store_fault: bool = False
    """The store could not be written (read-only, full): the sweep stops, nothing is recorded
    for this run, and a rerun after the fault resumes it."""


@dataclass
class SweepProgress:
    """Counts over the sweep's runs, updated by the scheduler and passed to `progress`."""

    total: int
    ok: int = 0
    diverged: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    elsewhere: int = 0
    """Runs other processes hold."""
    started: float = field(default_factory=time.monotonic)
    left: dict[str, tuple[float, float]] = field(default_factory=dict)
    """(optimizer steps, FLOPs) of every run not ended yet (for the ETA)."""
    trained: list[tuple[float, float, float]] = field(default_factory=list)
    """(optimizer steps, FLOPs, seconds) of every run this process trained (for the ETA)."""

    @property
    def done(self) -> int:
        return self.ok + self.diverged + self.failed + self.skipped

    @property
    def flops_done(self) -> float:
        """FLOPs of the runs this process trained."""
        return sum(flops for _, flops, _ in self.trained)

    @property
    def flops_total(self) -> float:
        """FLOPs of the runs this process trained and of those left."""
        return self.flops_done + sum(flops for _, flops in self.left.values())

    @property
    def eta_s(self) -> float | None:
        """Seconds left (None before a run ends): the time elapsed x the cost of the runs left over
        the cost of those trained. Once ETA_FIT_RUNS have ended, a run's cost is its seconds as
        fitted to those runs, setup + steps x a + FLOPs x b (non-negative least squares): a tiny
        model's time is mostly its steps' fixed cost, so FLOPs alone overstate what is left when
        the later runs are larger (3-4x on a tune grid). Before that, cost = FLOPs."""
        elapsed = time.monotonic() - self.started
        if not self.left:  # every run has ended (trained here or before): nothing is left
            return 0.0
        if self.flops_done <= 0:
            return None
        if len(self.trained) >= ETA_FIT_RUNS and self.left:
            cost = run_cost(self.trained)
            if cost is not None:
                done = sum(cost(steps, flops) for steps, flops, _ in self.trained)
                return elapsed * sum(cost(steps, flops) for steps, flops in self.left.values()) / done
        return elapsed * max(self.flops_total - self.flops_done, 0.0) / self.flops_done


class Backend(Protocol):
    def free_slots(self) -> int: ...
    def submit(self, task: RunTask) -> None: ...
    def poll(self, timeout: float) -> list[RunOutcome]: ...
    def close(self) -> None: ...


def execute_run(task: RunTask, train_fn: TrainFn, threads: int | None = None) -> RunOutcome:
    """Train one run under its lock unless it is finished or held elsewhere. Never raises for
    a failing run: the failure is written to record.json (status "failed") and returned; a
    store that cannot be written is returned as a `store_fault` outcome."""
    try:
        return _execute_run(task, train_fn, threads)
    except LinkRefused as exc:  # a planted link: its one line says what to do
        return RunOutcome(task.run_id, "failed", str(exc), store_fault=True)
    except OSError as exc:  # StoreFault from a write, or the lock file itself
        return RunOutcome(task.run_id, "failed", f"{exc} (a read-only or full store?)", store_fault=True)


def _execute_run(task: RunTask, train_fn: TrainFn, threads: int | None) -> RunOutcome:
    if threads is not None and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    done = protocol.attempt(task.run_dir, task.sweep_dir, task.run_id, _config(task),
                            lambda: train_fn(task.config, task.run_dir))
    return RunOutcome(task.run_id, done.outcome, done.error, done.wall_s)


def _config(task: RunTask) -> dict[str, Any]:
    # A test's stand-in task may carry no TrainConfig.
    return task.config.to_dict() if hasattr(task.config, "to_dict") else {}


def record_crash(task: RunTask, error: str) -> RunOutcome:
    """Record a run whose process died (killed, out of memory) as failed, if nobody holds it now."""
    protocol.record_crash(task.run_dir, task.sweep_dir, task.run_id, _config(task), error)
    return RunOutcome(task.run_id, "failed", error)


def _die_with_parent(parent_alive: Any) -> None:
    """Kill this worker when the sweep process dies, even by kill -9, so its lock is released
    and a restarted sweep resumes the run. `parent_alive` is the read end of a pipe whose only
    write end the sweep process holds: the kernel closes it on any death, and recv() sees EOF.
    (A pipe, not a parent-death signal: a forkserver worker's parent is the fork server, not the
    sweep process.)"""
    import signal
    import threading

    def watch() -> None:
        try:
            parent_alive.recv()
        except (EOFError, OSError):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _worker_main(gpu: str | None, threads: int | None, tasks: Any, results: Any, train_fn: TrainFn,
                 parent_alive: Any, logs: Any = None, memory_fraction: float | None = None) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the sweep process answers it (one line, and it
    # stops its workers); a worker printing its own KeyboardInterrupt traceback would bury that.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_alive)
    if logs is not None:  # warnings go to the sweep process, which says each once
        import logging.handlers

        root = logging.getLogger()
        root.handlers[:] = [logging.handlers.QueueHandler(logs)]
        root.setLevel(logging.WARNING)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    if memory_fraction is not None:  # the trainer sets torch's per-process fraction from it
        from scaling.training.bounds import MEMORY_FRACTION_ENV

        os.environ[MEMORY_FRACTION_ENV] = repr(memory_fraction)
    if threads is not None:  # torch may be preloaded: set its pool size too, not just the env
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    while (task := tasks.get()) is not None:
        results.put(execute_run(task, train_fn, threads))


class LocalBackend:
    """K worker processes, each with its own task queue (so a dead worker's run is
    known), its GPU and its thread count. A worker that dies is replaced; its run counts as
    failed."""

    def __init__(self, train_fn: TrainFn, workers: int, gpus: list[str | None] | None = None,
                 threads: int | None = 1, preload: tuple[str, ...] = (),
                 memory_fraction: float | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        # Workers fork from a server process that imported `preload` (torch: ~4-8 s a process
        # here) but never ran an op or touched CUDA; the sweep process itself is never forked.
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(preload))
        self._train_fn, self._threads, self._memory_fraction = train_fn, threads, memory_fraction
        self._alive_r, self._alive_w = self._ctx.Pipe(duplex=False)  # never send _alive_w anywhere
        self._results = self._ctx.Queue()
        self._logs = self._ctx.Queue()
        self._log_listener = _LogForwarder(self._logs)
        self._gpus = [gpus[i % len(gpus)] for i in range(workers)] if gpus else [None] * workers
        self._slots: list[dict[str, Any]] = [self._start(i) for i in range(workers)]

    def _start(self, index: int) -> dict[str, Any]:
        tasks = self._ctx.Queue()
        proc = self._ctx.Process(target=_worker_main, daemon=True, name=f"scaling-worker-{index}",
                                 args=(self._gpus[index], self._threads, tasks, self._results, self._train_fn,
                                       self._alive_r, self._logs, self._memory_fraction))
        proc.start()
        return {"proc": proc, "tasks": tasks, "task": None}

    def free_slots(self) -> int:
        return sum(slot["task"] is None for slot in self._slots)

    def submit(self, task: RunTask) -> None:
        slot = next(s for s in self._slots if s["task"] is None)
        slot["task"] = task
        slot["tasks"].put(task)

    def poll(self, timeout: float) -> list[RunOutcome]:
        outcomes = []
        try:
            outcomes.append(self._results.get(timeout=timeout))
            while True:
                outcomes.append(self._results.get_nowait())
        except queue.Empty:
            pass
        for outcome in outcomes:
            for slot in self._slots:
                if slot["task"] is not None and slot["task"].run_id == outcome.run_id:
                    slot["task"] = None
        for index, slot in enumerate(self._slots):
            if not slot["proc"].is_alive():
                code = slot["proc"].exitcode
                if slot["task"] is not None:
                    logger.warning("worker %d died (exit code %s) during run %s", index, code, slot["task"].run_id)
                    outcomes.append(record_crash(slot["task"], f"worker died with exit code {code}"))
                self._slots[index] = self._start(index)
        return outcomes

    def close(self) -> None:
        for slot in self._slots:
            if slot["proc"].is_alive():
                slot["tasks"].put(None)
        deadline = time.monotonic() + 5
        for slot in self._slots:
            if slot["task"] is None:  # idle: it exits on the None above
                slot["proc"].join(timeout=max(0.0, deadline - time.monotonic()))
            if slot["proc"].is_alive():  # still training (an interrupted sweep): it resumes later
                slot["proc"].kill()
                slot["proc"].join()
        self._alive_w.close()
        self._log_listener.stop()


class _LogForwarder:
    """Re-emits the workers' log records in this process, through the logger each came from."""

    def __init__(self, logs: Any) -> None:
        import logging.handlers

        class Forward(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                target = logging.getLogger(record.name)
                if target.isEnabledFor(record.levelno):
                    target.handle(record)

        self._listener = logging.handlers.QueueListener(logs, Forward())
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()


# ---- Ray ----------------------------------------------------------------------------------------

GPU_FRACTIONS = ((1e7, 0.25), (1e8, 0.5))
"""(params below, GPU share) for Ray tasks: models under 10M parameters leave most of an H200
idle (latency-bound), so four share one GPU; under 100M, two."""


def gpu_share(params: int) -> float:
    """The fraction of a GPU a run of `params` parameters asks Ray for (GPU_FRACTIONS)."""
    for limit, share in GPU_FRACTIONS:
        if params < limit:
            return share
    return 1.0


RAY_CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a Ray cluster's port to accept a connection before giving up."""


def probe_address(address: str) -> None:
    """EnvironmentFault naming --address unless something listens at a `HOST:PORT` (or
    `ray://HOST:PORT`) address; "auto", "local" and other forms are left to ray.init."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        raise EnvironmentFault(f"--address {address}: no Ray cluster answers there "
                               f"({getattr(exc, 'strerror', None) or exc or 'timed out'}); start one with "
                               "`ray start --head` or fix the address") from None


def _ray_execute(task: RunTask, train_fn: TrainFn, threads: int) -> RunOutcome:
    return execute_run(task, train_fn, threads)


class RayBackend:
    """Each run a Ray task (num_cpus, num_gpus); connects to `address` or starts a local Ray.

    The run store must be on a file system every node sees (locks are flocks on it).
    """

    def __init__(self, train_fn: TrainFn, *, address: str | None = None, cpus_per_run: int = 1,
                 device: str = "auto") -> None:
        try:
            # lazy: ray loads only for the Ray backend
            import ray
        except ImportError as exc:
            raise ValueError(f"the Ray backend needs ray: {install_hint('ray')}") from exc
        self._ray, self._owns = ray, not ray.is_initialized()
        if self._owns and address is not None:
            probe_address(address)  # ray.init retries an absent cluster for minutes, deaf to Ctrl-C
        if self._owns:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        resources = ray.cluster_resources()
        self._use_gpus = device != "cpu" and resources.get("GPU", 0) > 0
        if device == "cuda" and not self._use_gpus:
            raise ValueError("device cuda asked for, but the Ray cluster has no GPUs")
        self._train_fn, self._cpus = train_fn, cpus_per_run
        self._remote = ray.remote(_ray_execute)
        self._refs: dict[Any, RunTask] = {}
        slots = int(resources.get("CPU", 1) // cpus_per_run)
        if self._use_gpus:
            slots = max(slots, int(resources["GPU"] / GPU_FRACTIONS[0][1]))
        self._capacity = max(1, slots)

    def free_slots(self) -> int:
        return self._capacity - len(self._refs)

    def submit(self, task: RunTask) -> None:
        gpus = gpu_share(task.params) if self._use_gpus else 0
        ref = self._remote.options(num_cpus=self._cpus, num_gpus=gpus, max_retries=0).remote(
            task, self._train_fn, self._cpus)
        self._refs[ref] = task

    def poll(self, timeout: float) -> list[RunOutcome]:
        if not self._refs:
            time.sleep(timeout)
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=len(self._refs), timeout=timeout)
        outcomes = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                outcomes.append(self._ray.get(ref))
            except self._ray.exceptions.RayError as exc:  # the task's worker died
                outcomes.append(record_crash(task, f"ray: {type(exc).__name__}: {exc}"[:500]))
        return outcomes

    def close(self) -> None:
        for ref in self._refs:
            self._ray.cancel(ref, force=True)
        if self._owns:
            self._ray.shutdown()
