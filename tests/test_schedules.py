"""LR schedules as data: the cosine and WSD of the trainer reproduced to the bit, WSD's cooldown
shapes, DeepSeek's steps, the text form's one-line errors, and committed runs keeping their ids."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scaling.config import TrainConfig
from scaling.schedules import Schedule, parse_schedule
from scaling.training.hyperparams import lr_at, run_id

RUNS = Path(__file__).parent.parent / "runs"


def trainer_lr(step: int, peak: float, warmup: int, steps: int, kind: str, floor_ratio: float = 0.1,
               decay_fraction: float = 0.2) -> float:
    """The trainer's scalar schedule as it was written before schedules became data (the truth
    the vectorised form must reproduce exactly, so resumed runs continue on the same LRs)."""
    floor = floor_ratio * peak
    if step < warmup:
        return peak * (step + 1) / warmup
    if kind == "cosine":
        progress = (step + 1 - warmup) / max(1, steps - warmup)
        return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    start = max(warmup, steps - round(decay_fraction * steps))
    if step < start:
        return peak
    return peak + (floor - peak) * min(1.0, (step + 1 - start) / max(1, steps - start))


@pytest.mark.parametrize("kind", ["cosine", "wsd"])
@pytest.mark.parametrize("steps,warmup", [(1, 0), (7, 1), (100, 25), (1000, 0), (1234, 300), (50, 50)])
def test_cosine_and_wsd_reproduce_the_trainer_exactly(kind: str, steps: int, warmup: int) -> None:
    schedule = Schedule(kind=kind, peak_lr=0.035355339059327376, steps=steps, warmup_steps=warmup)
    truth = [trainer_lr(s, 0.035355339059327376, warmup, steps, kind) for s in range(steps)]
    assert schedule.lr_at(np.arange(steps)).tolist() == truth
    assert [float(schedule.lr_at(s)) for s in range(steps)] == truth


def test_wsd_cooldown_shapes_follow_hagele() -> None:
    # Hagele et al. 2024, Sec. 3: stable at the peak, then (1 - t) or (1 - sqrt t) of the way to the floor.
    linear = parse_schedule("wsd:cooldown_fraction=0.25,min_lr_ratio=0", peak_lr=2.0, steps=100)
    root = parse_schedule("wsd:cooldown_fraction=0.25,cooldown_shape=1-sqrt,min_lr_ratio=0", peak_lr=2.0, steps=100)
    assert linear.cooldown_start == 75
    assert linear.lr_at(74) == 2.0 and root.lr_at(74) == 2.0
    t = (np.arange(75, 100) + 1 - 75) / 25
    assert linear.lr_at(np.arange(75, 100)) == pytest.approx(2.0 * (1 - t))
    assert root.lr_at(np.arange(75, 100)) == pytest.approx(2.0 * (1 - np.sqrt(t)))
    assert root.lr_at(99) == 0.0 and root.lr_at(80) < linear.lr_at(80)


def test_stepped_is_deepseeks_multi_step() -> None:
    # DeepSeek LLM Sec. 2.3: 31.6% of the maximum after 80% of the tokens, 10% after 90%.
    schedule = parse_schedule("stepped", peak_lr=1e-3, steps=1000, warmup_steps=10)
    lrs = schedule.lr_at(np.arange(1000))
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == 1e-3
    assert set(lrs[10:800]) == {1e-3}
    assert set(lrs[800:900]) == {1e-3 * 0.316} and set(lrs[900:]) == {1e-3 * 0.1}


def test_constant_and_the_text_form_round_trips() -> None:
    assert set(parse_schedule("constant", peak_lr=0.5, steps=20, warmup_steps=4).lr_at(np.arange(4, 20))) == {0.5}
    for text in ("cosine:min_lr_ratio=0.05", "wsd:cooldown_fraction=0.1,cooldown_shape=1-sqrt,min_lr_ratio=0.0",
                 "stepped:milestones=0.5/0.75,factors=0.5/0.25", "constant"):
        schedule = parse_schedule(text, peak_lr=1.0, steps=40)
        assert parse_schedule(schedule.to_text(), peak_lr=1.0, steps=40) == schedule


@pytest.mark.parametrize("text,message", [
    ("", "schedule must be text"),
    ("linear", "schedule.kind must be one of cosine, wsd, stepped, constant, got 'linear'"),
    ("wsd:", "schedule: nothing after ':'"),
    ("wsd:warmup=3", "schedule: unknown field 'warmup' for wsd"),
    ("constant:min_lr_ratio=0", "schedule: unknown field 'min_lr_ratio' for constant (known: none)"),
    ("wsd:cooldown_fraction=lots", "schedule.cooldown_fraction must be a number"),
    ("wsd:cooldown_fraction=0", "schedule.cooldown_fraction must be in (0, 1]"),
    ("wsd:cooldown_fraction=0.1,cooldown_fraction=0.2", "schedule.cooldown_fraction given twice"),
    ("wsd:cooldown_shape=cosine", "schedule.cooldown_shape must be one of linear, 1-sqrt"),
    ("cosine:min_lr_ratio=inf", "schedule.min_lr_ratio must be finite"),
    ("stepped:milestones=0.9/0.8", "schedule.milestones must be increasing"),
    ("stepped:factors=0.3", "schedule.factors must be 2 positive numbers"),
    ("wsd:cooldown_shape", "schedule: expected field=value"),
])
def test_bad_text_is_one_line_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_schedule(text, peak_lr=1.0, steps=10)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    if text:
        with pytest.raises(ValueError, match="schedule"):
            TrainConfig.from_dict({"model": {"n_layer": 1, "d_model": 8, "n_head": 1, "seq_len": 8,
                                             "vocab_size": 16}, "tokens": 1000, "schedule": text})


def test_the_trainer_takes_its_lr_from_the_schedule() -> None:
    config = {"model": {"n_layer": 1, "d_model": 8, "n_head": 1, "seq_len": 8, "vocab_size": 16},
              "tokens": 8 * 4 * 100, "batch_size": 4, "lr": 1e-2, "warmup_steps": 5}
    wsd = TrainConfig.from_dict({**config, "schedule": "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.5"})
    expected = parse_schedule("wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.5", peak_lr=1e-2, steps=100,
                              warmup_steps=5).lr_at(np.arange(100))
    assert [lr_at(s, wsd, 100) for s in range(100)] == expected.tolist()
    legacy = TrainConfig.from_dict({**config, "schedule": "wsd", "decay_fraction": 0.3, "min_lr_ratio": 0.05})
    assert [lr_at(s, legacy, 100) for s in range(100)] == [
        trainer_lr(s, 1e-2, 5, 100, "wsd", 0.05, 0.3) for s in range(100)]


def test_committed_runs_keep_their_ids() -> None:
    # Every run a sweep trained (its directory named by the id its config.json records; the tuning
    # pilot's directories are named by hand, from older rules) hashes to that id today.
    documents = [(path, json.loads(path.read_text())) for path in sorted(RUNS.glob("*/*/config.json"))]
    swept = [(path, document) for path, document in documents if document["run_id"] == path.parent.name]
    assert len(swept) > 20
    for path, document in swept:
        assert run_id(TrainConfig.from_dict(document["config"])) == document["run_id"], path
