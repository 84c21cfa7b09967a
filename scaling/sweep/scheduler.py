"""A whole sweep: expand a spec into run tasks, run them on a backend, estimate their time.

`run_sweep` writes sweep.json (spec, planned runs, provenance) first, hands the runs to
`scaling.sweep.backends.schedule` on a local or Ray backend, and derives summary.parquet at the end;
`dry_run` lists the runs with FLOPs and an estimated time from measured throughput.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.records import read_record_json
from scaling.sweep import store
from scaling.sweep.backends import (
    Backend,
    LocalBackend,
    RayBackend,
    RunTask,
    SweepProgress,
    TrainFn,
    schedule,
    visible_gpus,
)

if TYPE_CHECKING:
    from scaling.config import TrainConfig
    from scaling.records import RunRecord
    from scaling.sweep.spec import SweepConfig


def _train_default(config: TrainConfig, run_dir: Path) -> RunRecord:
    from scaling.train import train  # imported in the worker: the parent never loads torch

    return train(config, run_dir)


def sweep_tasks(spec: SweepConfig, sweep_dir: Path) -> tuple[list[RunTask], list[dict[str, Any]]]:
    """The sweep's RunTasks and their sweep.json entries (run_id, budget, shape, counts)."""
    from scaling.flops import count_params, flops_per_token
    from scaling.records import run_id
    from scaling.sweep.spec import plan_runs, train_config

    tasks, entries, seen = [], [], set()
    for run in plan_runs(spec):
        cfg = train_config(spec, run)
        rid = run_id(cfg)
        if rid in seen:
            continue
        seen.add(rid)
        flops = flops_per_token(run.model, spec.flops_method) * run.tokens
        params = count_params(run.model).total
        tasks.append(RunTask(rid, cfg, sweep_dir, flops=flops, params=params))
        entries.append({"run_id": rid, "budget_flops": run.budget_flops, "params": params,
                        "tokens": run.tokens, "flops": flops, "seed": run.seed,
                        "n_layer": run.model.n_layer, "d_model": run.model.d_model})
    return tasks, entries


def check_tasks(tasks: list[RunTask], share: int = 1) -> None:
    """Refuse the sweep (scaling.bounds.ResourceLimitError) if any run cannot fit this machine,
    `share` runs side by side; the message names the run and its budget."""
    from scaling.bounds import check_run

    for task in tasks:
        check_run(task.config, share=share, label=f"run {task.run_id} ({task.params:,} params, "
                                                  f"{task.config.tokens:.3g} tokens)")


def run_sweep(spec: SweepConfig, out: Path = Path("runs"), *, backend: str = "local", workers: int | None = None,
              address: str | None = None, retries: int = 1, train_fn: TrainFn | None = None,
              progress: Callable[[SweepProgress], None] | None = None,
              command: str | None = None) -> SweepProgress:
    """Run a SweepConfig into `out/<name>/`: skip finished runs, resume interrupted ones, record
    failures and go on; write sweep.json first and summary.parquet at the end."""
    from dataclasses import asdict, replace

    sweep_dir = Path(out) / spec.name
    tasks, entries = sweep_tasks(spec, sweep_dir)
    gpus = visible_gpus() if spec.device in ("auto", "cuda") and backend == "local" else []
    count = workers or (len(gpus) if gpus else (os.cpu_count() or 1))
    check_tasks(tasks, share=1 if gpus or backend == "ray" else min(count, len(tasks)))
    invocation = {**store.provenance(command), "backend": backend}
    store.update_sweep_meta(sweep_dir, name=spec.name, spec=asdict(spec), runs=entries, invocation=invocation)
    train_fn = train_fn or _train_default
    if spec.device == "cuda" and backend == "local" and not gpus:
        raise ValueError(f"sweep {spec.name} asks for device cuda but no GPU is visible")
    threads = max(1, (os.cpu_count() or 1) // count) if gpus else 1
    tasks = [replace(t, config=replace(t.config, threads=threads)) for t in tasks]
    runner: Backend
    if backend == "ray":
        runner = RayBackend(train_fn, address=address, device=spec.device, cpus_per_run=threads)
    elif backend == "local":
        preload = ("scaling.train", "torch._dynamo") if train_fn is _train_default else ()
        runner = LocalBackend(train_fn, count, gpus=gpus or None, threads=threads, preload=preload)
    else:
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    try:
        return schedule(tasks, runner, retries=retries, progress=progress)
    finally:
        runner.close()
        store.write_summary(sweep_dir)


def measure_flops_per_s(cfg: TrainConfig, steps: int = 4) -> float | None:
    """Training FLOP/s (under cfg.flops_method) of a few optimizer steps of cfg's model at its
    resolved micro-batch, on random tokens; None when cfg's device is not available here."""
    import torch

    from scaling.flops import flops_per_token
    from scaling.model import GPT
    from scaling.runtime import resolve_device
    from scaling.hyperparams import resolve

    try:
        device = resolve_device(cfg.device)
    except (ValueError, RuntimeError):
        return None
    cfg = resolve(cfg)
    model = GPT(cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randint(cfg.model.vocab_size, (cfg.micro_batch_size, cfg.model.seq_len + 1), device=device)
    start = 0.0
    for step in range(steps + 1):  # step 0 warms up (allocations, kernels) and is not timed
        if step == 1:
            start = time.perf_counter()
        model(batch[:, :-1], batch[:, 1:]).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    tokens = steps * cfg.micro_batch_size * cfg.model.seq_len
    return flops_per_token(cfg.model, cfg.flops_method) * tokens / (time.perf_counter() - start)


def estimate_seconds(tasks: list[RunTask], threads: int = 1) -> list[float | None]:
    """Estimated wall seconds per run, from measured throughput.

    Finished runs in the store give FLOP/s against params; without two of them, the smallest,
    a middle and the largest model are timed for a few steps (measure_flops_per_s, with
    `threads` torch threads, as a sweep worker has). FLOP/s is interpolated linearly in
    (log params, log FLOP/s); small models run far below the machine's peak, so one number
    would not do.
    """
    import numpy as np

    points: dict[int, float] = {}
    for task in tasks:
        record = read_record_json(task.run_dir)
        if record and record.get("status") == "ok" and record.get("wall_s"):
            points[task.params] = float(record["flops"]) / float(record["wall_s"])
    if len(points) < 2:
        import torch

        torch.set_num_threads(threads)
        by_size = sorted({t.params: t for t in tasks}.values(), key=lambda t: t.params)
        for task in {id(t): t for t in (by_size[0], by_size[len(by_size) // 2], by_size[-1])}.values():
            measured = measure_flops_per_s(task.config)
            if measured is None:
                return [None] * len(tasks)
            points[task.params] = measured
    sizes = sorted(points)
    log_rate = np.interp(np.log([t.params for t in tasks]), np.log(sizes), np.log([points[s] for s in sizes]))
    return [float(t.flops / np.exp(r)) for t, r in zip(tasks, log_rate)]


def dry_run(spec: SweepConfig, out: Path = Path("runs"), *, measure: bool = True) -> list[dict[str, Any]]:
    """Every run of the sweep with its FLOPs, peak LR and batch (sequences) with where each came
    from (scaling.hyperparams.hyperparameter_sources), current status and estimated wall seconds on
    one worker (None when not measured); nothing is trained or written."""
    from scaling.hyperparams import hyperparameter_sources, resolve

    sweep_dir = Path(out) / spec.name
    tasks, entries = sweep_tasks(spec, sweep_dir)
    check_tasks(tasks)  # before timing any of them: a huge batch would exhaust memory
    estimates = estimate_seconds(tasks) if measure and tasks else [None] * len(tasks)
    rows = []
    for task, entry, est in zip(tasks, entries, estimates):
        resolved, sources = resolve(task.config), hyperparameter_sources(task.config)
        if spec.tune is not None:  # the grid sets lr and batch_size of every run
            sources = {"lr": "tune grid", "batch": "tune grid"}
        rows.append({**entry, "lr": resolved.lr, "batch_size": resolved.batch_size,
                     "lr_source": sources["lr"], "batch_source": sources["batch"],
                     "status": store.run_status(task.run_dir) if task.run_dir.exists() else "pending", "est_s": est})
    return rows
