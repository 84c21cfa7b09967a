"""A run's estimated final loss while it trains (scaling.training.estimate): on synthetic rows of a
known curve law, when it starts, how often it refits, its budget, a constant-LR prefix, a curve
fit file with its drift flag; and on a tiny real run through the trainer."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scaling.config import ModelConfig, TrainConfig
from scaling.fit.curves import DRIFT_TOLERANCE, read_curve_fit, run_schedule_of
from scaling.fit.engine import fit_curves
from scaling.laws.momentum import MOMENTUM_CURVE, annealing_areas
from scaling.rundir.record import RunSink
from scaling.training.estimate import MIN_ROWS, FinalLossEstimator
from curve_world import SCHEDULES, synthetic_curve

TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}
STEPS, EVERY = 2000, 10
MODEL = ModelConfig(n_layer=2, d_model=32, n_head=4, seq_len=32, vocab_size=16)


def _run(tmp_path: Path, schedule: str, shift: float = 0.0, name: str = "run") -> tuple[RunSink, pd.DataFrame]:
    """A run directory of a 2000-step run on `schedule` whose curve is TRUTH's (times 1 + shift),
    every 10th step: its sink (nothing logged yet) and the rows it will log."""
    cfg = TrainConfig(model=MODEL, tokens=STEPS * 8 * 32, batch_size=8, lr=3e-3, warmup_steps=50, log_every=EVERY,
                      schedule=schedule, data="synthetic:markov")
    sink = RunSink(tmp_path / name, name)
    sink.run_dir.mkdir()
    sink.write_config(cfg)
    _, planned = run_schedule_of(sink.run_dir)
    area, annealing = annealing_areas(planned.lr_at(np.arange(STEPS)), planned.warmup_steps)
    steps = np.arange(EVERY, STEPS + 1, EVERY)
    loss = MOMENTUM_CURVE.predict(TRUTH, lr_area=area[steps - 1], lr_annealing=annealing[steps - 1]) * (1 + shift)
    return sink, pd.DataFrame({"step": steps, "loss": loss})


def _log(sink: RunSink, rows: pd.DataFrame, estimator: FinalLossEstimator,
         wall: Callable[[int], float] = lambda step: float(step)) -> list[tuple[int, object]]:
    """Log every row as the trainer does; (step, estimate) after each."""
    seen = []
    for step, loss in zip(rows.step, rows.loss):
        sink.append(step=int(step), tokens_seen=int(step) * 256, flops_seen=0.0, split="train", loss=float(loss),
                    lr=0.0, grad_norm=1.0, wall_s=wall(int(step)))
        seen.append((int(step), estimator.after_row(sink.run_dir, int(step), STEPS, wall(int(step)), sink.flush)))
    return seen


def _truth_final(rows: pd.DataFrame) -> float:
    return float(rows.loss.iloc[-1])


def test_the_own_curve_estimate_starts_at_a_quarter_and_lands_on_the_final_loss(tmp_path: Path) -> None:
    sink, rows = _run(tmp_path, "cosine")
    estimator = FinalLossEstimator(budget=1.0, refit_s=0.0)
    seen = _log(sink, rows, estimator)
    first = next(step for step, estimate in seen if estimate is not None)
    assert first == STEPS // 4 and first // EVERY >= MIN_ROWS  # 25% of the steps, 50 rows
    refits = sorted({e.step for _, e in seen if e is not None})  # type: ignore[attr-defined]
    assert np.diff(refits).min() >= 0.1 * STEPS  # at most every 10% of the run
    assert 6 <= estimator.refits <= 8
    estimate = seen[-1][1]
    assert estimate.source == "own curve" and estimate.interval is None  # type: ignore[attr-defined]
    assert estimate.loss == pytest.approx(_truth_final(rows), rel=2e-3)  # type: ignore[attr-defined]
    early = next(e for _, e in seen if e is not None)
    assert early.loss == pytest.approx(_truth_final(rows), rel=1e-2)  # type: ignore[attr-defined]
    line = estimator.closing_line(_truth_final(rows))
    assert line.startswith(f"final train loss {_truth_final(rows):.4f}; estimated ") and "estimate(s) took" in line


def test_refits_keep_to_the_wall_clock_and_the_budget(tmp_path: Path) -> None:
    sink, rows = _run(tmp_path, "cosine")
    # every refit "costs" 1 s of a clock that advances only inside refits
    ticks = iter(np.arange(0.0, 1000.0, 1.0))
    estimator = FinalLossEstimator(budget=0.02, clock=lambda: float(next(ticks)))
    seen = _log(sink, rows, estimator, wall=lambda step: step / 10)  # 200 s in all: 2% is 4 s
    assert estimator.spent_s <= 0.02 * 200
    # the budget, not the cadence (30 s, 10%: steps 500, 800, 1100, ...), spaces them: 1 s per 50 s
    assert sorted({e.step for _, e in seen if e is not None}) == [500, 1000, 1500, 2000]  # type: ignore[attr-defined]
    slow = FinalLossEstimator(budget=1.0, refit_s=60.0)
    sink, rows = _run(tmp_path, "cosine", name="slow")
    _log(sink, rows, slow, wall=lambda step: step / 10)
    assert slow.refits == 3  # at 50, 110 and 170 s: every 60 s of wall time, rarer than 10% (20 s)


def test_a_constant_lr_prefix_gives_no_own_estimate_until_the_decay(tmp_path: Path) -> None:
    sink, rows = _run(tmp_path, "wsd:cooldown_fraction=0.2")
    estimator = FinalLossEstimator(budget=1.0, refit_s=0.0)
    seen = _log(sink, rows.iloc[:150], estimator)
    assert "cannot identify the annealing term" in estimator.waiting
    seen += _log(sink, rows.iloc[150:], estimator)
    assert all(e is None for step, e in seen if step <= 0.8 * STEPS)  # the stable phase: S2 = 0 on every row
    assert seen[-1][1] is not None and seen[-1][1].loss == pytest.approx(_truth_final(rows), rel=1e-2)  # type: ignore[attr-defined]
    constant, rows = _run(tmp_path, "constant", name="constant")
    never = FinalLossEstimator(budget=1.0, refit_s=0.0)
    assert all(e is None for _, e in _log(constant, rows, never))
    assert "annealing term" in never.closing_line(_truth_final(rows))


@pytest.fixture(scope="module")
def curve_fit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    curves = pd.concat([synthetic_curve(f"run{i}", text, TRUTH) for i, text in enumerate(SCHEDULES * 2)])
    curves = curves.assign(loss=curves.loss * np.exp(rng.normal(0, 0.002, len(curves))))
    path = tmp_path_factory.mktemp("fit") / "curve-fit.json"
    path.write_text(fit_curves("momentum_curve", curves, bootstrap=20, n_jobs=1).to_json())
    return path


def test_a_curve_fit_estimates_from_the_first_row_and_flags_drift(tmp_path: Path, curve_fit_file: Path) -> None:
    fit = read_curve_fit(curve_fit_file)
    sink, rows = _run(tmp_path, "wsd:cooldown_fraction=0.2")  # a constant prefix: the fit file still answers
    estimator = FinalLossEstimator(fit, budget=1.0, refit_s=0.0)
    seen = _log(sink, rows, estimator)
    first = seen[0][1]
    assert first is not None and first.source == "fit" and first.interval is not None  # type: ignore[attr-defined]
    assert first.loss == pytest.approx(_truth_final(rows), rel=5e-3) and not first.drifting  # type: ignore[attr-defined]
    drifting, shifted = _run(tmp_path, "cosine", shift=0.05, name="shifted")
    late = _log(drifting, shifted, FinalLossEstimator(fit, budget=1.0, refit_s=0.0))[-1][1]
    assert late.drifting and late.drift > DRIFT_TOLERANCE  # type: ignore[attr-defined]


@pytest.mark.parametrize("content,message", [
    (None, "`curve_fit`: "),
    ("{not json", "`curve_fit`: "),
    ('{"schema": "scaling.Plan/2"}', "`curve_fit`: "),
])
def test_a_curve_fit_file_is_checked(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "fit.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_curve_fit(path)


def test_another_laws_fit_is_not_a_curve_fit(tmp_path: Path) -> None:
    chinchilla = Path(__file__).parent / "fixtures" / "fitresult_schema1_chinchilla.json"
    with pytest.raises(ValueError, match="`curve_fit`: .*not a loss-curve law"):
        read_curve_fit(chinchilla)


@pytest.mark.slow  # a real training run (2 s); the estimator's fast checks: the synthetic-row tests above
def test_a_tiny_real_run_shows_an_estimate(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="needs torch: pip install -e '.[train]'")
    from scaling.training.train import train

    cfg = TrainConfig(model=MODEL, tokens=240 * 8 * 32, data="synthetic:markov:seed=0,vocab=16,tokens=65536,chains=64",
                      device="cpu", batch_size=8, lr=1e-2, eval_tokens=1024, eval_points=2, log_every=1, threads=1)
    estimator = FinalLossEstimator(budget=1.0, refit_s=0.0)
    seen: list[object] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny corpus repeats
        record = train(cfg, tmp_path / "run", estimator=estimator, progress=lambda p: seen.append(p.estimate))
    assert record.status == "ok"
    assert all(e is None for e in seen[:59]) and seen[-1] is not None  # from 25% of 240 steps
    tail = pd.read_parquet(tmp_path / "run" / "curve.parquet").query("split == 'train'").loss.iloc[-24:].mean()
    assert seen[-1].loss == pytest.approx(tail, rel=0.05)  # type: ignore[attr-defined]
