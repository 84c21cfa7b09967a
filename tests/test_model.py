"""The GPT module: exact parameter counts, causality, documented initialisation."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch", reason="needs torch: pip install -e '.[train]'")
import torch

from scaling.config import ModelConfig
from scaling.flops import count_params
from scaling.training.model import GPT, INIT_STD

SHAPES = [
    ModelConfig(n_layer=1, d_model=8, n_head=1, seq_len=16, vocab_size=16),
    ModelConfig(n_layer=2, d_model=32, n_head=4, seq_len=32),
    ModelConfig(n_layer=3, d_model=48, n_head=6, d_ff=100, seq_len=64, tied_embeddings=False),
    ModelConfig(n_layer=3, d_model=24, n_head=3, seq_len=128, vocab_size=50257),
]


def _embedding_numel(model: GPT) -> int:
    head = model.lm_head.weight.numel() if model.lm_head is not None else 0
    return model.wte.weight.numel() + model.wpe.weight.numel() + head


@pytest.mark.parametrize("cfg", SHAPES, ids=lambda c: f"L{c.n_layer}d{c.d_model}tied{c.tied_embeddings}")
def test_numel_equals_counted_params(cfg: ModelConfig) -> None:
    model = GPT(cfg)
    counts = count_params(cfg)
    numel = sum(p.numel() for p in model.parameters())
    assert numel == counts.total
    assert numel - _embedding_numel(model) == counts.non_embedding


def test_gpt2_small_golden_count() -> None:
    # nanoGPT transformer_sizing.ipynb: GPT-2 small, bias-free, tied, position embeddings counted.
    cfg = ModelConfig(n_layer=12, d_model=768, n_head=12, seq_len=1024, vocab_size=50257)
    with torch.device("meta"):
        model = GPT(cfg)
    assert sum(p.numel() for p in model.parameters()) == 124_337_664 == count_params(cfg).total


def test_attention_is_causal() -> None:
    cfg = SHAPES[1]
    model = GPT(cfg, generator=torch.Generator().manual_seed(0))
    idx = torch.randint(0, cfg.vocab_size, (2, cfg.seq_len), generator=torch.Generator().manual_seed(1))
    changed = idx.clone()
    changed[:, 20:] = (changed[:, 20:] + 1) % cfg.vocab_size
    with torch.no_grad():
        a, b = model(idx), model(changed)
    assert a.shape == (2, cfg.seq_len, cfg.vocab_size)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def test_init_is_seeded_and_gpt2_scaled() -> None:
    cfg = ModelConfig(n_layer=4, d_model=128, n_head=4, seq_len=64)
    a = GPT(cfg, generator=torch.Generator().manual_seed(3))
    b = GPT(cfg, generator=torch.Generator().manual_seed(3))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    block = a.blocks[0]
    assert block.qkv.weight.std().item() == pytest.approx(INIT_STD, rel=0.05)
    assert block.mlp_proj.weight.std().item() == pytest.approx(INIT_STD / math.sqrt(2 * cfg.n_layer), rel=0.05)
    assert torch.equal(block.ln_1.weight, torch.ones(cfg.d_model))


def test_loss_at_init_is_near_uniform() -> None:
    cfg = ModelConfig(n_layer=2, d_model=32, n_head=4, seq_len=32, vocab_size=64)
    model = GPT(cfg, generator=torch.Generator().manual_seed(0))
    idx = torch.randint(0, 64, (4, 33), generator=torch.Generator().manual_seed(0))
    loss = model(idx[:, :-1], idx[:, 1:]).item()
    assert loss == pytest.approx(math.log(64), abs=0.1)


def test_weight_decay_groups_cover_every_parameter_once() -> None:
    model = GPT(SHAPES[2])
    groups = model.param_groups(0.1)
    grouped = [p for g in groups for p in g["params"]]  # type: ignore[union-attr]
    assert len(grouped) == len(list(model.parameters()))
    assert all(p.ndim == 1 for p in groups[1]["params"])  # type: ignore[union-attr]
