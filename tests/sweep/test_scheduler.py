"""The dry run's time model: a step's fixed cost and its cost per token, split by probing one
size at two batches, and a run's seconds from them."""

from pathlib import Path

import pytest

from scaling.config import ModelConfig, TrainConfig
from scaling.sweep.backends import RunTask
from scaling.sweep.scheduler import _batch_extremes, _step_cost, _Throughput

MODEL = ModelConfig(n_layer=1, d_model=16, n_head=1, seq_len=32, vocab_size=256)
FLOPS_PER_TOKEN = 6 * 4_000.0


def task(batch_size: int, tokens: int = 64_000) -> RunTask:
    cfg = TrainConfig(model=MODEL, tokens=tokens, batch_size=batch_size, lr=1e-3, device="cpu")
    return RunTask(f"b{batch_size}", cfg, Path("unused"), flops=FLOPS_PER_TOKEN * tokens, params=4_000)


def test_two_batches_split_a_step_into_fixed_and_per_token_cost():
    fixed, token_rate = 2.5e-3, 1e6  # seconds per step; tokens per second beyond the fixed cost
    points = [(b, fixed + b / token_rate, FLOPS_PER_TOKEN) for b in (64.0, 1024.0)]
    got_fixed, flop_rate = _step_cost(points)
    assert got_fixed == pytest.approx(fixed)
    assert flop_rate == pytest.approx(FLOPS_PER_TOKEN * token_rate)


def test_one_batch_folds_the_fixed_cost_into_the_rate():
    assert _step_cost([(256.0, 0.01, 100.0), (256.0, 0.01, 100.0)]) == (0.0, pytest.approx(256.0 * 100.0 / 0.01))


def test_a_noisy_line_with_a_negative_intercept_falls_back():
    fixed, rate = _step_cost([(64.0, 0.001, 1.0), (1024.0, 0.1, 1.0)])
    assert fixed == 0.0 and rate > 0


def test_probe_copies_take_the_smallest_and_largest_batch_of_a_size():
    assert [t.config.batch_size for t in _batch_extremes([task(8), task(2), task(32), task(4)])] == [2, 32]
    assert [t.config.batch_size for t in _batch_extremes([task(8), task(8)])] == [8]


def test_a_small_batch_run_pays_its_steps_fixed_cost():
    throughput = _Throughput(sizes=[4_000.0], rates=[1e9], eval_s=[0.0], setup_s=0.0, first_s=0.0, startup_s=0.0,
                             step_s=[2e-3])
    small, large = task(2), task(32)  # 1,000 steps of 64 tokens; about 63 of 1,024
    flop_s = FLOPS_PER_TOKEN * 64_000.0 / 1e9
    assert throughput.seconds(small) == pytest.approx(flop_s + 1000 * 2e-3, abs=1e-4)  # + evaluations x 1e-6 s
    assert throughput.seconds(large) == pytest.approx(flop_s + 63 * 2e-3, rel=0.02)
    without = _Throughput(sizes=[4_000.0], rates=[1e9], eval_s=[0.0], setup_s=0.0, first_s=0.0, startup_s=0.0)
    assert without.seconds(small) == pytest.approx(flop_s, abs=1e-4)
