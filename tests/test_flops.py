"""Parameter and FLOP accounting (scaling.flops) against published counts."""

import math
import time

import pytest

from scaling.config import ModelConfig
from scaling.flops import count_params, flops_6nd, flops_per_token, heads_for, suggest_shape, training_flops

GPT2_SMALL = ModelConfig(n_layer=12, d_model=768, n_head=12, seq_len=1024, vocab_size=50257)


def test_gpt2_small_total_matches_nanogpt():
    # nanoGPT transformer_sizing.ipynb: bias-free, LayerNorm weights only, learned positions,
    # tied embeddings -> 124,337,664 parameters.
    counts = count_params(GPT2_SMALL)
    assert counts.total == 124_337_664
    assert counts.embedding == 50257 * 768 + 1024 * 768
    assert counts.non_embedding == counts.total - counts.embedding


def test_kaplan_approximation_of_non_embedding():
    # Kaplan et al. 2020, Eq. 2.1: N ~ 12 n_layer d_model^2 (within the LayerNorm weights).
    counts = count_params(GPT2_SMALL)
    assert counts.non_embedding == pytest.approx(12 * 12 * 768**2, rel=1e-3)


def test_untied_adds_a_logit_matrix():
    untied = ModelConfig(n_layer=12, d_model=768, n_head=12, seq_len=1024, vocab_size=50257,
                         tied_embeddings=False)
    assert count_params(untied).total - count_params(GPT2_SMALL).total == 50257 * 768
    assert count_params(untied).non_embedding == count_params(GPT2_SMALL).non_embedding


def test_flop_methods():
    cfg = GPT2_SMALL
    counts = count_params(cfg)
    assert flops_per_token(cfg, "6ND") == 6 * counts.total
    assert flops_per_token(cfg, "6ND", params_convention="non-embedding") == 6 * counts.non_embedding
    # Kaplan et al. 2020, Eq. 2.2: 2N + 2 n_layer n_ctx d_model forward, times 3 for training.
    assert flops_per_token(cfg, "kaplan") == 6 * counts.non_embedding + 6 * 12 * 1024 * 768
    assert training_flops(cfg, 1e9) == pytest.approx(flops_6nd(counts.total, 1e9))
    with pytest.raises(ValueError, match="unknown FLOP counting method"):
        flops_per_token(cfg, "bogus")


def test_chinchilla_appf_by_hand():
    # Hoffmann et al. 2022 App. F, written out term by term for one small shape.
    cfg = ModelConfig(n_layer=2, d_model=64, n_head=4, seq_len=16, vocab_size=100)
    s, d, V, h, f = 16, 64, 100, 4, 256
    attention = 2 * 3 * s * d * d + 2 * s * s * d + 3 * h * s * s + 2 * s * s * d + 2 * s * d * d
    mlp = 2 * s * 2 * d * f
    forward = 2 * (attention + mlp) + 2 * s * V * d + 2 * s * d * V
    assert flops_per_token(cfg, "chinchilla_appF") == pytest.approx(3 * forward / s)
    forward_noembed = 2 * (attention + mlp)
    assert flops_per_token(cfg, "chinchilla_appF_noembed") == pytest.approx(3 * forward_noembed / s)


def test_appf_erratum_reading_reproduces_table_a4_ratio():
    # Hoffmann et al. 2022 Table A4: ratio of App. F FLOPs to 6ND near 1.03-1.10 for its models,
    # reproduced only without embedding/logit terms while N includes embeddings.
    cfg = ModelConfig(n_layer=10, d_model=640, n_head=10, seq_len=2048, vocab_size=32000)
    ratio = flops_per_token(cfg, "chinchilla_appF_noembed") / (6 * count_params(cfg).total)
    assert 0.95 < ratio < 1.15
    assert flops_per_token(cfg, "chinchilla_appF") / (6 * count_params(cfg).total) > 1.3


@pytest.mark.parametrize("target", [3e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10])
@pytest.mark.parametrize("vocab_size,seq_len", [(256, 256), (32000, 2048)])
def test_suggest_shape_within_five_percent(target, vocab_size, seq_len):
    if vocab_size * 64 > target:  # the embedding alone outgrows the target
        pytest.skip("target below the embedding size of this vocabulary")
    cfg = suggest_shape(target, vocab_size=vocab_size, seq_len=seq_len)
    assert count_params(cfg).total == pytest.approx(target, rel=0.05)
    assert cfg.d_model % cfg.n_head == 0


def test_suggest_shape_follows_aspect_ratio_at_scale():
    cfg = suggest_shape(1e9, vocab_size=32000, seq_len=2048)
    assert 32 <= cfg.d_model / cfg.n_layer <= 128


@pytest.mark.parametrize("d_model,heads", [(16, 1), (72, 1), (96, 2), (160, 2), (256, 4), (768, 12), (2432, 38)])
def test_heads_of_about_64(d_model, heads):
    # tiny widths get one wide head (fast on CPU); multiples of 64 keep GPT-2/3's heads of 64
    assert heads_for(d_model) == heads


def test_heads_search_every_divisor_and_stay_instant_at_any_width():
    # the rule's definition, by brute force over all divisors, against the bounded search
    def every_divisor(d_model):
        divisors = [h for h in range(1, d_model + 1) if d_model % h == 0]
        return min(divisors, key=lambda h: (round(abs(math.log(d_model / (h * 64))), 12), h))

    assert all(heads_for(d) == every_divisor(d) for d in range(1, 6000))
    start = time.perf_counter()
    assert heads_for(2**61) == 2**55 and heads_for(2**61 - 1) == 2**61 - 1  # a Mersenne prime: one-wide heads
    assert time.perf_counter() - start < 0.5


def test_shape_rule_heads_leave_counts_and_large_shapes_alone():
    cfg = suggest_shape(1e5)  # one head now; the count does not depend on heads
    assert (cfg.n_layer, cfg.d_model, cfg.n_head, count_params(cfg).total) == (1, 72, 1, 99288)
    big = suggest_shape(1e9, vocab_size=32000, seq_len=2048)
    assert big.head_dim == 64


def test_suggest_shape_non_embedding_convention():
    cfg = suggest_shape(1e8, vocab_size=50257, seq_len=1024, params_convention="non-embedding")
    assert count_params(cfg).non_embedding == pytest.approx(1e8, rel=0.05)


@pytest.mark.parametrize("bad", [0, -1, math.nan, math.inf])
def test_bad_targets_raise(bad):
    with pytest.raises(ValueError):
        suggest_shape(bad)


def test_model_config_validates():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(n_layer=1, d_model=30, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        ModelConfig(n_layer=0, d_model=32, n_head=4)
