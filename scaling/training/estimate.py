"""A training run's estimated final loss while it trains, for the progress line of `scaling train`:
the curve law fitted to the run's own logged train rows so far (scaling.fit.curves, through the
one engine), or a given curve fit along the run's schedule with the run's drift from it. Refits
are rationed so that fitting never stalls training noticeably.

A constant-LR prefix cannot identify the annealing term of a curve law (its annealing area is
zero on every logged row), so a run's own curve gives no estimate before its LR starts to decay
(a WSD run's cooldown, a stepped run's first drop): only a fit file does.

References:
    Tissue et al. 2024, arXiv:2408.11029, Sec. 4 (a curve law fitted on part of a curve predicts
    the rest of it under the run's schedule).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scaling.fit.curves import fit_run_curves, predict_curve, run_schedule_of
from scaling.fit.result import FitResult

log = logging.getLogger(__name__)

MIN_FRACTION = 0.25
"""A run's own curve is fitted once this fraction of its steps is logged."""
MIN_ROWS = 50
"""...and at least this many train rows."""
REFIT_FRACTION = 0.10
"""Refit at most every this fraction of the run's steps..."""
REFIT_S = 30.0
"""...and at most every this many seconds of wall time (whichever is rarer)."""
BUDGET = 0.02
"""Most of the run's elapsed wall time that estimating may take: a refit is skipped while the
time spent so far plus the last refit's cost would pass it."""
FIRST_COST_S = 0.3
"""The cost assumed for the first refit, before one is timed (a fit of ~500 rows on one core)."""


@dataclass(frozen=True, kw_only=True)
class FinalEstimate:
    """The run's loss after its last step, as estimated at `step`."""

    step: int
    """The logged step the estimate was made at."""
    loss: float
    """Estimated final train loss, nats/token."""
    interval: tuple[float, float] | None
    """The fit's interval on it (a fit file with bootstrap draws); None otherwise."""
    source: str
    """"own curve" (the law fitted to this run's rows so far) or "fit" (the --curve-fit file)."""
    drift: float | None = None
    """With a fit file: mean of logged / law - 1 over the last quarter of the logged rows."""
    drifting: bool = False
    """|drift| past scaling.fit.curves.DRIFT_TOLERANCE: the fit's estimate is not reliable here."""


class FinalLossEstimator:
    """Estimates a run's final loss as it trains: `after_row` after each logged train row.

    Without `fit`, the curve law is fitted to the run's own rows once MIN_FRACTION of its steps
    and MIN_ROWS rows are logged and its LR has started to decay; with `fit` (a curve law's
    FitResult, read with scaling.fit.curves.read_curve_fit), the estimate is the fit along the run's
    schedule from the first logged row.
    Refits come at most every REFIT_FRACTION of the run and REFIT_S seconds, whichever is rarer,
    and only while estimating has taken under `budget` of the elapsed wall time.
    """

    def __init__(self, fit: FitResult | None = None, *, budget: float = BUDGET, refit_s: float = REFIT_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.fit, self.budget, self.refit_s, self.clock = fit, budget, refit_s, clock
        self.latest: FinalEstimate | None = None
        self.spent_s = 0.0
        self.refits = 0
        self.rows = 0
        self._cost_s = FIRST_COST_S
        self._last: tuple[int, float] | None = None  # (step, wall_s) of the last refit
        self._decay_from: int | None = None  # first step whose LR is below the peak after warmup
        self.waiting = ""
        """Why there is no estimate yet ("" once there is one)."""

    def after_row(self, run_dir: Path, step: int, steps: int, wall_s: float,
                  flush: Callable[[], None]) -> FinalEstimate | None:
        """The latest estimate after a train row logged at `step` of `steps` (`wall_s` seconds of
        training so far); refits when due, calling `flush` first so the run directory's curve
        holds every logged row."""
        self.rows += 1
        if self._due(Path(run_dir), step, steps, wall_s):
            started = self.clock()
            flush()
            self._refresh(Path(run_dir), step)
            cost = self.clock() - started
            self.spent_s += cost
            self._cost_s = cost
            self.refits += 1
            self._last = (step, wall_s)
        return self.latest

    def _due(self, run_dir: Path, step: int, steps: int, wall_s: float) -> bool:
        if self.fit is None:
            if step < MIN_FRACTION * steps or self.rows < MIN_ROWS:
                self.waiting = f"own curve from {MIN_FRACTION:.0%} of the steps and {MIN_ROWS} rows"
                return False
            if step < self._decay_start(run_dir):
                self.waiting = ("the LR has not decayed yet: a constant-LR prefix cannot identify the "
                                "annealing term (give --curve-fit)")
                return False
        if self._last is not None:
            last_step, last_wall = self._last
            if step - last_step < REFIT_FRACTION * steps or wall_s - last_wall < self.refit_s:
                return False
        if self.fit is not None and self.latest is None:  # the fit's first estimate is one prediction, no fit
            return True
        return self.spent_s + self._cost_s <= self.budget * wall_s

    def _decay_start(self, run_dir: Path) -> int:
        """The first step after warmup whose LR is below the peak (the schedule's, never the
        curve law's: which rows can tell the annealing apart); past the run when it never decays."""
        if self._decay_from is None:
            _, schedule = run_schedule_of(run_dir)
            lr = schedule.lr_at(np.arange(schedule.warmup_steps, schedule.steps))
            below = np.flatnonzero(lr < schedule.peak_lr * (1 - 1e-9))
            self._decay_from = schedule.warmup_steps + int(below[0]) + 1 if below.size else schedule.steps + 1
        return self._decay_from

    def _refresh(self, run_dir: Path, step: int) -> None:
        if self.fit is not None:
            prediction = predict_curve(self.fit, run_dir=run_dir, points=1)
            self.latest = FinalEstimate(step=step, loss=prediction.final_loss, source="fit",
                                        interval=None if prediction.final_interval is None
                                        else (prediction.final_interval[0], prediction.final_interval[1]),
                                        drift=prediction.drift, drifting=prediction.drifting)
            self.waiting = ""
            return
        with warnings.catch_warnings():
            # a refit that fails is not shown (converged and identifiable are checked below);
            # its FitWarning would print above the progress bar at every refit
            warnings.simplefilter("ignore")
            try:
                own = fit_run_curves([run_dir])
            except ValueError as exc:  # e.g. rows the engine refuses: keep the last estimate
                log.debug("run %s: no curve fit at step %d: %s", run_dir, step, exc)
                return
        if not own.converged or own.not_identifiable:
            self.waiting = f"the fit to the curve so far did not {'converge' if not own.converged else 'identify the law'}"
            return
        prediction = predict_curve(own, run_dir=run_dir, points=1)
        self.latest = FinalEstimate(step=step, loss=prediction.final_loss, interval=None, source="own curve")
        self.waiting = ""

    def closing_line(self, final_loss: float | None) -> str:
        """One line for the end of the run: the last estimate against the final train loss."""
        cost = f"{self.refits} estimate(s) took {self.spent_s:.2f} s"
        if self.latest is None:
            return f"no final-loss estimate ({self.waiting or 'the run was too short'}); {cost}"
        estimate = self.latest
        said = f"{estimate.loss:.4f} (at step {estimate.step}, from {'the curve fit' if estimate.source == 'fit' else 'its own curve'})"
        if final_loss is None:
            return f"estimated final loss {said}; no final loss to compare; {cost}"
        gap = estimate.loss / final_loss - 1
        return f"final train loss {final_loss:.4f}; estimated {said}, {100 * gap:+.1f}%; {cost}"
