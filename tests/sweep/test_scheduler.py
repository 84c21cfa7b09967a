"""The time models of the dry run and of the progress ETA: a step's fixed cost and its cost per
token, split by probing one size at two batches; a run's seconds fitted to the runs trained."""

import time
from pathlib import Path

import pytest

from scaling.config import ModelConfig, TrainConfig
from scaling.sweep.backends import RunTask, SweepProgress
from scaling.sweep.dryrun import _batch_extremes, _step_cost, _Throughput

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


def test_the_eta_weighs_runs_by_their_fitted_seconds_not_their_flops():
    # a tune grid: small runs of many steps first, where seconds = 0.5 + 3 ms x steps + FLOPs / 1e10
    def seconds(steps, flops):
        return 0.5 + 3e-3 * steps + flops / 1e10

    trained = [(steps, flops, seconds(steps, flops)) for steps, flops in
               [(1000, 2e9), (250, 2e9), (62, 2e9), (1000, 5e9), (250, 5e9)]]
    left = {f"r{i}": run for i, run in enumerate([(1000, 3e10), (250, 3e10), (62, 3e10), (1000, 8e10)])}
    progress = SweepProgress(total=9, left=left, trained=trained)
    elapsed = sum(s for *_, s in trained)  # one worker, no gaps
    progress.started = time.monotonic() - elapsed
    truth = sum(seconds(*run) for run in left.values())
    assert progress.eta_s == pytest.approx(truth, rel=0.01)
    by_flops = elapsed * (progress.flops_total - progress.flops_done) / progress.flops_done
    assert by_flops > 2 * truth  # what FLOPs alone said
    few = SweepProgress(total=9, left=left, trained=trained[:2])  # 4e9 FLOPs trained
    few.started = time.monotonic() - elapsed
    assert few.eta_s == pytest.approx(elapsed * (few.flops_total - 4e9) / 4e9, rel=0.01)  # FLOPs until 4 runs end
