"""Measured peak memory of a few training steps: the check on scaling.training.bounds' estimate.

`measure_peak(cfg)` trains `steps` optimizer steps of resolved `cfg` on random tokens and
returns the bytes its tensors held at the peak: on a GPU the caching allocator's
`max_memory_allocated` (plus what it reserved beyond that), on CPU the growth of the
process's peak resident set (`ru_maxrss`) over its resident set before the model was built,
which is the run's peak only in a process that has not yet held more; call it in a fresh one.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

import torch

from scaling.config import TrainConfig
from scaling.training.bounds import uses_bf16
from scaling.training.model import GPT
from scaling.training.runtime import resolve_device


@dataclass(frozen=True)
class Peak:
    """Bytes measured at the peak of a few steps."""

    allocated: float
    """Tensors alive at the peak (GPU: allocator high-water mark; CPU: resident-set growth)."""
    reserved: float
    """GPU: what the caching allocator held at its peak (fragmentation included); CPU: as allocated."""


def _resident() -> float:
    with open("/proc/self/statm") as statm:
        return float(statm.read().split()[1]) * resource.getpagesize()


def measure_peak(cfg: TrainConfig, steps: int = 2) -> Peak:
    """Peak bytes of `steps` training steps of resolved `cfg` (its micro batch, bf16 and compile
    settings as `train` would use them on this device)."""
    assert cfg.batch_size is not None and cfg.micro_batch_size is not None
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = float(torch.cuda.memory_allocated(device))
    else:
        base = _resident()
    bf16 = uses_bf16(cfg, cuda)
    model = GPT(cfg.model, generator=torch.Generator().manual_seed(0)).to(device)
    optimizer = torch.optim.AdamW(model.param_groups(cfg.weight_decay), lr=1e-4,
                                  **({"fused": True} if cuda else {}))
    use_compile = cfg.compile if cfg.compile is not None else cuda
    forward = torch.compile(model) if use_compile else model
    n_micro = cfg.batch_size // cfg.micro_batch_size
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        for _ in range(n_micro):
            chunk = torch.randint(0, cfg.model.vocab_size, (cfg.micro_batch_size, cfg.model.seq_len + 1),
                                  generator=generator).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = forward(chunk[:, :-1], chunk[:, 1:])
            (loss / n_micro).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
        return Peak(float(torch.cuda.max_memory_allocated(device)) - base,
                    float(torch.cuda.max_memory_reserved(device)) - base)
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024 - base
    return Peak(peak, peak)
