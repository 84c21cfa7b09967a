"""Bounds before work: a run's memory and minimum time, checked before anything is allocated.

`check_run(cfg)` estimates what one training run holds at once (weights, gradients and AdamW's
two moments in float32; the activations of one micro-batch; the evaluation logits) and the
least time its FLOPs can take on this machine, and raises `ResourceLimitError` (a ValueError,
so the CLI exits 2) naming the estimate and the limit. No torch is needed except to ask a GPU
its memory. Legend: P = parameters, b = micro-batch sequences, s = seq_len, d = d_model,
a = n_head, L = n_layer, V = vocab_size.

References:
    Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
        Sec. 4.1, Eq. 1: activations per layer s b d (34 + 5 a s / d) bytes in 16-bit;
    Loshchilov & Hutter 2019 (AdamW keeps two moments per parameter).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from scaling.config import TrainConfig
from scaling.flops import count_params, flops_per_token
from scaling.training.hyperparams import resolve

__all__ = ["ResourceLimitError", "MemoryEstimate", "estimate_memory", "memory_limit", "check_run",
           "MAX_RUN_S", "CPU_FLOPS_PER_CORE"]

MAX_RUN_S = 365 * 86400.0
"""Longest run accepted: one year at the optimistic FLOP/s below. Anything longer is a typo."""
CPU_FLOPS_PER_CORE = 1e11
"""An upper bound on training FLOP/s per CPU core (fp32 AVX-512 FMA peak is ~1e11 at 3 GHz;
small models measured here run at ~1e9), so the time bound never refuses a feasible run."""
GPU_FLOPS = 2e15
"""Upper bound on one GPU's dense training FLOP/s (H100/H200 bf16 peak ~ 1e15)."""
EVAL_TOKENS_PER_PASS = 2**16
"""scaling.training.train.EVAL_BATCH_TOKENS (duplicated here so this module needs no torch)."""


class ResourceLimitError(ValueError):
    """A run that cannot fit this machine's memory, or would take absurdly long; says by how much."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training run holds at its peak."""

    state: float
    """Weights, gradients and AdamW's two moments: 16 P bytes (float32)."""
    activations: float
    """One micro-batch's saved activations and logits (float32)."""
    evaluation: float
    """Logits of one evaluation pass."""

    @property
    def total(self) -> float:
        return self.state + max(self.activations, self.evaluation)


def estimate_memory(cfg: TrainConfig) -> MemoryEstimate:
    """Peak bytes of training `cfg` (resolved: micro_batch_size set).

    Per layer Korthikanti et al. 2022, Eq. 1, doubled for float32: 2 s b d (34 + 5 a s / d);
    logits, their softmax and gradient: 3 x 4 b s V; state 16 P.
    """
    model = cfg.model
    micro = cfg.micro_batch_size or cfg.batch_size or 1
    s, d, a = float(model.seq_len), float(model.d_model), float(model.n_head)
    per_layer = 2.0 * s * micro * d * (34.0 + 5.0 * a * s / d)
    logits = 3.0 * 4.0 * micro * s * model.vocab_size
    evaluation = 2.0 * 4.0 * min(EVAL_TOKENS_PER_PASS, cfg.eval_tokens) * model.vocab_size
    return MemoryEstimate(state=16.0 * count_params(model).total,
                          activations=model.n_layer * per_layer + logits, evaluation=evaluation)


def memory_limit(device: str) -> tuple[float, str]:
    """(bytes, what they are) a run on `device` may use: the GPU's memory, else available RAM."""
    if device in ("cuda", "auto"):
        try:
            # lazy: torch loads only to ask whether a GPU is here
            import torch
        except ImportError:
            torch = None  # type: ignore[assignment]
        if torch is not None and torch.cuda.is_available():
            return float(torch.cuda.get_device_properties(0).total_memory), "GPU memory"
    return _available_ram(), "available RAM"


def _available_ram() -> float:
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


def check_run(cfg: TrainConfig, *, share: int = 1, label: str = "run") -> MemoryEstimate:
    """Raise ResourceLimitError unless `cfg`'s FLOPs fit `MAX_RUN_S` at an optimistic FLOP/s and
    its memory fits 1/`share` of this machine's (runs trained side by side)."""
    per_token = flops_per_token(cfg.model, cfg.flops_method)
    rate = _peak_rate(cfg.device)
    if per_token * cfg.tokens / rate > MAX_RUN_S:
        largest = MAX_RUN_S * rate / per_token
        raise ResourceLimitError(
            f"{label}: {cfg.tokens:.3g} tokens ({per_token * cfg.tokens:.3g} FLOPs) would take at least "
            f"{per_token * cfg.tokens / rate / MAX_RUN_S:.3g} years here even at {rate:.2g} FLOP/s; "
            f"the largest sensible budget for this model is about {largest:.3g} tokens "
            f"({MAX_RUN_S * rate:.3g} FLOPs, a year at that rate)")
    cfg = resolve(cfg)
    estimate = estimate_memory(cfg)
    limit, what = memory_limit(cfg.device)
    limit /= max(share, 1)
    if estimate.total > limit:
        per = f" (1/{share} per concurrent run)" if share > 1 else ""
        raise ResourceLimitError(
            f"{label} needs about {_gb(estimate.total)} of memory (AdamW state {_gb(estimate.state)}, "
            f"activations of {cfg.micro_batch_size:,} sequences x {cfg.model.seq_len} tokens "
            f"{_gb(estimate.activations)}) but {what} here is {_gb(limit)}{per}: lower --batch-size "
            "(or micro_batch_size), the model size or the token budget")
    return estimate


def _gb(value: float) -> str:
    return f"{value / 2**30:.3g} GiB"
