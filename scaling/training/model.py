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

from scaling.training import mup
from scaling.config import ModelConfig

INIT_STD = 0.02
"""Std of every weight matrix and embedding at init (GPT-2; nanoGPT `_init_weights`)."""


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.attention_scale = mup.attention_scale(cfg)
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=False)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.attn_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=False)
        self.fc = nn.Linear(cfg.d_model, cfg.ff_width, bias=False)
        self.mlp_proj = nn.Linear(cfg.ff_width, cfg.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln_1(x)).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.attention_scale)
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

    @staticmethod
    def kind(name: str) -> str:
        """A parameter's kind for the parametrization (scaling.training.mup): input, hidden or output."""
        if name.startswith("blocks.") and name.endswith(("qkv.weight", "attn_proj.weight", "fc.weight",
                                                        "mlp_proj.weight")):
            return "hidden"
        return "output" if name.startswith("lm_head.") else "input"

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """GPT-2 init: weights and embeddings N(0, 0.02); the two residual projections of each
        block N(0, 0.02 / sqrt(2 n_layer)) so the residual stream's variance does not grow with
        depth; LayerNorm weights 1; times scaling.training.mup.init_std_mult (muP: hidden matrices
        1/sqrt(m); an untied logit layer zero). Drawn in parameter order from `generator`."""
        residual_std = INIT_STD / math.sqrt(2 * self.cfg.n_layer)
        for name, p in self.named_parameters():
            if p.ndim == 1:
                p.fill_(1.0)
            elif self.kind(name) == "output" and mup.zero_readout(self.cfg):
                p.zero_()
            else:
                std = residual_std if name.endswith(("attn_proj.weight", "mlp_proj.weight")) else INIT_STD
                p.normal_(0.0, std * mup.init_std_mult(self.cfg, self.kind(name)), generator=generator)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy (nats/token) against `targets`, or logits (B, T, V) without them."""
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(self.positions[:T])
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        if self.cfg.parametrization == "mup":
            x = x * mup.logit_mult(self.cfg)  # on the (smaller) input of the logit layer: same logits
        logits = self.lm_head(x) if self.lm_head is not None else F.linear(x, self.wte.weight)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))

    def param_groups(self, weight_decay: float) -> list[dict[str, object]]:
        """AdamW groups: decay matrices and embeddings, not LayerNorm weights (nanoGPT); each
        group's `lr_mult` (scaling.training.mup.lr_mult: muP hidden matrices 1/m, else 1) multiplies the
        scheduled LR. Standard models keep nanoGPT's two groups."""
        groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
        for name, p in self.named_parameters():
            groups.setdefault((p.ndim >= 2, mup.lr_mult(self.cfg, self.kind(name))), []).append(p)
        return [{"params": params, "weight_decay": weight_decay if decay else 0.0, "lr_mult": mult}
                for (decay, mult), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], -kv[0][1]))]
