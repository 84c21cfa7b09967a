"""The dry run: every run of a sweep with its FLOPs, hyperparameters (and where each came from),
memory, status and estimated seconds, and the sweep's wall time, without training it.

The time model: a run's seconds are its setup, its evaluations, its optimizer steps' fixed cost
and its FLOPs over a FLOP rate, each interpolated in log-log against model size, measured from
this store's finished runs or from a probe (short copies of the smallest and largest runs on
the sweep's own workers); the sweep's adds worker start-up, each worker's first run, and the
makespan of handing the runs to the first free worker.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from scaling.document import Document, from_plain, to_plain
from scaling.hardware import Gpu
from scaling.rundir.curve import read_curve
from scaling.rundir.events import read_events
from scaling.rundir.protocol import run_status
from scaling.rundir.record import FINISHED, read_record_lenient
from scaling.sweep.backends import LocalBackend, RunTask
from scaling.sweep.branches import trained_tokens
from scaling.sweep.scheduler import check_tasks, place_sweep, schedule, sweep_tasks, task_steps, train_in_worker
from scaling.training.bounds import estimate_memory
from scaling.training.hyperparams import count_steps, eval_steps, hyperparameter_sources, resolve

if TYPE_CHECKING:
    from scaling.config import TrainConfig
    from scaling.sweep.spec import SweepConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DryRun(Document):
    """A sweep's runs with FLOPs, status and estimated seconds each, and the whole sweep's
    estimated wall time on `workers` (None when it could not be measured here): what
    `scaling sweep --dry-run --format json` prints."""

    SCHEMA: ClassVar[str] = "scaling.SweepDryRun/1"
    _frame_rows = "runs"

    runs: list[dict[str, Any]]
    workers: int
    wall_s: float | None
    basis: str
    """Where the throughput came from: a probe here, or this store's own history."""
    placement: str = ""
    """Where the runs go: workers, GPUs and runs per GPU, memory per run (scaling.sweep.placement)."""
    branching: dict[str, float] | None = None
    """A [wsd] sweep's FLOPs: `stable_flops` (the stable runs), `cooldown_flops` (the branches'
    own), `total_flops`, `grid_flops` (the same points trained as separate runs: the sum of the
    branches' whole paths) and `ratio` = total / grid; None for other sweeps."""

    @property
    def to_train(self) -> int:
        """Runs a sweep would train: those not finished for good."""
        return sum(1 for run in self.runs if run["status"] not in FINISHED)

    def to_dict(self) -> dict[str, Any]:
        plain = {"runs": to_plain(self.runs), "to_train": self.to_train, "workers": self.workers,
                 "wall_s": self.wall_s, "basis": self.basis, "placement": self.placement}
        if self.branching is not None:  # a [wsd] sweep's only
            plain["branching"] = self.branching
        return plain

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DryRun:
        """Read `to_dict` output; `to_train` is derived from the runs' statuses."""
        return from_plain(cls, {k: v for k, v in data.items() if k != "to_train"})


@dataclass(frozen=True)
class _Throughput:
    """Seconds for a run: setup + its evaluations x seconds per evaluation(params) + its optimizer
    steps x fixed seconds per step(params) + flops / rate(params), each interpolated in log-log
    against model size. The fixed per-step cost (dispatch, optimizer, logging) is what makes a
    tiny model at a small batch slow; it is measured where the probe trains one size at two
    batches (a tune grid), else 0 and folded into the rate."""

    sizes: list[float]
    rates: list[float]
    """Training FLOP/s beyond the fixed per-step cost (evaluations excluded)."""
    eval_s: list[float]
    """Seconds of one held-out evaluation."""
    setup_s: float
    first_s: float
    """Extra seconds of a worker's first run (imports, caches), paid once per worker, in parallel."""
    startup_s: float
    """Seconds before the first run starts (worker processes importing torch)."""
    step_s: list[float] | None = None
    """Fixed seconds per optimizer step; None where every size was probed at one batch."""
    probe_runs: int = 0
    """Short runs the probe trained (0 for a store's history)."""

    def seconds(self, task: RunTask) -> float:
        size, sizes = np.log(task.params), np.log(self.sizes)
        rate = float(np.exp(np.interp(size, sizes, np.log(self.rates))))
        per_eval = float(np.exp(np.interp(size, sizes, np.log(np.maximum(self.eval_s, 1e-6)))))
        per_step = 0.0 if self.step_s is None else \
            float(np.exp(np.interp(size, sizes, np.log(np.maximum(self.step_s, 1e-9)))))
        steps = int(task_steps(task))
        evaluations = len(eval_steps(steps, task.config.eval_points))  # scaling.training.train evaluates at these steps
        return self.setup_s + evaluations * per_eval + steps * per_step + task.flops / rate


def _probe(tasks: list[RunTask], workers: int, gpus: list[str], threads: int, max_steps: int = 20) -> _Throughput | None:
    """Run short copies (at most `max_steps` steps, one evaluation) of the smallest and the
    largest run on the sweep's own local workers, one of each per worker, as a sweep would.
    Measures the workers' start-up, a worker's first-run cost (the smallest run goes first), a
    run's setup (the largest, not first), one evaluation and the training FLOP rate against
    size, under the sweep's parallelism. Where a size is trained at several batches (a tune
    grid), its copies take its smallest and its largest batch, which splits a step's time into a
    fixed cost and a cost per token. None when the spec's device is not here."""
    import tempfile

    # lazy: torch loads only where a run needs it
    from scaling.training.runtime import resolve_device

    by_size: dict[float, list[RunTask]] = {}
    for task in tasks:
        by_size.setdefault(task.params, []).append(task)
    smallest, largest = min(by_size), max(by_size)
    try:
        resolve_device(by_size[smallest][0].config.device if not gpus else "cpu")
    except (ValueError, RuntimeError):
        return None
    quiet = logging.getLogger("scaling")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the probe's runs would repeat the data's warnings the sweep will give
    try:
        with tempfile.TemporaryDirectory(prefix="scaling-probe-") as scratch:
            probes, evaluations = [], {}
            for kind, size in (("first", smallest), ("next", largest)):
                shorts = [_short_copy(task, threads, max_steps) for task in _batch_extremes(by_size[size])]
                for w in range(max(workers, len(shorts))):
                    short = shorts[w % len(shorts)]
                    probes.append(RunTask(f"{kind}-{w}", short, Path(scratch), params=size))
                    evaluations[f"{kind}-{w}"] = len(eval_steps(count_steps(short), 1))
            began = time.time()
            runner = LocalBackend(train_in_worker, workers, gpus=gpus or None, threads=threads,
                                  preload=("scaling.training.train", "torch._dynamo"))
            try:
                schedule(probes, runner, retries=0)
            finally:
                runner.close()
            events = read_events(Path(scratch))
            records = {t.run_id: read_record_lenient(t.run_dir) or {} for t in probes}
            if any(r.get("status") != "ok" for r in records.values()):
                logger.warning("the dry run's probe failed (%s); no time estimate",
                               next(r.get("error") for r in records.values() if r.get("status") != "ok"))
                return None
            speeds = {t.run_id: _train_tokens_per_s(t.run_dir) for t in probes}
    finally:
        quiet.setLevel(level)
    starts = [e for e in events if e["event"] == "start"]
    execs = {e["run_id"]: float(e["wall_s"]) for e in events if e["event"] == "finish" and e.get("status") == "ok"}
    if len(execs) < len(probes):
        return None
    loops = {rid: float(r["wall_s"]) for rid, r in records.items()}
    firsts = [p.run_id for p in probes if p.run_id.startswith("first")]
    nexts = [p.run_id for p in probes if p.run_id.startswith("next")]
    setup_s = max(0.0, sum(execs[r] - loops[r] for r in nexts) / len(nexts))
    first_s = max(0.0, sum(execs[r] - loops[r] - setup_s for r in firsts) / len(firsts))
    steps: dict[float, list[tuple[float, float, float]]] = {}
    evals: dict[float, list[float]] = {}
    for probe in probes:
        record = records[probe.run_id]
        train_s = float(record["tokens"]) / speeds[probe.run_id]
        batch_tokens = probe.config.batch_size * probe.config.model.seq_len  # type: ignore[operator]
        n_steps = float(record["tokens"]) / batch_tokens
        steps.setdefault(float(probe.params), []).append(
            (batch_tokens, train_s / n_steps, float(record["flops"]) / float(record["tokens"])))
        evals.setdefault(float(probe.params), []).append(
            max(0.0, loops[probe.run_id] - train_s) / evaluations[probe.run_id])
    sizes = sorted(steps)
    fixed, rates = zip(*(_step_cost(steps[s]) for s in sizes))
    startup_s = min(e["time"] for e in starts) - began
    return _Throughput(sizes, list(rates), [sum(evals[s]) / len(evals[s]) for s in sizes], setup_s, first_s,
                       startup_s, step_s=list(fixed) if all(f > 0 for f in fixed) else None,
                       probe_runs=len(probes))


def _batch_extremes(tasks: list[RunTask]) -> list[RunTask]:
    """The run of the smallest and of the largest batch (tokens per step) among one size's runs
    (one run when they all share a batch)."""
    by_batch = {}
    for task in tasks:
        cfg = resolve(task.config)
        by_batch.setdefault(cfg.batch_size * cfg.model.seq_len, task)  # type: ignore[operator]
    low, high = min(by_batch), max(by_batch)
    return [by_batch[low]] if low == high else [by_batch[low], by_batch[high]]


def _short_copy(task: RunTask, threads: int, max_steps: int) -> TrainConfig:
    """`task`'s config cut to at most `max_steps` steps (and about 5e11 FLOPs) with one evaluation."""
    from dataclasses import replace

    cfg = resolve(replace(task.config, threads=threads, branch_from=None, save_at=()))  # a copy starts afresh
    batch_tokens = cfg.batch_size * cfg.model.seq_len  # type: ignore[operator]
    per_step = task.flops * batch_tokens / max(trained_tokens(task.config), 1)
    steps = max(3, min(max_steps, round(cfg.tokens / batch_tokens), int(5e11 / max(per_step, 1.0))))
    return replace(cfg, tokens=steps * batch_tokens, log_every=None, eval_points=1,
                   warmup_steps=min(cfg.warmup_steps or 1, max(1, steps // 4)))


def _step_cost(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    """(fixed seconds per step, FLOP/s beyond it) from one size's probes, each (tokens per step,
    seconds per step, FLOPs per token): a line s = fixed + tokens / token_rate through two or more
    batches, else fixed = 0. A line with a negative intercept or slope (noise) also falls back."""
    batches, seconds, per_token = (np.array(column, dtype=float) for column in zip(*points))
    flops_per_token = float(per_token.mean())
    if len(set(batches.tolist())) >= 2:
        slope, fixed = np.polyfit(batches, seconds, 1)
        if slope > 0 and fixed > 0:
            return float(fixed), flops_per_token / float(slope)
    return 0.0, float(np.mean(per_token * batches / seconds))


def _train_tokens_per_s(run_dir: Path) -> float:
    """Median training throughput over a run's logged intervals (evaluations excluded)."""
    import statistics

    curve = read_curve(run_dir, columns=("split", "tokens_per_s")).to_pylist()
    return statistics.median(row["tokens_per_s"] for row in curve if row["split"] == "train" and row["tokens_per_s"])


def _history(tasks: list[RunTask]) -> _Throughput | None:
    """Throughput from this store's finished runs (their whole execution, setup included, as the
    sweep's events recorded it); None with fewer than two."""
    seconds: dict[str, float] = {}
    for event in read_events(tasks[0].sweep_dir) if tasks else []:
        if event.get("event") == "finish" and event.get("status") == "ok" and event.get("wall_s"):
            seconds[event["run_id"]] = float(event["wall_s"])
    points: dict[float, list[float]] = {}
    for task in tasks:
        if task.run_id in seconds and task.flops > 0:
            points.setdefault(float(task.params), []).append(task.flops / seconds[task.run_id])
    if sum(len(v) for v in points.values()) < 2:
        return None
    sizes = sorted(points)
    return _Throughput(sizes, [sum(points[s]) / len(points[s]) for s in sizes], [0.0] * len(sizes), 0.0, 0.0, 0.0)


def _makespan(seconds: list[float], workers: int) -> float:
    """Wall time of handing runs, in order, to the first free of `workers` (as `schedule` does)."""
    import heapq

    free_at = [0.0] * max(1, workers)
    for duration in seconds:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


def dry_run(spec: SweepConfig, out: Path = Path("runs"), *, workers: int | None = None, measure: bool = True,
            gpus: list[Gpu] | None = None) -> DryRun:
    """Every run of the sweep with its FLOPs, peak LR and batch (sequences) with where each came
    from (scaling.training.hyperparams.hyperparameter_sources), current status and estimated wall seconds,
    and the sweep's wall time on `workers` (default: as `run_sweep` picks them). Nothing is written.

    Throughput comes from this store's history (two or more finished runs), else from a probe:
    real training calls here, a few steps each. A run's time is its setup plus FLOPs over the
    FLOP rate (interpolated in log-log against model size; small models run far below peak);
    the sweep's adds worker start-up and each worker's first-run cost.

    `gpus` names cards this machine may not have (scaling.sweep.placement.named_gpus): the runs
    are placed and their micro batches chosen for those, and nothing is timed here.
    """
    sweep_dir = Path(out) / spec.name
    placement = place_sweep(spec, workers=workers, gpus=gpus)
    tasks, entries = sweep_tasks(spec, sweep_dir, placement)
    check_tasks(tasks, placement)  # before timing any of them: a huge batch would exhaust memory
    count, threads = placement.workers, placement.threads
    measure = measure and gpus is None  # named cards: the time of a run here says nothing about them
    statuses = [run_status(t.run_dir) if t.run_dir.exists() else "pending" for t in tasks]
    todo = [t for t, status in zip(tasks, statuses) if status not in FINISHED]
    throughput, basis = None, "not measured" if gpus is None else "not measured: a dry run for named GPUs"
    if measure and tasks:
        throughput = _history(tasks)
        basis = "from this store's finished runs"
        if throughput is None and todo:
            throughput = _probe(todo, count, [g.id for g in placement.gpus], threads)
            basis = f"from a probe here: {throughput.probe_runs if throughput else 0} short runs on {count} workers"
    estimates = [throughput.seconds(t) if throughput else None for t in tasks]
    wall_s = None
    if throughput is not None:
        pending = [e for e, status in zip(estimates, statuses) if status not in FINISHED]
        wall_s = (throughput.startup_s + throughput.first_s + _makespan(pending, count)  # type: ignore[arg-type]
                  if pending else 0.0)
    runs = []
    for task, entry, status, est in zip(tasks, entries, statuses, estimates):
        resolved, sources = resolve(task.config), hyperparameter_sources(task.planned or task.config)
        for name, plugin in spec.tables.items():  # a table's grid sets what its points set
            gridded = set().union(*plugin.points())
            sources = {"lr": f"{name} grid" if "lr" in gridded else sources["lr"],
                       "batch": f"{name} grid" if "batch_size" in gridded else sources["batch"]}
        # The tokens a run trains on are its budget in whole batches (count_steps), as its record will say.
        tokens = count_steps(resolved) * resolved.batch_size * resolved.model.seq_len
        if resolved.batch_size_asked is not None:
            sources["batch"] = f"{sources['batch']}: {resolved.batch_size_asked} asked"
        runs.append({**entry, "tokens": tokens, "flops": entry["flops"] * tokens / entry["tokens"],
                     "lr": resolved.lr, "batch_size": resolved.batch_size, "lr_source": sources["lr"],
                     "batch_source": sources["batch"], "batch_size_asked": resolved.batch_size_asked,
                     "micro_batch_size": resolved.micro_batch_size,
                     "accumulation_steps": resolved.batch_size // resolved.micro_batch_size,  # type: ignore[operator]
                     "memory": estimate_memory(resolved, on_gpu=placement.on_gpu).total,
                     "status": status, "est_s": est})
    return DryRun(runs, count, wall_s, basis, placement.describe(),
                  branching=branch_flops(runs) if spec.wsd is not None else None)


def branch_flops(runs: list[dict[str, Any]]) -> dict[str, float]:
    """A [wsd] sweep's FLOPs, stable and cooldown apart, against the same points trained as
    separate (e.g. cosine) runs: `DryRun.branching`."""
    stable = sum(r["flops"] for r in runs if r.get("role") == "stable")
    cooldown = sum(r["trained_flops"] for r in runs if r.get("role") == "branch")
    grid = sum(r["flops"] for r in runs if r.get("role") == "branch")
    return {"stable_flops": stable, "cooldown_flops": cooldown, "total_flops": stable + cooldown,
            "grid_flops": grid, "ratio": (stable + cooldown) / grid if grid else float("nan")}
