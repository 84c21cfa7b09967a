"""Model shapes as frozen, validated dataclasses.

`ModelConfig` is the one description of a GPT-style Transformer's shape. Parameter and FLOP
counts (`scaling.flops`) and the PyTorch model (`scaling.model`) both read it, so the counted
and the built model cannot drift apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Shape of a decoder-only, pre-norm Transformer (nanoGPT layout, no bias terms)."""

    n_layer: int
    """Transformer blocks."""
    d_model: int
    """Residual stream width."""
    n_head: int
    """Attention heads; d_model must be divisible by n_head."""
    d_ff: int | None = None
    """MLP hidden width; None means 4 * d_model."""
    seq_len: int = 256
    """Context length (learned position embeddings of this length are counted)."""
    vocab_size: int = 256
    """Vocabulary size (256 for the byte-level tokenizer)."""
    tied_embeddings: bool = True
    """Share the token embedding with the output (logit) layer."""

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "seq_len", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or self.d_ff < 1):
            raise ValueError(f"d_ff must be a positive integer or None, got {self.d_ff!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")

    @property
    def ff_width(self) -> int:
        """The MLP hidden width actually used (d_ff, or 4 * d_model by default)."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
