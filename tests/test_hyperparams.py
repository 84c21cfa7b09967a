"""Hyperparameter rules and LR schedules (pure functions)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scaling.config import ModelConfig, TrainConfig
from scaling.training.hyperparams import (count_steps, deepseek_batch_tokens, deepseek_lr, eval_steps, lr_at, resolve,
                              rule_batch_size)

MODEL = ModelConfig(n_layer=3, d_model=32, n_head=4, seq_len=64)


def test_deepseek_laws_at_a_known_budget() -> None:
    # DeepSeek-AI 2024, Sec. 3.1: eta = 0.3118 C^-0.125, B = 0.2920 C^0.3271 (C = 1e20 by hand).
    assert deepseek_lr(1e20) == pytest.approx(0.3118 * 10 ** -2.5)
    assert deepseek_batch_tokens(1e20) == pytest.approx(0.2920 * 10 ** 6.542)


def test_batch_rule_keeps_the_step_floor() -> None:
    cfg = TrainConfig(model=MODEL, tokens=2_000_000, min_steps=1000)
    batch_size = rule_batch_size(cfg)
    assert batch_size >= 1
    assert count_steps(replace(cfg, batch_size=batch_size)) >= 1000
    large = TrainConfig(model=MODEL, tokens=10**10, min_steps=1000)
    assert rule_batch_size(large) == round(deepseek_batch_tokens(
        (72 * 3 * 32**2 + 12 * 3 * 32 * 64) * 10**10) / 64)  # the floor does not bind


def test_resolve_fills_every_rule_and_keeps_overrides() -> None:
    cfg = resolve(TrainConfig(model=MODEL, tokens=1_000_000))
    assert None not in (cfg.lr, cfg.batch_size, cfg.warmup_steps, cfg.micro_batch_size, cfg.log_every)
    assert cfg.lr == pytest.approx(0.05 / 32**0.5)
    fixed = resolve(TrainConfig(model=MODEL, tokens=1_000_000, lr=1e-3, batch_size=4, warmup_steps=7))
    assert (fixed.lr, fixed.batch_size, fixed.warmup_steps) == (1e-3, 4, 7)
    assert resolve(cfg) == cfg


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_schedule_warms_up_then_ends_at_min_lr(schedule: str) -> None:
    cfg = resolve(TrainConfig(model=MODEL, tokens=64 * 4 * 200, batch_size=4, lr=1e-2, warmup_steps=10,
                              schedule=schedule))
    steps = count_steps(cfg)
    lrs = [lr_at(s, cfg, steps) for s in range(steps)]
    assert steps == 200
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-2)
    assert lrs[-1] == pytest.approx(1e-3)  # 10% of the peak exactly at the budget
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    if schedule == "wsd":
        assert lrs[150] == pytest.approx(1e-2) and lrs[170] < 1e-2


def test_eval_steps_are_log_spaced_and_end_at_the_budget() -> None:
    marks = eval_steps(1000, 3)
    assert marks == [10, 100, 1000]
    assert eval_steps(5, 8)[-1] == 5
