"""Where a sweep's runs execute, decided once for `run_sweep` and `dry_run`: how many worker
processes, on which GPUs, with how many threads, and how much memory each run may hold (from
which its micro batch is chosen).

On GPUs, runs share a card when they fit: each run's memory is estimated at the micro batch a
whole card would give it (scaling.training.bounds), and a card takes as many workers as the
largest run fits in its usable memory (at most MAX_RUNS_PER_GPU, and no more workers than CPU
cores to drive them); each worker then gets that share of the card as its per-process memory
fraction, and every run's micro batch is chosen for the share. On CPU, one single-thread
worker per free core. Threads come from the cores actually free (the load average subtracted),
and the placement says when the machine is oversubscribed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scaling.hardware import GPU_SPECS, Gpu, gpu_spec, visible_gpus
from scaling.training.bounds import GPU_USABLE, available_ram, estimate_memory, fit_batch

if TYPE_CHECKING:
    from scaling.config import TrainConfig

MAX_RUNS_PER_GPU = 8
"""Most runs sharing one GPU: each process holds a CUDA context (~0.5 GiB) and time-slices the
card; beyond a handful the contexts cost more than the overlap gains."""


@dataclass(frozen=True)
class Placement:
    """Workers, threads and memory of a sweep's runs."""

    workers: int
    threads: int
    memory: float
    """Bytes each run may hold: its share of a GPU's usable memory, or of the available RAM."""
    on_gpu: bool
    gpus: list[Gpu] = field(default_factory=list)
    runs_per_gpu: int = 1
    notes: list[str] = field(default_factory=list)
    """What the placement warns of (oversubscription, unknown GPUs)."""
    load: str = ""
    """How busy this machine's cores were when the threads were chosen (shown, not warned of: a
    busy machine is ordinary, and its threads already follow)."""
    rate: float | None = None
    """Peak FLOP/s of one of the GPUs (None on CPU): the time bound's optimistic rate."""

    @property
    def memory_fraction(self) -> float | None:
        """Per-process share of a GPU (torch.cuda.set_per_process_memory_fraction), None on CPU."""
        return 1.0 / self.runs_per_gpu if self.on_gpu else None

    def worker_gpus(self) -> list[str | None]:
        """The GPU id of each worker, in order (None on CPU)."""
        if not self.on_gpu:
            return [None] * self.workers
        return [self.gpus[i % len(self.gpus)].id for i in range(self.workers)]

    def fit(self, cfg: TrainConfig) -> TrainConfig:
        """`cfg` resolved with the largest micro batch that fits this placement's memory per run."""
        return fit_batch(cfg, self.memory, on_gpu=self.on_gpu)

    def describe(self) -> str:
        """One line: where the runs go."""
        if self.on_gpu:
            names = sorted({g.name for g in self.gpus})
            line = (f"{len(self.gpus)} x {', '.join(names)}: {self.runs_per_gpu} run(s) per GPU, "
                    f"{_gib(self.memory)} each; {self.workers} workers, {self.threads} thread(s) each")
        else:
            line = f"{self.workers} CPU workers, {self.threads} thread each, {_gib(self.memory)} RAM each"
        return "; ".join([line, *([self.load] if self.load else []), *self.notes])


def cpu_cores() -> tuple[int, int, float]:
    """(cores this process may use, cores free, 1-minute load average): free = cores minus the
    load average, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        load = 0.0
    return cores, max(1, min(cores, cores - round(load))), load


def run_threads(device: str) -> tuple[int | None, str | None]:
    """Torch threads for one run trained in this process (`scaling train`), and a note: on a CPU
    whose cores are busy, the cores free (torch's default of every core runs 3-8x slower on a
    loaded machine: threads contend with the load); else None, leaving torch's default."""
    if device == "cuda" or (device == "auto" and visible_gpus()):
        return None, None
    cores, free, load = cpu_cores()
    if free >= cores:
        return None, None
    return free, (f"{cores - free} of {cores} cores busy (load average {load:.1f}): training with {free} "
                  f"thread(s); --threads to choose")


def named_gpus(text: str) -> list[Gpu]:
    """GPUs named for a dry run: "h100", "h200:8", "a100-pcie:4" (a GPU_SPECS key, then a count)."""
    key, _, count_text = text.partition(":")
    spec = gpu_spec(key.strip())
    if spec is None:
        raise ValueError(f"--gpu: unknown GPU {key!r}; known: {', '.join(s.key for s in GPU_SPECS)}")
    if count_text and not (count_text.isdigit() and int(count_text) >= 1):
        raise ValueError(f"--gpu: the count after ':' must be a whole number >= 1, got {count_text!r}")
    return [Gpu(str(i), spec.name, spec.memory) for i in range(int(count_text or 1))]


def place(configs: list[TrainConfig], *, device: str, gpus: list[Gpu], workers: int | None = None,
          named: bool = False) -> Placement:
    """Workers, threads and per-run memory for `configs` on `gpus` (empty: CPU workers).

    `workers` overrides the count (on GPUs, spread evenly; the share each run gets follows).
    `named`: the GPUs are another machine's (a dry run for a named card): this one's cores do
    not bound the workers.
    """
    cores, free, load = cpu_cores()
    notes: list[str] = []
    busy = f"{cores - free} of {cores} cores busy (load average {load:.1f})" if free < cores else ""
    use_gpus = device in ("auto", "cuda") and bool(gpus)
    if not use_gpus:
        count = workers or free
        if workers and workers > free:
            notes.append(f"{workers} workers on {free} free cores: oversubscribed")
        memory = available_ram() / max(1, min(count, len(configs) or 1))
        return Placement(count, 1, memory, False, notes=notes, load=busy)
    unknown = sorted({g.name for g in gpus if g.spec is None})
    if unknown:
        notes.append(f"unknown GPU {', '.join(unknown)}: no MFU, memory as the driver reports it")
    card = min(g.memory or (g.spec.memory if g.spec else 0.0) for g in gpus)
    usable = card * GPU_USABLE
    if workers:
        per_gpu = max(1, math.ceil(workers / len(gpus)))
    else:
        largest = max((_need(cfg, usable) for cfg in configs), default=usable)
        driven = MAX_RUNS_PER_GPU if named else max(1, cores // len(gpus))
        per_gpu = max(1, min(MAX_RUNS_PER_GPU, int(usable // largest), driven))
    count = workers or per_gpu * len(gpus)
    threads = 1 if named else max(1, free // count)
    if named:
        notes = ["threads chosen on the machine that trains"]
    elif count > free:
        notes.append(f"{count} workers on {free} free cores: oversubscribed")
    rate = min((g.spec.peak_flops for g in gpus if g.spec is not None), default=None)
    return Placement(count, threads, usable / per_gpu, True, gpus=list(gpus), runs_per_gpu=per_gpu,
                     notes=notes, rate=rate, load="" if named else busy)


def _need(cfg: TrainConfig, usable: float) -> float:
    """Bytes a run holds at the micro batch a whole card would give it."""
    return estimate_memory(fit_batch(cfg, usable, on_gpu=True), on_gpu=True).total


def _gib(value: float) -> str:
    return f"{value / 2**30:.3g} GiB"
