"""Named training configs as functions: smoke tests, the CPU tiny family, a size
ladder, GPT-2 small.

References: Radford et al. 2019 (GPT-2 small: 12 layers, d_model 768, 12 heads, context 1024;
vocabulary padded to 50,304 as in nanoGPT); the CPU study's pilot (3 layers, head size 8, width
16-96 on byte-level text).
"""

from __future__ import annotations

import math
from dataclasses import replace

from scaling.config import ModelConfig, TrainConfig
from scaling.flops import suggest_shape


def cpu_smoke(data: str = "stdlib", *, seed: int = 0) -> TrainConfig:
    """2 layers, d_model 32, context 32, 30 steps of 8 sequences: seconds on one CPU core."""
    model = ModelConfig(n_layer=2, d_model=32, n_head=4, seq_len=32, vocab_size=256)
    return TrainConfig(model=model, tokens=30 * 8 * 32, data=data, seed=seed, device="cpu", batch_size=8,
                       eval_tokens=2048, eval_points=3, log_every=1, threads=1)


def cpu_tiny(d_model: int, tokens: int, *, n_layer: int = 3, head_size: int = 8, seq_len: int = 128,
             data: str = "stdlib", seed: int = 0) -> TrainConfig:
    """The fixed-depth family of the CPU IsoFLOP study (runs/cpu-isoflop): width d_model, heads of
    `head_size`, byte-level data, float32 on one thread; LR, batch and warmup by the rules."""
    if d_model % head_size:
        raise ValueError(f"d_model ({d_model}) must be a multiple of head_size ({head_size})")
    model = ModelConfig(n_layer=n_layer, d_model=d_model, n_head=d_model // head_size, seq_len=seq_len)
    return TrainConfig(model=model, tokens=tokens, data=data, seed=seed, device="cpu", threads=1)


def gpt2_small(tokens: int, *, data: str = "stdlib", seed: int = 0) -> TrainConfig:
    """GPT-2 small (124,373,760 parameters with the padded vocabulary) for GPU throughput
    checks; bf16, torch.compile and fused AdamW come with the CUDA defaults."""
    model = ModelConfig(n_layer=12, d_model=768, n_head=12, seq_len=1024, vocab_size=50304)
    return TrainConfig(model=model, tokens=tokens, data=data, seed=seed, device="cuda", batch_size=32,
                       micro_batch_size=16, lr=6e-4, warmup_steps=20, eval_tokens=2**16)


def size_ladder(smallest: float = 1e4, largest: float = 1e9, per_decade: int = 2, *,
                seq_len: int = 256, vocab_size: int = 256) -> list[ModelConfig]:
    """Shapes from `smallest` to `largest` total parameters, `per_decade` log-spaced sizes per
    decade, each realised by scaling.flops.suggest_shape."""
    if not 0 < smallest <= largest or per_decade < 1:
        raise ValueError("need 0 < smallest <= largest and per_decade >= 1")
    n = round(per_decade * math.log10(largest / smallest))
    targets = [smallest * (largest / smallest) ** (i / n) for i in range(n + 1)] if n else [smallest]
    return [suggest_shape(t, seq_len=seq_len, vocab_size=vocab_size) for t in targets]


def from_size(tokens: float, *, params: float | None = None, shape: str | None = None, seq_len: int = 256,
              vocab_size: int = 256, mup_base_width: int | None = None, **overrides: object) -> TrainConfig:
    """A TrainConfig for `scaling train`: the shape from a parameter target (via suggest_shape)
    or from "n_layer,d_model,n_head", muP relative to `mup_base_width` when given (scaling.training.mup);
    the rest from TrainConfig defaults and `overrides`."""
    if (params is None) == (shape is None):
        raise ValueError("give exactly one of params or shape")
    if shape is not None:
        try:
            n_layer, d_model, n_head = (int(x) for x in shape.split(","))
        except ValueError:
            raise ValueError(f"shape must be 'n_layer,d_model,n_head', got {shape!r}") from None
        model = ModelConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, seq_len=seq_len, vocab_size=vocab_size)
    else:
        assert params is not None
        model = suggest_shape(params, seq_len=seq_len, vocab_size=vocab_size)
    if mup_base_width is not None:
        model = replace(model, parametrization="mup", base_width=mup_base_width)
    if not (tokens >= 1 and math.isfinite(tokens)):
        raise ValueError(f"tokens must be at least 1, got {tokens!r}")
    return TrainConfig(model=model, tokens=round(tokens), **overrides)  # type: ignore[arg-type]
