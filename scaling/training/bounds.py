"""Bounds before work: a run's memory, the micro batch that fits it, and its minimum time,
all decided before anything is allocated.

`estimate_memory(cfg, on_gpu=...)` counts what one training run holds at its peak (weights,
gradients and AdamW's two moments in float32; the activations of one micro batch as the
model stores them, in bf16 under autocast and without an s x s attention matrix, since
scaled_dot_product_attention's flash kernels keep only a log-sum-exp per row; the logits and
their loss). `fit_batch(cfg, memory)` picks the largest micro batch whose estimate fits and
rounds the batch to a whole number of micro batches; `check_run(cfg)` refuses, naming the
estimate and the limit, what cannot fit even one sequence at a time, or would take absurdly
long. No torch is needed except to ask a GPU its memory. Legend: P = parameters, b = micro
batch sequences, s = seq_len, d = d_model, V = vocab_size, L = n_layer, e = bytes per element.

The activation count starts from Korthikanti et al.'s per-layer inventory (34 s b d bytes in
16-bit plus 5 a s^2 b for the attention matrix), drops what this block does not store (no
dropout masks; under flash attention no s^2 term) and adds what it does: float32 LayerNorm
inputs and outputs beside the compute-dtype copies autocast makes, and the gradients alive
in the last layer's backward. Calibrated against the peak measured on CPU
(scaling.training.probe; 2-6 layers, widths 128-512, float32 and bf16 autocast), it is
    36 + 16 e bytes per token and unit of width per layer (100 in float32, 68 in bf16),
plus for the logits e b s V and 4 b s V for each of the float32 log-softmax the loss saves,
its gradient and the logits' gradient. tests/test_bounds.py holds it to the measured CPU
peak; benchmarks/gpu_check.py compares it with a GPU's.

References:
    Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
        Sec. 4.1, Eq. 1: activations per layer s b d (34 + 5 a s / d) bytes in 16-bit;
    Dao et al. 2022, "FlashAttention", Sec. 3.1 (no s x s matrix stored; softmax statistics only);
    Loshchilov & Hutter 2019 (AdamW keeps two moments per parameter).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from scaling.config import TrainConfig
from scaling.flops import count_params, flops_per_token
from scaling.training.hyperparams import resolve

__all__ = ["ResourceLimitError", "MemoryEstimate", "estimate_memory", "memory_limit", "check_run", "check_time", "fit_batch",
           "eval_pass_sequences", "fit_to_device", "uses_bf16", "MEMORY_FRACTION_ENV", "MAX_RUN_S", "CPU_FLOPS_PER_CORE", "GPU_OVERHEAD", "GPU_USABLE"]

MAX_RUN_S = 365 * 86400.0
"""Longest run accepted: one year at the optimistic FLOP/s below. Anything longer is a typo."""
CPU_FLOPS_PER_CORE = 1e11
"""An upper bound on training FLOP/s per CPU core (fp32 AVX-512 FMA peak is ~1e11 at 3 GHz;
small models measured here run at ~1e9), so the time bound never refuses a feasible run."""
GPU_FLOPS = 2.25e15
"""Upper bound on one GPU's dense training FLOP/s (B200 bf16 peak, scaling.hardware.GPU_SPECS)."""
EVAL_TOKENS_PER_PASS = 2**16
"""Tokens per evaluation forward pass (scaling.training.train evaluates in passes of this many
tokens, or of its micro batch where memory made the micro batch smaller than the batch)."""
GPU_OVERHEAD = 2**30
"""Bytes a GPU run holds outside its tensors: the CUDA context and cuBLAS workspace (about
0.5 GiB on Hopper) plus the caching allocator's rounding. An assumption; gpu_check measures it."""
GPU_USABLE = 0.92
"""Share of a GPU's memory the estimate may fill: the rest absorbs allocator fragmentation."""
ACTIVATION_BYTES_FLOAT32 = 36.0
"""Per layer, token and unit of width, float32 whatever the compute dtype: LayerNorm inputs
and outputs, and the residual stream's gradients (fitted to measured peaks, module docstring)."""
ACTIVATION_ELEMENTS = 16.0
"""Per layer, token and unit of width, in the compute dtype: matmul inputs, q, k, v, the
attention output and the MLP's 4d hidden before and after its GELU (fitted likewise)."""
LOGIT_FLOAT32_COPIES = 3.0
"""Float32 b s V tensors alive at the loss's backward: saved log-softmax, its gradient, the
logits' gradient."""


class ResourceLimitError(ValueError):
    """A run that cannot fit this machine's memory, or would take absurdly long; says by how much."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training run holds at its peak."""

    state: float
    """Weights, gradients and AdamW's two moments: 16 P bytes (float32), plus 2 P for the bf16
    weight copies autocast keeps during a forward pass."""
    activations: float
    """One micro batch's saved activations, logits and loss."""
    evaluation: float
    """Logits of one evaluation pass."""
    overhead: float = 0.0
    """Outside the tensors: GPU_OVERHEAD on a GPU, 0 on CPU."""

    @property
    def total(self) -> float:
        return self.state + max(self.activations, self.evaluation) + self.overhead

    @property
    def training(self) -> float:
        """The peak of the training steps alone (what scaling.training.probe measures)."""
        return self.state + self.activations + self.overhead


def eval_pass_sequences(cfg: TrainConfig, micro: int | None = None) -> int:
    """Sequences per evaluation forward pass of a resolved config: EVAL_TOKENS_PER_PASS worth,
    or the micro batch when memory made it smaller than the batch (an evaluation pass never
    holds more logits than a training micro batch then)."""
    micro = micro if micro is not None else cfg.micro_batch_size
    assert cfg.batch_size is not None and micro is not None
    per_pass = max(1, EVAL_TOKENS_PER_PASS // cfg.model.seq_len)
    return per_pass if micro >= cfg.batch_size else min(per_pass, micro)


def uses_bf16(cfg: TrainConfig, on_gpu: bool) -> bool:
    """Whether a run trains under bf16 autocast: its `bf16` field, else on a GPU only."""
    return cfg.bf16 if cfg.bf16 is not None else on_gpu


def estimate_memory(cfg: TrainConfig, *, on_gpu: bool = False, micro: int | None = None) -> MemoryEstimate:
    """Peak bytes of training resolved `cfg` on a GPU or a CPU, in micro batches of `micro`
    sequences (default: its micro_batch_size).

    Per layer, per token and unit of width: 36 + 16 e bytes (module docstring; after Korthikanti
    et al. 2022, Eq. 1, without dropout masks and, under flash attention, without its s^2 term);
    logits: (e + 12) b s V; state: 16 P, + 2 P under bf16 autocast.
    """
    model = cfg.model
    micro = micro if micro is not None else cfg.micro_batch_size
    assert micro is not None
    bf16 = uses_bf16(cfg, on_gpu)
    e = 2.0 if bf16 else 4.0
    tokens = float(micro * model.seq_len)
    per_layer = tokens * model.d_model * (ACTIVATION_BYTES_FLOAT32 + ACTIVATION_ELEMENTS * e)
    logits = tokens * model.vocab_size * (e + 4.0 * LOGIT_FLOAT32_COPIES)
    eval_tokens = float(min(eval_pass_sequences(cfg, micro) * model.seq_len, cfg.eval_tokens))
    evaluation = eval_tokens * model.vocab_size * (e + 4.0)  # logits and their float32 log-softmax
    params = count_params(model).total
    return MemoryEstimate(state=(18.0 if bf16 else 16.0) * params,
                          activations=model.n_layer * per_layer + logits, evaluation=evaluation,
                          overhead=GPU_OVERHEAD if on_gpu else 0.0)


def fit_batch(cfg: TrainConfig, memory: float, *, on_gpu: bool) -> TrainConfig:
    """`cfg` resolved with the largest micro batch whose estimate fits in `memory` bytes.

    The batch the rule (or `batch_size`) asks for is the optimizer's batch; it is trained in
    k = ceil(batch / m) micro batches of round(batch / k) sequences, m the largest that fits,
    so the batch used is the multiple of the micro batch nearest the one asked (it moves by
    less than k/2 sequences). `batch_size_asked` keeps the asked batch when it differs. A given
    `micro_batch_size` is kept (the batch rounded to a multiple of it, unless `batch_size` is
    given too). ResourceLimitError when one sequence at a time does not fit.
    """
    if cfg.micro_batch_size is not None:
        return resolve(cfg)
    whole = resolve(cfg)
    asked = whole.batch_size
    assert asked is not None

    def fits(micro: int) -> bool:
        return estimate_memory(whole, on_gpu=on_gpu, micro=micro).total <= memory

    if fits(asked):
        return whole
    low, high = 1, asked  # invariant: the largest fitting micro batch is in [low, high) or none fits
    if not fits(1):
        return whole  # check_run names the shortfall at the whole batch
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    steps = math.ceil(asked / low)
    micro = max(1, round(asked / steps))
    return resolve(replace(cfg, batch_size=micro * steps, micro_batch_size=micro,
                           batch_size_asked=asked if micro * steps != asked else None))


MEMORY_FRACTION_ENV = "SCALING_GPU_MEMORY_FRACTION"
"""Set by a sweep worker that shares its GPU: the share of the GPU's memory this process may use
(also given to torch.cuda.set_per_process_memory_fraction)."""


def memory_limit(device: str) -> tuple[float, str]:
    """(bytes, what they are) a run on `device` may use: the usable part (GPU_USABLE) of this
    process's share of the GPU's memory, else available RAM."""
    if device in ("cuda", "auto"):
        try:
            # lazy: torch loads only to ask whether a GPU is here
            import torch
        except ImportError:
            torch = None  # type: ignore[assignment]
        if torch is not None and torch.cuda.is_available():
            fraction = float(os.environ.get(MEMORY_FRACTION_ENV, "1"))
            total = float(torch.cuda.get_device_properties(0).total_memory)
            what = "GPU memory" if fraction == 1 else f"this run's share ({fraction:.3g}) of GPU memory"
            return total * fraction * GPU_USABLE, what
    return available_ram(), "available RAM"


def available_ram() -> float:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _peak_rate(device: str) -> float:
    if device in ("cuda", "auto"):
        try:
            # lazy: torch loads only to ask whether a GPU is here
            import torch

            if torch.cuda.is_available():
                return GPU_FLOPS
        except ImportError:
            pass
    return CPU_FLOPS_PER_CORE * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                 else os.cpu_count() or 1)


def check_time(cfg: TrainConfig, label: str = "run", rate: float | None = None) -> None:
    """Raise ResourceLimitError unless `cfg`'s FLOPs fit `MAX_RUN_S` at an optimistic FLOP/s
    (`rate`, default this machine's bound)."""
    per_token = flops_per_token(cfg.model, cfg.flops_method)
    rate = rate if rate is not None else _peak_rate(cfg.device)
    if per_token * cfg.tokens / rate > MAX_RUN_S:
        largest = MAX_RUN_S * rate / per_token
        raise ResourceLimitError(
            f"{label}: {cfg.tokens:.3g} tokens ({per_token * cfg.tokens:.3g} FLOPs) would take at least "
            f"{per_token * cfg.tokens / rate / MAX_RUN_S:.3g} years here even at {rate:.2g} FLOP/s; "
            f"the largest sensible budget for this model is about {largest:.3g} tokens "
            f"({MAX_RUN_S * rate:.3g} FLOPs, a year at that rate)")


def check_run(cfg: TrainConfig, *, share: int = 1, label: str = "run", memory: float | None = None,
              on_gpu: bool | None = None, rate: float | None = None) -> MemoryEstimate:
    """Raise ResourceLimitError unless `cfg`'s FLOPs fit `MAX_RUN_S` at an optimistic FLOP/s and
    its memory fits `memory` bytes (default: this machine's, 1/`share` of it for runs trained
    side by side; `on_gpu` then says which estimate applies). `cfg` is resolved as it is:
    `fit_batch` chooses its micro batch first."""
    check_time(cfg, label, rate)
    cfg = resolve(cfg)
    if memory is None:
        limit, what = memory_limit(cfg.device)
        limit /= max(share, 1)
        on_gpu = "GPU" in what
    else:
        limit, what = memory, "the memory given to this run"
    estimate = estimate_memory(cfg, on_gpu=bool(on_gpu))
    if estimate.total > limit:
        per = f" (1/{share} per concurrent run)" if share > 1 and memory is None else ""
        raise ResourceLimitError(
            f"{label} needs about {_gb(estimate.total)} of memory (AdamW state {_gb(estimate.state)}, "
            f"activations of {cfg.micro_batch_size:,} sequences x {cfg.model.seq_len} tokens "
            f"{_gb(estimate.activations)}) but {what} here is {_gb(limit)}{per}: lower "
            "--micro-batch-size (or micro_batch_size), the model size or the token budget")
    return estimate


def fit_to_device(cfg: TrainConfig, label: str = "run") -> TrainConfig:
    """`cfg` resolved with the largest micro batch that fits this machine's memory (`fit_batch`
    against `memory_limit`), after the time bound: what `train` runs when no sweep chose the
    micro batch for it."""
    check_time(cfg, label)
    if cfg.micro_batch_size is not None:
        return resolve(cfg)
    memory, what = memory_limit(cfg.device)
    return fit_batch(cfg, memory, on_gpu="GPU" in what)


def _gb(value: float) -> str:
    return f"{value / 2**30:.3g} GiB"
