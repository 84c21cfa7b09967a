"""A whole sweep: expand a spec into run tasks, run them on a backend.

`run_sweep` writes sweep.json (spec, planned runs, provenance) first, hands the runs to `schedule`
(the loop that keeps a backend's slots busy, retries failures and counts the outcomes) on a
local or Ray backend (`scaling.sweep.backends`), and derives summary.parquet at the end;
`scaling.sweep.dryrun` lists the runs with FLOPs and an estimated time without training them.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.errors import StoreFault
from scaling.rundir.lock import is_locked
from scaling.rundir.protocol import branch_ready, drop_branch_states, parent_dir, record_crash
from scaling.rundir.meta import read_sweep_meta, update_sweep_meta
from scaling.rundir.record import is_finished, read_record_lenient
from scaling.rundir.summary import read_summary, summary_row, write_summary
from scaling.sweep.store import provenance
from scaling.sweep.backends import (
    POLL_S,
    Backend,
    LocalBackend,
    RayBackend,
    RunOutcome,
    RunTask,
    SweepProgress,
    TrainFn,
)
from scaling.flops import count_params, flops_per_token
from scaling.hardware import Gpu, visible_gpus
from scaling.config import TrainConfig, family_role
from scaling.sweep.placement import Placement, place
from scaling.sweep.branches import linked, trained_tokens
from scaling.sweep.spec import PlannedRun, families, plan_runs, train_config
from scaling.training.bounds import check_run
from scaling.training.hyperparams import count_steps, resolve, run_id

if TYPE_CHECKING:
    from scaling.rundir.record import RunRecord
    from scaling.sweep.spec import SweepConfig

logger = logging.getLogger(__name__)

def train_in_worker(config: TrainConfig, run_dir: Path) -> RunRecord:
    from scaling.training.train import train  # lazy: torch loads in the worker that trains

    return train(config, run_dir)


def sweep_tasks(spec: SweepConfig, sweep_dir: Path,
                placement: Placement | None = None) -> tuple[list[RunTask], list[dict[str, Any]]]:
    """The sweep's RunTasks and their sweep.json entries (run_id, budget, shape, counts); with a
    placement, each run's micro batch is the largest its memory there allows (part of its id).
    A [wsd] sweep's tasks are its families, each stable run before its branches; a task's `flops`
    are those it trains (a branch's cooldown), an entry's `flops` those of its whole path."""
    fit = placement.fit if placement is not None else (lambda c: c)
    planned_configs: list[tuple[PlannedRun | None, TrainConfig, TrainConfig]] = []
    if spec.wsd is not None:
        for fam in families(spec):
            stable, *branches = linked(fam, fit)
            planned_configs.append((None, fam.stable, stable))
            planned_configs.extend(zip(fam.keys, fam.branches, branches))
    else:
        for run in plan_runs(spec):
            planned = train_config(spec, run)
            planned_configs.append((run, planned, fit(planned)))
    tasks, entries, seen = [], [], set()
    for run, planned, cfg in planned_configs:
        rid = run_id(cfg)
        if rid in seen:
            continue
        seen.add(rid)
        per_token = flops_per_token(cfg.model, spec.flops_method)
        params = count_params(cfg.model).total
        tasks.append(RunTask(rid, cfg, sweep_dir, flops=per_token * trained_tokens(cfg), params=params,
                             planned=planned if cfg is not planned else None))
        entry = {"run_id": rid, "budget_flops": run.budget_flops if run is not None else None, "params": params,
                 "tokens": cfg.tokens, "flops": per_token * cfg.tokens, "seed": cfg.seed,
                 "n_layer": cfg.model.n_layer, "d_model": cfg.model.d_model}
        if spec.wsd is not None:
            entry.update(role_of(cfg), trained_flops=per_token * trained_tokens(cfg))
        entries.append(entry)
    return tasks, entries


def role_of(cfg: TrainConfig) -> dict[str, Any]:
    """A run's place in a WSD family: role "stable" (with the steps it keeps states at), "branch"
    (with its parent and step) or "run"."""
    family = {k: v for k, v in family_role(cfg.to_dict()).items() if v is not None}
    return {**family, "save_at": list(cfg.save_at)} if family["role"] == "stable" else family


def check_can_train(spec: SweepConfig, backend: str = "local", *, default_trainer: bool = True,
                    gpus: list[Gpu] | None = None) -> None:
    """Refuse, before anything is written or trained, a sweep this environment cannot train:
    torch missing (for the default trainer; ModuleNotFoundError naming it, which the CLI turns
    into the install command), ray missing for the Ray backend, device cuda with no GPU visible.
    Read without importing torch or ray (importlib's finder only)."""
    from importlib.util import find_spec

    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    needed = (["torch"] if default_trainer else []) + (["ray"] if backend == "ray" else [])
    for module in needed:
        if find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    if spec.device == "cuda" and backend == "local" and not (visible_gpus() if gpus is None else gpus):
        raise ValueError(f"sweep {spec.name} asks for device cuda but no GPU is visible")


def _complete(sweep_dir: Path, tasks: list[RunTask], entries: list[dict[str, Any]]) -> bool:
    """Whether the store already holds this sweep whole: sweep.json plans exactly these runs and
    every one has finished (ok or diverged). Rerunning such a sweep trains and records nothing."""
    try:
        planned = {run["run_id"] for run in read_sweep_meta(sweep_dir).get("runs", [])}
    except FileNotFoundError:
        return False
    return planned == {entry["run_id"] for entry in entries} and all(is_finished(t.run_dir) for t in tasks)


def place_sweep(spec: SweepConfig, *, workers: int | None = None, gpus: list[Gpu] | None = None,
                backend: str = "local") -> Placement:
    """Where `spec`'s runs execute (scaling.sweep.placement.place): on `gpus` when given (a dry
    run for named cards), else on the GPUs visible here (local backend, device auto or cuda)."""
    named = gpus is not None
    if gpus is None:
        gpus = visible_gpus() if spec.device in ("auto", "cuda") and backend == "local" else []
    configs = [train_config(spec, run) for run in plan_runs(spec)]
    return place(configs, device=spec.device, gpus=gpus, workers=workers, named=named)


def check_tasks(tasks: list[RunTask], placement: Placement) -> None:
    """Refuse the sweep (scaling.training.bounds.ResourceLimitError) if any run cannot fit its
    memory in `placement`; the message names the run and its budget."""
    for task in tasks:
        check_run(task.config, memory=placement.memory, on_gpu=placement.on_gpu, rate=placement.rate,
                  label=f"run {task.run_id} ({task.params:,} params, {task.config.tokens:.3g} tokens)")


def schedule(tasks: Iterable[RunTask], backend: Backend, *, retries: int = 1,
             progress: Callable[[SweepProgress], None] | None = None,
             on_run_end: Callable[[RunTask, RunOutcome], None] | None = None) -> SweepProgress:
    """Run every task to an end (finished, or failed `retries` + 1 times); returns the counts.
    `on_run_end(task, outcome)` is called once per task at its end, finished before included."""
    tasks = list(tasks)
    state = SweepProgress(total=len(tasks), left={t.run_id: (task_steps(t), t.flops) for t in tasks})
    finished_before = {t.run_id for t in tasks if is_finished(t.run_dir)}  # checked and skipped, not "running"
    pending, by_id = deque(tasks), {t.run_id: t for t in tasks}
    in_flight: set[str] = set()
    elsewhere: dict[str, RunTask] = {}
    attempts: dict[str, int] = {}
    last_check = 0.0
    fault: str | None = None
    while pending or in_flight or elsewhere:
        while pending and backend.free_slots() > 0:
            task = _take_ready(pending)
            if task is None:  # only branches whose parents have not reached their step yet
                break
            backend.submit(task)
            in_flight.add(task.run_id)
        for outcome in backend.poll(POLL_S):
            in_flight.discard(outcome.run_id)
            task = by_id[outcome.run_id]
            if outcome.store_fault:  # every run would fail alike: finish those running, then stop
                fault = fault or outcome.error
                pending.clear()
                elsewhere.clear()
            elif outcome.outcome == "locked":
                elsewhere[task.run_id] = task
            elif outcome.outcome == "failed" and attempts.get(task.run_id, 0) < retries:
                attempts[task.run_id] = attempts.get(task.run_id, 0) + 1
                logger.warning("run %s failed (%s); retry %d of %d", task.run_id, outcome.error,
                               attempts[task.run_id], retries)
                pending.append(task)
            else:
                setattr(state, outcome.outcome, getattr(state, outcome.outcome) + 1)
                steps, flops = state.left.pop(task.run_id, (0.0, task.flops))
                if outcome.outcome != "skipped":
                    state.trained.append((steps, flops, outcome.wall_s))
                if on_run_end is not None:
                    on_run_end(task, outcome)
        if elsewhere and time.monotonic() - last_check > 2 * POLL_S:
            last_check = time.monotonic()
            _check_elsewhere(elsewhere, pending, state)
        for task in _orphans(pending, in_flight | set(elsewhere)):
            pending.remove(task)
            _fail_orphan(task, state, on_run_end)
        state.running, state.elsewhere = len(in_flight - finished_before), len(elsewhere)
        if progress is not None:
            progress(state)
    if fault is not None:
        raise StoreFault(None, f"{fault}; runs finished are kept, and rerunning the sweep once the store "
                               "is fixed completes it")
    return state


def _ready(task: RunTask) -> bool:
    """Whether a task may start: any run but a branch; a branch once its parent kept its state
    (or when it finished before: it is skipped)."""
    if task.after is None:
        return True
    parent, step = task.after
    return branch_ready(parent_dir(task.run_dir, parent), step) or is_finished(task.run_dir)


def _take_ready(pending: deque[RunTask]) -> RunTask | None:
    """The first pending task that may start (the others keep their order), or None."""
    for _ in range(len(pending)):
        task = pending.popleft()
        if _ready(task):
            return task
        pending.append(task)
    return None


def _orphans(pending: deque[RunTask], running: set[str]) -> list[RunTask]:
    """Branches that can never start: their parent is neither pending nor running (it ended, or
    is not in this sweep) and its state for them is not there."""
    active = {t.run_id for t in pending} | running
    return [t for t in pending if t.after is not None and t.after[0] not in active and not _ready(t)]


def _fail_orphan(task: RunTask, state: SweepProgress,
                 on_run_end: Callable[[RunTask, RunOutcome], None] | None) -> None:
    assert task.after is not None
    parent, step = task.after
    error = (f"its parent run {parent} ended without keeping its state after {step} steps (see that run's "
             "record); rerun the sweep once the parent is trained")
    logger.warning("branch %s not started: %s", task.run_id, error)
    record_crash(task.run_dir, task.sweep_dir, task.run_id, task.config.to_dict(), error)
    state.failed += 1
    state.left.pop(task.run_id, None)
    if on_run_end is not None:
        on_run_end(task, RunOutcome(task.run_id, "failed", error))


def drop_finished_states(tasks: list[RunTask]) -> int:
    """Remove each stable run's kept states once it and every branch from it have finished;
    how many stable runs were cleared."""
    children: dict[str, list[RunTask]] = {}
    for task in tasks:
        if task.after is not None:
            children.setdefault(task.after[0], []).append(task)
    cleared = 0
    for task in tasks:
        if task.run_id in children and is_finished(task.run_dir) and all(
                is_finished(c.run_dir) for c in children[task.run_id]):
            cleared += drop_branch_states(task.run_dir) > 0
    return cleared


def task_steps(task: RunTask) -> float:
    """Optimizer steps the run takes itself (its cost in the progress ETA; a branch's cooldown);
    0 for a config that cannot say."""
    try:
        steps = count_steps(resolve(task.config))
        return float(steps - task.after[1] if task.after is not None else steps)
    except (ValueError, TypeError, AttributeError):  # the run itself will report a bad config
        return 0.0


def _check_elsewhere(elsewhere: dict[str, RunTask], pending: deque[RunTask], state: SweepProgress) -> None:
    """Runs another process held: count them once finished, take them back once released."""
    for run_id, task in list(elsewhere.items()):
        if is_finished(task.run_dir):
            del elsewhere[run_id]
            state.skipped += 1
            state.left.pop(run_id, None)
        elif not is_locked(task.run_dir):
            del elsewhere[run_id]
            pending.append(task)


# ---- local worker processes ------------------------------------------------------------------

def run_sweep(spec: SweepConfig, out: Path = Path("runs"), *, backend: str = "local", workers: int | None = None,
              address: str | None = None, retries: int = 1, train_fn: TrainFn | None = None,
              progress: Callable[[SweepProgress], None] | None = None,
              command: str | None = None,
              on_run_end: Callable[[dict[str, Any], Path], Any] | None = None) -> SweepProgress:
    """Run a SweepConfig into `out/<name>/`: skip finished runs, resume interrupted ones, record
    failures and go on; write sweep.json first and summary.parquet at the end.

    `on_run_end(summary_row, run_dir)` is called in this process as each run ends (runs
    finished before included): a tracker's `log_run` (scaling.trackers).
    """
    from dataclasses import asdict, replace

    sweep_dir = Path(out) / spec.name
    placement = place_sweep(spec, workers=workers, backend=backend)
    check_can_train(spec, backend, default_trainer=train_fn is None, gpus=placement.gpus)
    tasks, entries = sweep_tasks(spec, sweep_dir, placement)
    check_tasks(tasks, placement)
    if placement.notes:
        logger.warning("sweep %s: %s", spec.name, placement.describe())
    for task in tasks:  # a record from a newer scaling (NewerSchema) refuses the sweep here
        read_record_lenient(task.run_dir)
    complete = _complete(sweep_dir, tasks, entries)
    if not complete:  # a store with nothing left to train is left as it is: a committed study stays byte for byte
        invocation = {**provenance(command), "backend": backend}
        update_sweep_meta(sweep_dir, name=spec.name, spec=asdict(spec), runs=entries, invocation=invocation)
    train_fn = train_fn or train_in_worker
    threads = placement.threads
    tasks = [replace(t, config=replace(t.config, threads=threads)) for t in tasks]
    runner: Backend
    if backend == "ray":
        runner = RayBackend(train_fn, address=address, device=spec.device, cpus_per_run=threads)
    elif backend == "local":
        preload = ("scaling.training.train", "torch._dynamo") if train_fn is train_in_worker else ()
        runner = LocalBackend(train_fn, placement.workers, gpus=placement.worker_gpus(), threads=threads,
                              preload=preload, memory_fraction=placement.memory_fraction)
    else:
        raise AssertionError(backend)  # check_can_train refused any other
    planned = {entry["run_id"]: entry for entry in entries}

    def ended(task: RunTask, outcome: Any) -> None:
        if on_run_end is not None:
            on_run_end(summary_row(task.run_dir, spec.name, planned.get(task.run_id)), task.run_dir)

    try:
        return schedule(tasks, runner, retries=retries, progress=progress,
                        on_run_end=ended if on_run_end is not None else None)
    finally:
        runner.close()
        if spec.wsd is not None and not spec.wsd.keep_states:
            drop_finished_states(tasks)
        try:
            if complete:
                read_summary(sweep_dir)  # rewritten only where it disagrees with the run records
            else:
                write_summary(sweep_dir)
        except OSError as exc:  # readers summarise the run records anyway: nothing is lost
            logger.info("summary of %s not written: %s", sweep_dir, exc)
