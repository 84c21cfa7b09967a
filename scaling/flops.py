"""Parameter and FLOP accounting for GPT-style shapes: pure functions, no torch.

Legend: L = n_layer, d = d_model, f = d_ff, h = n_head, s = seq_len (context), V = vocab_size,
N = parameters, D = tokens, C = training FLOPs.

References:
    Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv:2001.08361, Eq. 2.1-2.2.
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, App. F (FLOP counting) and Table A4.
    nanoGPT `transformer_sizing.ipynb` (GPT-2 small, bias-free, tied: 124,337,664 parameters).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scaling.config import FLOPS_METHODS, ModelConfig


ASPECT_RATIO = 64
"""Target d_model / n_layer for `suggest_shape`. Kaplan et al. 2020, Fig. 5: at fixed N the loss
changes by only a few percent for aspect ratios from about 20 to 200; GPT-2 small (768/12) and
GPT-3 2.7B (2560/32) sit at 64-80, so 64 is the conventional middle."""

HEAD_SIZE = 64
"""Target attention head size of the shape rule (`heads_for`): heads of 64 as in GPT-2 and GPT-3
(Brown et al. 2020, Table 2.1, d_head 64 up to 1.3B). Kaplan et al. 2020, Fig. 5 (right): at
fixed N the loss depends only mildly on d_model / n_head. Heads of 8 at tiny widths made the
attention, not the matmuls, the cost on CPU: measured here (one thread, float32, context 256,
batch 8, `benchmarks/bench_train_cpu.py`), fewer, wider heads train 1.5-2x more tokens/s at 1e4-1e6
parameters. Trade-off: a model narrower than 64 has one head, so fewer attention patterns per
layer; widths of 256 and more (multiples of 64) keep d_model / 64 heads as before."""

MIN_FLOPS = 1e10
"""Smallest training budget planned for (a model of a few thousand parameters)."""
MAX_FLOPS = 1e40
"""Largest training budget planned for: about 1e15 times today's largest training runs."""


def positive_number(name: str, value: float) -> float:
    """`value` as a float; ValueError naming `name` unless it is positive and finite."""
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_budget(flops: float, name: str = "flops") -> float:
    """`flops` as a float; ValueError naming `name` unless it is within [MIN_FLOPS, MAX_FLOPS]."""
    if not (math.isfinite(flops) and MIN_FLOPS <= flops <= MAX_FLOPS):
        raise ValueError(f"`{name}` must be a positive finite number of FLOPs within the supported budgets, "
                         f"{MIN_FLOPS:g} to {MAX_FLOPS:g}; got {flops!r}")
    return float(flops)


@dataclass(frozen=True)
class ParamCount:
    """Parameter counts of one shape. `total` is Chinchilla's N; `non_embedding` is Kaplan's N."""

    total: int
    non_embedding: int
    embedding: int


def count_params(cfg: ModelConfig) -> ParamCount:
    """Exact parameter count of the nanoGPT-layout model `scaling.training.model.GPT` builds.

    No bias terms; LayerNorm weights only (2 per block plus a final one); learned position
    embeddings; the logit layer shares the token embedding when `tied_embeddings`.
        embedding     = V d + s d (+ V d untied logit layer)
        per block     = 4 d^2 (QKV and output) + 2 d f (MLP) + 2 d (LayerNorms)
        non_embedding = L * per block + d (final LayerNorm)
    Kaplan et al. 2020, Eq. 2.1 approximates non_embedding as 12 L d^2 (f = 4d, no norms).
    """
    d, f, V, s = cfg.d_model, cfg.ff_width, cfg.vocab_size, cfg.seq_len
    embedding = V * d + s * d + (0 if cfg.tied_embeddings else V * d)
    non_embedding = cfg.n_layer * (4 * d * d + 2 * d * f + 2 * d) + d
    return ParamCount(total=embedding + non_embedding, non_embedding=non_embedding, embedding=embedding)


def flops_6nd(params: float, tokens: float) -> float:
    """Training FLOPs C = 6 N D (Kaplan et al. 2020, Sec. 2.1; Hoffmann et al. 2022, Sec. 3)."""
    return 6.0 * params * tokens


def forward_flops_per_sequence_appf(cfg: ModelConfig, include_embeddings: bool = True) -> float:
    """Forward FLOPs of one sequence of length s, Hoffmann et al. 2022 (Chinchilla), App. F.

        embeddings  2 s V d
        attention   per layer: QKV 2*3 s d (k h), logits 2 s^2 (k h), softmax 3 h s^2,
                    softmax@V 2 s^2 (k h), output 2 s (k h) d        (k h = d here)
        MLP         per layer: 2 s (2 d f)
        logits      2 s d V
    Erratum (Hoffmann et al. 2022, App. F): the paper's Table A4 ratios to 6ND reproduce only when
    the embedding and logit terms are left out while N still includes embeddings; pass
    include_embeddings=False for that reading.
    """
    d, f, V, s, h, L = cfg.d_model, cfg.ff_width, cfg.vocab_size, cfg.seq_len, cfg.n_head, cfg.n_layer
    kh = d
    attention = 2 * 3 * s * d * kh + 2 * s * s * kh + 3 * h * s * s + 2 * s * s * kh + 2 * s * kh * d
    mlp = 2 * s * (2 * d * f)
    total = L * (attention + mlp)
    if include_embeddings:
        total += 2 * s * V * d + 2 * s * d * V
    return float(total)


def flops_per_token(cfg: ModelConfig, method: str = "6ND", params_convention: str = "total") -> float:
    """Training FLOPs per token (forward + backward = 3 x forward) under a named method.

    "6ND"                      6 N, N = total (or non-embedding) parameters.
    "kaplan"                   Kaplan et al. 2020, Eq. 2.2: forward 2 N + 2 L s d with N
                               non-embedding, so training 6 N + 6 L s d.
    "chinchilla_appF"          Hoffmann et al. 2022, App. F, embeddings and logits counted.
    "chinchilla_appF_noembed"  the same without embedding and logit terms (the Table A4 reading).
    "deepseek_md"              DeepSeek-AI 2024, Sec. 3.1: M = 72 L d^2 + 12 L d s (non-embedding,
                               attention counted), the C = M D its hyperparameter laws take.
    """
    if method == "6ND":
        counts = count_params(cfg)
        n = counts.total if params_convention == "total" else _non_embedding(counts, params_convention)
        return 6.0 * n
    if method == "kaplan":
        return 6.0 * count_params(cfg).non_embedding + 6.0 * cfg.n_layer * cfg.seq_len * cfg.d_model
    if method in ("chinchilla_appF", "chinchilla_appF_noembed"):
        forward = forward_flops_per_sequence_appf(cfg, include_embeddings=method == "chinchilla_appF")
        return 3.0 * forward / cfg.seq_len
    if method == "deepseek_md":
        return 72.0 * cfg.n_layer * cfg.d_model**2 + 12.0 * cfg.n_layer * cfg.d_model * cfg.seq_len
    raise ValueError(f"unknown FLOP counting method {method!r}; expected one of {', '.join(FLOPS_METHODS)}")


def mfu_flops_per_token(cfg: ModelConfig) -> float:
    """Training FLOPs per token in the units MFU is quoted in (nanoGPT, PaLM): 6 N + 12 L H Q T.

    Chowdhery et al. 2022 (PaLM), App. B: 6 N + 12 L H Q T, H heads of dimension Q (H Q = d),
    T = seq_len; N counts the parameters that do matmuls, so the embedding lookups are left out:
    the position embedding, and the token embedding when the logit layer is untied (a tied one
    is the logit matmul). nanoGPT's `estimate_mfu` is this formula with N =
    `get_num_params()` (position embedding subtracted, tied token embedding kept). Hoffmann et
    al.'s App. F count books the lookup as a matmul too: 1.27x this at GPT-2 small.
    """
    counts = count_params(cfg)
    lookups = cfg.seq_len * cfg.d_model + (0 if cfg.tied_embeddings else cfg.vocab_size * cfg.d_model)
    return 6.0 * (counts.total - lookups) + 12.0 * cfg.n_layer * cfg.d_model * cfg.seq_len


def _non_embedding(counts: ParamCount, params_convention: str) -> int:
    if params_convention != "non-embedding":
        raise ValueError(f"params_convention must be 'total' or 'non-embedding', got {params_convention!r}")
    return counts.non_embedding


def training_flops(cfg: ModelConfig, tokens: float, method: str = "6ND") -> float:
    """Total training FLOPs for `tokens` tokens under `method` (see `flops_per_token`)."""
    return flops_per_token(cfg, method) * positive_number("tokens", tokens)


def suggest_shape(
    target_params: float,
    *,
    vocab_size: int = 256,
    seq_len: int = 256,
    tied_embeddings: bool = True,
    params_convention: str = "total",
    aspect_ratio: float = ASPECT_RATIO,
    tolerance: float = 0.05,
) -> ModelConfig:
    """A realisable shape whose exact count is within `tolerance` of `target_params`.

    Rule: d_model is a multiple of 64 from 256 up, else of 8; n_head = `heads_for(d_model)` (heads
    of about HEAD_SIZE); d_ff = 4 d_model, and among the shapes whose count is within `tolerance` of the
    target, the one whose d_model / n_layer is closest (in log) to `aspect_ratio` wins; at tiny
    sizes, where the embeddings alone approach the target, the closest count wins instead.
    Shapes narrower than 4 d_model per layer are never proposed.
    `params_convention` says whether `target_params` counts embeddings ("total", Chinchilla) or
    not ("non-embedding", Kaplan).
    """
    positive_number("target_params", target_params)
    if params_convention not in ("total", "non-embedding"):
        raise ValueError(f"params_convention must be 'total' or 'non-embedding', got {params_convention!r}")
    # Counts are computed arithmetically here (as in count_params, d_ff = 4 d) rather than by
    # building a ModelConfig per candidate: planning calls this once per law and must be instant.
    embedding_rows = vocab_size + seq_len + (0 if tied_embeddings else vocab_size)
    best: tuple[tuple[int, float], int, int] | None = None
    for n_layer in range(1, 257):
        for d_model in _widths_near_target(target_params, n_layer, embedding_rows, params_convention):
            if d_model < 4 * n_layer:  # deeper than 4 layers per 1 of width: degenerate, skip
                continue
            non_embedding = n_layer * (12 * d_model * d_model + 2 * d_model) + d_model
            count = non_embedding + (embedding_rows * d_model if params_convention == "total" else 0)
            error = abs(count / target_params - 1.0)
            aspect_miss = abs(math.log(d_model / (n_layer * aspect_ratio)))
            key = (0, aspect_miss) if error <= tolerance else (1, error)
            if best is None or key < best[0]:
                best = (key, n_layer, d_model)
    assert best is not None
    _, n_layer, d_model = best
    return ModelConfig(n_layer=n_layer, d_model=d_model, n_head=heads_for(d_model),
                       seq_len=seq_len, vocab_size=vocab_size, tied_embeddings=tied_embeddings)


def _widths_near_target(target: float, n_layer: int, embedding_rows: int, convention: str) -> set[int]:
    """The two head-size-aligned widths bracketing the continuous solution for this depth."""
    # count(d) = 12 L d^2 + (2 L + 1 + e) d, with e the embedding rows when counting totals.
    a = 12.0 * n_layer
    b = 2.0 * n_layer + 1 + (embedding_rows if convention == "total" else 0)
    d_exact = (-b + math.sqrt(b * b + 4 * a * target)) / (2 * a)
    return {_align(d_exact, math.floor), _align(d_exact, math.ceil)}


def heads_for(d_model: int) -> int:
    """Attention heads of the shape rule: the divisor h of d_model whose head size d_model / h is
    closest (in log) to HEAD_SIZE, fewer heads on a tie. d_model 16 -> 1 head, 72 -> 1, 96 -> 2
    (of 48), 160 -> 2 (of 80), any multiple of 64 -> d_model / 64 (GPT-2/3's heads of 64)."""
    positive_number("d_model", d_model)
    # Search head sizes, not head counts: one head (size d_model) misses HEAD_SIZE by at most
    # log(d_model / HEAD_SIZE), and a head size above HEAD_SIZE**2 misses by more than a head size
    # of 1 does, so no head size past HEAD_SIZE**2 can win: at most 4096 candidates, any width.
    sizes = [g for g in range(1, min(d_model, HEAD_SIZE * HEAD_SIZE) + 1) if d_model % g == 0]
    heads = [d_model // g for g in sizes] + [1]
    return min(heads, key=lambda h: (round(abs(math.log(d_model / (h * HEAD_SIZE))), 12), h))


def _width_step(d_model: int) -> int:
    """Widths are multiples of 64 (whole heads of 64) from 256 up, else of 8."""
    return 64 if d_model >= 256 else 8


def _align(width: float, rounding: Callable[[float], int]) -> int:
    step = _width_step(int(width))
    return max(8, int(rounding(width / step)) * step)
