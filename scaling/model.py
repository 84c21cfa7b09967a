"""The GPT `nn.Module`: decoder-only, pre-norm, bias-free, causal SDPA attention.

Exactly the layout `scaling.flops.count_params` counts: token and learned position embeddings,
per block LayerNorm (weight only) -> fused QKV -> SDPA -> output projection, LayerNorm -> MLP
(d -> d_ff -> d, GELU), a final LayerNorm, and a logit layer tied to the token embedding unless
`tied_embeddings` is False. No file I/O, no logging.
Shapes: B batch, T sequence, C = d_model, H heads, V vocabulary.

References:
    Radford et al. 2019 (GPT-2): pre-norm blocks, init N(0, 0.02), residual projections scaled
        by 1/sqrt(2 n_layer).
    Karpathy, nanoGPT `model.py` (the layout, bias-free LayerNorm, weight tying).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scaling.config import ModelConfig

INIT_STD = 0.02
"""Std of every weight matrix and embedding at init (GPT-2; nanoGPT `_init_weights`)."""


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.attn_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.fc = nn.Linear(cfg.d_model, cfg.ff_width, bias=False)
        self.mlp_proj = nn.Linear(cfg.ff_width, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.mlp_proj(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    """Decoder-only Transformer of shape `cfg`; `forward(idx, targets)` gives the mean loss."""

    def __init__(self, cfg: ModelConfig, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=False)
        self.lm_head = None if cfg.tied_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.register_buffer("positions", torch.arange(cfg.seq_len), persistent=False)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """GPT-2 init: weights and embeddings N(0, 0.02); the two residual projections of each
        block N(0, 0.02 / sqrt(2 n_layer)) so the residual stream's variance does not grow with
        depth; LayerNorm weights 1. Drawn in parameter order from `generator`."""
        residual_std = INIT_STD / math.sqrt(2 * self.cfg.n_layer)
        for name, p in self.named_parameters():
            if p.ndim == 1:
                p.fill_(1.0)
            else:
                std = residual_std if name.endswith(("attn_proj.weight", "mlp_proj.weight")) else INIT_STD
                p.normal_(0.0, std, generator=generator)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy (nats/token) against `targets`, or logits (B, T, V) without them."""
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(self.positions[:T])
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        logits = self.lm_head(x) if self.lm_head is not None else F.linear(x, self.wte.weight)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))

    def param_groups(self, weight_decay: float) -> list[dict[str, object]]:
        """AdamW groups: decay matrices and embeddings, not LayerNorm weights (nanoGPT)."""
        params = list(self.parameters())
        return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
                {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
