"""Loss curves from a fitted curve law (scaling.laws.momentum, scaling.laws.multipower): the rows
a run directory gives `fit_curves`, and `predict_curve`, the loss along a planned schedule or
along a run's own schedule, with the law's interval from the fit's bootstrap draws and, for a
run, how far its logged curve has drifted from the law and the law's held-out errors on it.
Whatever the law, its inputs come from a schedule and logged steps (`Law.curve_inputs`).

References:
    Tissue et al. 2024, arXiv:2408.11029; Luo et al. 2025, arXiv:2503.12811 (the laws, fitted on
    curves of one model);
    Efron & Tibshirani 1993, Ch. 13 (percentile interval over the draws).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from scaling.config import TrainConfig, count_steps, family_role
from scaling.flops import count_params
from scaling.document import Document
from scaling.laws.base import Array, Law
from scaling.laws.registry import get_law
from scaling.fit.engine import fit_curves
from scaling.fit.result import FitResult
from scaling.rundir.curve import curve_path, read_curve
from scaling.rundir.files import run_dirs
from scaling.rundir.record import run_config
from scaling.schedules import Schedule, parse_schedule, run_schedule

logger = logging.getLogger(__name__)

DRIFT_TOLERANCE = 0.01
"""A run drifts from the law when its last quarter of logged train losses sits, on average, more
than this relative gap from the law's curve (1%: the mean relative error docs/curves.md asks of
a curve law's prediction of a held-out run)."""
MAX_POINTS = 1000
"""Most points a predicted curve lists."""
DRAW_BLOCK_ELEMENTS = 1 << 22
"""Draws x input values a predicted curve's interval evaluates at once (32 MB per float array)."""


@dataclass(frozen=True, kw_only=True)
class CurvePoint:
    """The law's loss after `step` optimizer steps."""

    step: int
    loss: float
    """nats/token."""
    interval: list[float] | None
    """Percentile interval over the fit's bootstrap draws; None when the fit has none."""


@dataclass(frozen=True, kw_only=True)
class CurvePrediction(Document):
    """A curve law's loss along one schedule and, for a run, its logged curve against the law."""

    SCHEMA: ClassVar[str] = "scaling.CurvePrediction/2"
    OLD_SCHEMAS: ClassVar[tuple[str, ...]] = ("scaling.CurvePrediction/1",)
    """/1 lacks the held-out fields (final_step ... error_rows); they read back as None."""

    fit: str
    """The fit's label (law and data digest)."""
    schedule: str
    """The schedule's text form (scaling.schedules)."""
    steps: int
    peak_lr: float
    warmup_steps: int
    level: float
    points: list[CurvePoint]
    """Evenly spaced steps, the last one `steps`."""
    final_loss: float
    final_interval: list[float] | None
    run: str | None = None
    """The run directory whose schedule was predicted; None for a planned schedule."""
    observed_steps: int | None = None
    """The run's last logged step."""
    observed_loss: float | None = None
    """The run's last logged train loss (mean over its log interval)."""
    drift: float | None = None
    """Mean of logged / law - 1 over the last quarter of the run's logged rows."""
    drifting: bool = False
    """|drift| > DRIFT_TOLERANCE."""
    final_step: int | None = None
    """The run's observed final step: its last row of the split the law was fitted to."""
    final_split: str | None = None
    """"train" or "val": the split the law was fitted to, which every error here reads."""
    final_observed: float | None = None
    """The loss at the end (nats/token): the last val row; for train rows (each a log interval's
    mean, noisy at small batches) the mean of the rows over the run's last FINAL_SHARE of steps."""
    final_predicted: float | None = None
    """The law's loss there (over the same rows)."""
    final_error: float | None = None
    """final_predicted / final_observed - 1."""
    mean_relative_error: float | None = None
    """Mean of |law / logged - 1| over the run's logged rows of that split after warmup."""
    error_rows: int | None = None
    """How many rows `mean_relative_error` averages."""
    row_scatter: float | None = None
    """Train rows: mean of |logged / rolling mean - 1| over the same rows (a centred mean of SCATTER_ROWS rows):
    the noise of the logged rows themselves, which no law predicts; a mean relative error near it
    is as close as the rows allow."""
    notes: list[str]


def run_schedule_of(run_dir: Path, steps: int | None = None) -> tuple[str, Schedule]:
    """The run's id and its schedule (over `steps`, default its planned steps), from its config."""
    run_id, schedule, _ = _run_train_config(run_dir, steps)
    return run_id, schedule


def _run_train_config(run_dir: Path, steps: int | None = None) -> tuple[str, Schedule, TrainConfig]:
    config = run_config(run_dir)
    if not config:
        raise ValueError(f"{run_dir}: no config.json or record.json: not a run directory")
    try:
        cfg = TrainConfig.from_dict(config)
    except KeyError as exc:
        raise ValueError(f"{run_dir}: config is not a TrainConfig (no {exc})") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{run_dir}: config is not a TrainConfig ({exc})") from None
    if cfg.lr is None or cfg.warmup_steps is None or cfg.batch_size is None:
        raise ValueError(f"{run_dir}: config is not resolved (lr, warmup_steps or batch_size missing)")
    schedule = run_schedule(cfg.schedule, peak_lr=cfg.lr, steps=steps or count_steps(cfg),
                            warmup_steps=cfg.warmup_steps, min_lr_ratio=cfg.min_lr_ratio,
                            decay_fraction=cfg.decay_fraction)
    return str(config.get("run_id") or run_dir.name), schedule, cfg


def curve_rows(run_dir: Path, split: str = "train") -> pd.DataFrame:
    """A run's logged curve as rows `fit_curves` reads: run_id, step, loss and the run's schedule
    (the same `Schedule` on every row), whatever the law (ValueError naming the run directory
    when it has no config)."""
    run_id, schedule = run_schedule_of(Path(run_dir))
    table = read_curve(Path(run_dir), columns=("run_id", "step", "split", "loss")).to_pandas()
    table = table[(table["split"] == split) & (table["step"] >= 1) & (table["step"] <= schedule.steps)]
    return pd.DataFrame({"run_id": run_id, "step": table["step"].to_numpy(int),
                         "loss": table["loss"].to_numpy(float), "schedule": schedule})


FINAL_SHARE = 0.02
"""The last share of a run's steps whose train rows make its observed final loss."""
SCATTER_ROWS = 15
"""Rows in the rolling mean `row_scatter` measures the logged rows' noise against."""

MAX_CURVE_RUNS = 1000
"""Most run directories one curve fit reads (a curve law describes one model on one data set: a
handful of schedules, not a sweep)."""


def fit_run_curves(paths: list[Path], *, law: str = "momentum_curve", split: str = "train",
                   bootstrap: int = 0, level: float = 0.95, seed: int = 0) -> FitResult:
    """Fit a loss-curve law to the logged curves of run directories, each path a run directory
    or a sweep directory (its runs). The law describes one model on one data set (Tissue et al.
    2024), so every run must share the model shape and data; a ValueError names the one that
    does not, or a path that holds no run. A WSD sweep's branch fitted beside its stable run
    gives only its rows after the branch step (those before are its parent's, counted once)."""
    chosen: list[tuple[Path, bool]] = []  # (run directory, named by the user)
    for path in map(Path, paths):
        if not path.is_dir():
            raise ValueError(f"{path}: no such run or sweep directory")
        found = [(path, True)] if run_config(path) else [(d, False) for d in run_dirs(path)]
        if not found:
            raise ValueError(f"{path}: holds no run directory")
        chosen.extend(found)
    if len(chosen) > MAX_CURVE_RUNS:
        raise ValueError(f"{len(chosen)} runs: a curve fit reads at most {MAX_CURVE_RUNS} (one model's schedules)")
    first: tuple[Path, Any] | None = None
    frames, facts = [], []
    fitted_ids = {d.name for d, _ in chosen}  # a store names each run's directory by its id
    for run_dir, named in chosen:
        if not curve_path(run_dir).exists():
            if named:
                raise ValueError(f"{run_dir}: no curve.parquet (the run has logged nothing)")
            logger.warning("%s: no curve.parquet (the run has logged nothing): left out", run_dir)
            continue
        config = run_config(run_dir)
        key = (config.get("model"), config.get("data"))
        if first is None:
            first = (run_dir, key)
        elif key != first[1]:
            raise ValueError(f"{run_dir}: model or data differ from {first[0]}'s; a curve law is fitted "
                             "to runs of one model on one data set")
        rows = curve_rows(run_dir, split)
        family = family_role(config)
        # a cooldown branch beside its stable run: its rows up to the branch are the parent's
        if family["parent_run_id"] in fitted_ids and family["branch_step"] is not None:
            rows = rows[rows["step"] > family["branch_step"]]
        frames.append(rows)
        facts.append(run_facts(run_dir))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        raise ValueError(f"no logged {split} loss in {len(chosen)} run(s)")
    fit = fit_curves(law, rows, bootstrap=bootstrap, level=level, seed=seed)
    fit = replace(fit, options={**fit.options, "split": split})
    return replace(fit, options={**fit.options, "curve_runs": facts})


MAX_CURVE_STEPS = 10**8
"""Most optimizer steps a predicted curve may span: the schedule's areas are summed step by step
(several arrays of this length), and 1e8 steps is a hundred times a frontier run's."""


def predict_curve(fit: FitResult, *, schedule: str | None = None, steps: int | None = None,
                  peak_lr: float | None = None, warmup_steps: int = 0, run_dir: Path | None = None,
                  points: int = 10, level: float | None = None) -> CurvePrediction:
    """The loss `fit` (a curve law) predicts along `schedule` over `steps` at `peak_lr`, or along
    the schedule of the run in `run_dir` (its planned steps unless `steps`), with the run's
    logged curve compared against it. ValueError, one line, on bad input."""
    law = get_law(fit.law)
    if not law.curve:
        raise ValueError(f"{fit.label} ({fit.law}) is not a loss-curve law; predict-curve needs a "
                         "momentum_curve or multi_power_curve fit")
    if not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
        raise ValueError(f"points must be an integer from 1 to {MAX_POINTS}, got {points!r}")
    level = level or fit.level
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if steps is not None and not 1 <= steps <= MAX_CURVE_STEPS:  # the schedule is evaluated at every step
        raise ValueError(f"`steps` must be from 1 to {MAX_CURVE_STEPS:,}, got {steps!r}")
    if run_dir is not None:
        if schedule is not None or peak_lr is not None or warmup_steps:
            raise ValueError("give a run directory or a schedule (with its steps and peak LR), not both")
        run_id, planned = run_schedule_of(Path(run_dir), steps)
    else:
        if schedule is None or steps is None or peak_lr is None:
            raise ValueError("give a schedule with its steps and peak LR, or a run directory")
        planned = parse_schedule(schedule, peak_lr=peak_lr, steps=steps, warmup_steps=warmup_steps)
    marks = np.unique(np.linspace(planned.steps / points, planned.steps, points).round().astype(int).clip(1))
    loss, interval = _law_curve(fit, planned, marks, level)
    notes = [] if interval is not None else [f"no interval: {fit.label} has no bootstrap draws "
                                             "(fit with bootstrap over two or more curves)"]
    rows = [CurvePoint(step=int(s), loss=float(v), interval=None if interval is None else
                       [float(interval[0][i]), float(interval[1][i])]) for i, (s, v) in enumerate(zip(marks, loss))]
    observed: dict[str, Any] = {}
    if run_dir is not None:
        observed = _compare(fit, Path(run_dir), notes)
    return CurvePrediction(fit=fit.label, schedule=planned.to_text(), steps=planned.steps, peak_lr=planned.peak_lr,
                           warmup_steps=planned.warmup_steps, level=level, points=rows, final_loss=rows[-1].loss,
                           final_interval=rows[-1].interval, run=None if run_dir is None else str(run_dir),
                           notes=notes, **observed)


def _law_curve(fit: FitResult, schedule: Schedule, steps: Array,
               level: float) -> tuple[Array, tuple[Array, Array] | None]:
    """The law's loss at `steps` and its percentile interval over the fit's draws (None without)."""
    law = get_law(fit.law)
    inputs = law.curve_inputs(schedule, steps)
    loss = law.predict(fit.coefficients, **inputs)  # type: ignore[call-arg]
    if not fit.samples:
        return loss, None
    draws = {name: np.asarray(fit.samples[name], dtype=float)[:, None] for name in law.param_names}
    # Blocks of draws: a law with (rows, groups) inputs holds draws x rows x groups while predicting.
    size = max(1, DRAW_BLOCK_ELEMENTS // max(1, sum(v.size for v in inputs.values())))
    count = len(draws[law.param_names[0]])
    curves = np.concatenate([law.predict({k: v[i:i + size] for k, v in draws.items()}, **inputs)  # type: ignore[call-arg]
                             for i in range(0, count, size)])
    tail = 100 * (1 - level) / 2
    return loss, (np.percentile(curves, tail, axis=0), np.percentile(curves, 100 - tail, axis=0))


def _law_at(law: Law, fit: FitResult, rows: pd.DataFrame) -> Array:
    """The law's loss at the logged rows of one run (their `schedule` and `step`)."""
    schedule = rows["schedule"].iloc[0]
    return law.predict(fit.coefficients, **law.curve_inputs(schedule, rows["step"].to_numpy()))  # type: ignore[call-arg]


def _compare(fit: FitResult, run_dir: Path, notes: list[str]) -> dict[str, Any]:
    """The run's logged curve (under its own schedule) against the law: last logged step and
    loss, drift and its flag (train rows), and on the split the law was fitted to: the final loss
    observed against the law's, the law's mean relative error over the rows after warmup, and
    the rows' own scatter."""
    rows = curve_rows(run_dir)
    if rows.empty:
        notes.append(f"{run_dir}: no logged train rows yet: nothing to compare with the law")
        return {}
    law = get_law(fit.law)
    expected = _law_at(law, fit, rows)
    tail = slice(len(rows) - max(1, len(rows) // 4), None)
    drift = float(np.mean(rows["loss"].to_numpy()[tail] / expected[tail] - 1))
    drifting = abs(drift) > DRIFT_TOLERANCE
    if drifting:
        notes.append(f"drifting: the run's last {len(rows) - tail.start} logged losses sit {100 * drift:+.1f}% from the law "
                     f"(tolerance {100 * DRIFT_TOLERANCE:g}%): the estimated final loss is not reliable for this run")
    split = fit.options.get("split", "train")
    scored = rows if split == "train" else curve_rows(run_dir, split)
    after = (scored["step"] > scored["schedule"].iloc[0].warmup_steps).to_numpy() if len(scored) else np.array([])
    if not after.any():
        notes.append(f"{run_dir}: no logged {split} rows after warmup: no held-out errors")
        return {"observed_steps": int(rows["step"].iloc[-1]), "observed_loss": float(rows["loss"].iloc[-1]),
                "drift": drift, "drifting": drifting}
    scored = scored[after]
    law_there = _law_at(law, fit, scored)
    logged = scored["loss"].to_numpy()
    last = scored["step"].to_numpy() >= scored["step"].iloc[-1] * (1 - FINAL_SHARE) if split == "train" \
        else np.arange(len(scored)) == len(scored) - 1
    final_observed, final_predicted = float(logged[last].mean()), float(law_there[last].mean())
    errors = np.abs(law_there / logged - 1)
    smooth = pd.Series(logged).rolling(SCATTER_ROWS, center=True, min_periods=1).mean().to_numpy()
    return {"observed_steps": int(rows["step"].iloc[-1]), "observed_loss": float(rows["loss"].iloc[-1]),
            "drift": drift, "drifting": drifting, "final_step": int(scored["step"].iloc[-1]),
            "final_split": split, "final_observed": final_observed,
            "final_predicted": final_predicted, "final_error": final_predicted / final_observed - 1,
            "row_scatter": float(np.mean(np.abs(logged / smooth - 1))) if split == "train" else None,
            "mean_relative_error": float(errors.mean()), "error_rows": int(errors.size)}


def run_facts(run_dir: Path) -> dict[str, Any]:
    """What a curve fit keeps of each run it read (`options["curve_runs"]`), so a planner can put
    the law on a schedule of its own length: the run's schedule (text), steps, peak LR, warmup,
    batch tokens and total params. The law holds for that model at that peak LR, batch and
    warmup (Tissue et al. 2024 fit one model's curves)."""
    run_id, schedule, cfg = _run_train_config(Path(run_dir))
    return {"run_id": run_id, "schedule": schedule.to_text(), "steps": schedule.steps, "peak_lr": schedule.peak_lr,
            "warmup_steps": schedule.warmup_steps, "batch_tokens": int(cfg.batch_size * cfg.model.seq_len),  # type: ignore[operator]
            "params": int(count_params(cfg.model).total)}


def read_curve_fit(path: Path, option: str = "curve_fit") -> FitResult:
    """A loss-curve law's fit file (`scaling fit-curve --out`); ValueError, one line naming the
    option (`option` in backticks), when it is missing, not a fit file or not a curve law's."""
    try:
        fit = FitResult.read(path)
        predict_curve(fit, schedule="constant", steps=1, peak_lr=1.0, points=1)  # refuses another law's fit
    except ValueError as exc:
        raise ValueError(f"`{option}`: {exc}") from None
    return fit
