"""Width multipliers of the standard and maximal-update (muP) parametrizations: pure, no torch.

`scaling.training.model.GPT` reads every init scale, learning-rate multiplier, attention scale and logit
multiplier from here, so the one table below is the whole parametrization. Legend: d = d_model,
d_0 = base_width, m = d / d_0 (width multiplier), d_h = head size.

muP as in Yang et al. 2022 (Tensor Programs V, arXiv:2203.03466), Table 8 (the formulation the
`mup` library implements: output multiplier 1/fan_in instead of Table 3's 1/fan_in^2 output init),
for Adam, written relative to a base width d_0 at which muP equals the standard
parametrization (SP), so a learning rate tuned at d_0 carries to other widths:

    parameter kind                    init std          Adam LR          forward multiplier
    input (token and position         SP (0.02)         x 1              -
      embeddings, LayerNorm weights)
    hidden (QKV, attention output,    SP x sqrt(1/m)    x 1/m            -
      MLP in and out)                 (var ~ 1/fan_in)  (~ 1/fan_in)
    output (logit layer)              SP, or 0 untied   x 1              logits x 1/m
    attention logits                  -                 -                q.k x sqrt(d_0/d)/sqrt(d_h)
                                                                         (1/d_h scaling, Def. 4.1)

The logit layer tied to the token embedding (this project's default) keeps the embedding's init
and LR (input row) and takes the 1/m forward multiplier, as `mup`'s MuSharedReadout does; an
untied logit layer starts at zero (Tensor Programs V, App. D.2: zero readout init is optional and
helps). The attention scale is 1/sqrt(d_h) at d_0 and falls as 1/d_h when width grows at a fixed
number of heads. Weight decay is AdamW's decoupled lr * wd * w, so it scales with each group's
LR. Parameter counts do not depend on the parametrization.

References:
    Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
        Hyperparameter Transfer", arXiv:2203.03466, Table 3, Table 8, Def. 4.1, App. D.2.
    Radford et al. 2019 (GPT-2): SP init N(0, 0.02), attention 1/sqrt(d_h).
"""

from __future__ import annotations

import math

from scaling.config import ModelConfig

KINDS = ("input", "hidden", "output")


def width_mult(cfg: ModelConfig) -> float:
    """m = d_model / base_width under muP; 1 under the standard parametrization."""
    return cfg.d_model / cfg.base_width if cfg.parametrization == "mup" else 1.0


def init_std_mult(cfg: ModelConfig, kind: str) -> float:
    """Multiplier on the SP init std: 1/sqrt(m) for hidden matrices (variance 1/fan_in), else 1."""
    _check_kind(kind)
    return 1.0 / math.sqrt(width_mult(cfg)) if kind == "hidden" else 1.0


def lr_mult(cfg: ModelConfig, kind: str) -> float:
    """Multiplier on the peak Adam LR: 1/m for hidden matrices (Table 8, Adam LR 1/fan_in), else 1."""
    _check_kind(kind)
    return 1.0 / width_mult(cfg) if kind == "hidden" else 1.0


def logit_mult(cfg: ModelConfig) -> float:
    """Forward multiplier on the logits: 1/m (Table 8, output weights multiplier 1/fan_in)."""
    return 1.0 / width_mult(cfg)


def attention_scale(cfg: ModelConfig) -> float:
    """Scale of q.k: SP 1/sqrt(d_h); muP sqrt(d_0/d)/sqrt(d_h), i.e. 1/d_h at a fixed head count."""
    return 1.0 / math.sqrt(cfg.head_dim) / math.sqrt(width_mult(cfg))


def zero_readout(cfg: ModelConfig) -> bool:
    """Whether an untied logit layer starts at zero (muP only; a tied one is the embedding)."""
    return cfg.parametrization == "mup" and not cfg.tied_embeddings


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"parameter kind must be one of {', '.join(KINDS)}, got {kind!r}")
