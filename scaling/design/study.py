"""A study designed round by round: design from what is trained, train, refit, redesign.

`design(goal, runs)` is `scaling design`: the belief (the prior, or the Approach 3 fit of the
runs and its bootstrap draws), the runs already trained as part of the design, and the proposal
(`scaling.design.designer.propose`). `run_study(spec, out)` is the loop `scaling sweep` runs for
a spec with a [design] table:

1. read the store: finished runs, FLOPs planned so far, the events of earlier rounds;
2. a round whose runs did not all finish (the loop was killed) is trained again as it was
   proposed (finished runs are skipped, interrupted ones resume: the sweep runner's rules);
3. otherwise the next round is designed with at most `round_fraction` of the FLOPs left, and
   recorded (event "design_round": the proposal, its predicted width) before it is trained;
4. after each round the chosen approach is refitted with a bootstrap and the width achieved at
   the target recorded (event "design_fit"); the loop stops when it is under `until_width`,
   when no design fits the FLOPs left, or after `max_rounds` rounds.

Everything the loop decides is recomputed from the store, so `kill -9` at any point loses at most
the run in flight, and the same command resumes.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scaling.design.belief import Belief, from_runs, prior
from scaling.design.designer import NoDesign, Proposal, propose
from scaling.design.goal import Goal
from scaling.design.precision import Points
from scaling.rundir.events import append_event, read_events
from scaling.rundir.files import run_dirs
from scaling.rundir.record import is_finished
from scaling.sweep.status import design_rounds
from scaling.fit.approaches import fit_approach
from scaling.fit.result import FitWarning, resolve_law
from scaling.runs import average_seeds, read_runs
from scaling.sweep.backends import SweepProgress
from scaling.sweep.grids import IsoFlopGrid, Sizes
from scaling.sweep.spec import SweepConfig
from scaling.sweep.specfile import load_spec, spec_toml

if TYPE_CHECKING:
    from scaling.sweep.grids import ShapeRule

logger = logging.getLogger(__name__)

BOOTSTRAP = 400
"""Resamples of the fit that measures the width achieved after each round."""
WIDTH_LABEL = "(high - low) / estimate of the interval at the target"


def design(goal: Goal, runs: pd.DataFrame | None = None, *, seed: int = 0,
           shape: ShapeRule | None = None) -> Proposal:
    """The proposal for `goal.study_flops` more FLOPs, given `runs` (every finished run, seeds
    apart; None or empty: from the prior). With a sweep's `shape` rule (scaling.sweep.grids.ShapeRule)
    the proposed sizes are the shapes it will train."""
    start = prior(resolve_law(goal.prior), reference_flops=goal.largest_run, spread=goal.prior_spread, seed=seed)
    notes: list[str] = []
    belief: Belief = start
    existing = None
    if runs is not None and len(runs):
        belief, notes = from_runs(average_seeds(runs), runs, fallback=start, seed=seed)
        existing = points_of(runs)
    realise = None
    if shape is not None:
        realise = functools.lru_cache(maxsize=None)(lambda p: float(shape.counted(shape.shape_for(p))))
    return propose(belief, goal, existing, seed=seed, notes=notes, realise=realise)


def next_round(goal: Goal, runs: pd.DataFrame | None, spent: float, *, seed: int = 0,
               shape: ShapeRule | None = None, last: bool = False) -> Proposal | None:
    """The next round of a study that has spent `spent` FLOPs, or None when no design fits what
    is left. The designer plans everything left; the round trains the plan's cheapest profiles
    until they hold `round_fraction` of the FLOPs left (the `last` round: the whole plan), and
    the rest is planned again once those are fitted: the expensive profiles are placed with what
    the cheap ones taught."""
    left = goal.study_flops - spent
    if left < 5 * goal.smallest_run:
        return None
    plan_goal = replace(goal, study_flops=left, max_run_flops=goal.largest_run, min_run_flops=goal.smallest_run)
    try:
        plan = design(plan_goal, runs, seed=seed, shape=shape)
    except NoDesign as exc:  # nothing affordable
        logger.info("no further round: %s", exc)
        return None
    order = sorted(plan.blocks, key=lambda b: b.flops)
    now = [order[0]]
    for block in order[1:]:
        if not last and sum(b.cost for b in now) >= goal.round_fraction * left:
            break
        now.append(block)
    later = tuple(order[len(now):])
    note = (f"this round trains {len(now)} of the plan's {len(order)} profiles (the cheapest); the other "
            f"{len(later)} are planned again after them") if later else "this round trains the whole plan"
    return replace(plan, blocks=tuple(now), later=later, flops=float(sum(b.cost for b in now)),
                   notes=(*plan.notes, note))


def points_of(runs: pd.DataFrame) -> Points:
    """Trained configurations as design points: budget (the sweep's label where there is one),
    params and the number of seeds."""
    budget = runs["budget_flops"] if "budget_flops" in runs.columns and runs["budget_flops"].notna().all() \
        else runs["flops"]
    frame = pd.DataFrame({"flops": budget.to_numpy(float), "params": runs["params"].to_numpy(float)})
    counted = frame.groupby(["flops", "params"]).size().reset_index(name="seeds")
    return Points(counted["flops"].to_numpy(float), counted["params"].to_numpy(float),
                  counted["seeds"].to_numpy(float))


def achieved(goal: Goal, runs: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """Fit the goal's approach to `runs` with a bootstrap and read the interval at the target:
    {"estimate", "interval", "width"} (width None when the fit or its bootstrap failed)."""
    key = {"2": "approach_2", "3": "approach_3"}[goal.approach]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            fit = fit_approach(goal.approach, runs, bootstrap=BOOTSTRAP, level=goal.level, seed=seed)[key]
    except ValueError as exc:
        return {"estimate": None, "interval": None, "width": None, "note": str(exc)}
    params, tokens = fit.optimal(goal.target)
    estimate = float(np.ravel(params)[0]) if goal.quantity == "params" else \
        float(np.ravel(fit.predict(params, tokens))[0])
    if not fit.samples:
        return {"estimate": estimate, "interval": None, "width": None, "note": fit.uncertainty}
    low, high = (float(np.ravel(v)[0]) for v in fit.optimal_interval(goal.target)[goal.quantity])
    width = (high - low) / estimate if math.isfinite(high - low) else None
    return {"estimate": estimate, "interval": [low, high], "width": width}


@dataclass(frozen=True)
class StudyState:
    """Where a designed study stands (read from its store)."""

    rounds: list[dict[str, Any]]
    """Each round: its number, proposal, predicted and achieved widths."""
    stopped: str
    """Why the loop stopped."""


def run_study(spec: SweepConfig, out: Path, *, until_width: float | None = None,
              train_round: Callable[[SweepConfig], Any], seed: int = 0,
              on_round: Callable[[dict[str, Any]], None] | None = None) -> StudyState:
    """The loop of the module docstring for a SweepConfig with a [design] table; `train_round`
    trains one round's SweepConfig (the sweep runner)."""
    goal = spec.tables.get("design")
    if not isinstance(goal, Goal):
        raise ValueError(f"sweep {spec.name} has no [design] table: run it with scaling sweep")
    if until_width is not None:
        goal = replace(goal, until_width=until_width)
    sweep_dir = Path(out) / spec.name
    sweep_dir.mkdir(parents=True, exist_ok=True)
    while True:
        step = upcoming(spec, sweep_dir, goal, seed=seed)
        if isinstance(step, str):
            return _state(sweep_dir, step)
        number, proposal, planned, new = step
        if new:
            append_event(sweep_dir, "design_round", "", round=number, proposal=proposal.to_dict(),
                               predicted_width=proposal.predicted_width, grid=_grid_of(planned))
        train_round(planned)
        result = achieved(goal, finished_runs(sweep_dir), seed=seed)
        record = {"round": number, "predicted_width": proposal.predicted_width, "flops": proposal.flops, **result}
        append_event(sweep_dir, "design_fit", "", **record)
        if on_round is not None:
            on_round(record)


def upcoming(spec: SweepConfig, sweep_dir: Path, goal: Goal, *,
             seed: int = 0) -> tuple[int, Proposal, SweepConfig, bool] | str:
    """The round to train now: (number, proposal, its SweepConfig, whether it is newly designed),
    or why the study is over. A round whose fit is not recorded was interrupted: it comes back
    as first planned (seeds included), never replanned from what finished since."""
    events = read_events(sweep_dir)
    done = [e for e in events if e.get("event") == "design_round"]
    fitted = {e["round"]: e for e in events if e.get("event") == "design_fit"}
    if done and done[-1]["round"] not in fitted:
        proposal = Proposal.from_dict(done[-1]["proposal"])
        planned = _grid_spec(spec, done[-1]["grid"]) if "grid" in done[-1] else round_spec(spec, proposal, None)
        return done[-1]["round"], proposal, planned, False
    last = fitted[done[-1]["round"]] if done else None
    if last is not None and goal.until_width is not None and last.get("width") is not None \
            and last["width"] <= goal.until_width:
        return f"width {last['width']:.3g} <= {goal.until_width:g} reached"
    if len(done) >= goal.max_rounds:
        return f"{goal.max_rounds} rounds done"
    runs = finished_runs(sweep_dir)
    proposal = next_round(goal, runs, _spent(done), seed=seed + len(done), shape=spec.shape,
                          last=len(done) + 1 == goal.max_rounds)
    if proposal is None:
        return "study FLOPs spent: no design fits what is left"
    return len(done) + 1, proposal, round_spec(spec, proposal, runs), True


def finished_runs(sweep_dir: Path) -> pd.DataFrame | None:
    """Every ok run of the store (seeds apart), or None before the first finishes."""
    try:
        return read_runs(sweep_dir)
    except (ValueError, FileNotFoundError):
        return None


def spent_flops(sweep_dir: Path) -> float:
    """FLOPs a designed study has committed: its rounds' proposals (the last one possibly still
    training)."""
    return _spent([e for e in read_events(sweep_dir) if e.get("event") == "design_round"])


def _spent(rounds: list[dict[str, Any]]) -> float:
    return float(sum(e["proposal"]["flops"] for e in rounds))


def _grid_of(spec: SweepConfig) -> list[list[Any]]:
    """A round's IsoFLOP grid as the design_round event records it: [budget, sizes, seeds] rows."""
    assert spec.grid is not None and hasattr(spec.grid, "per_budget")
    return [[flops, list(sizes.params), list(seeds or ())] for flops, sizes, seeds in spec.grid.per_budget]


def _grid_spec(spec: SweepConfig, grid: list[list[Any]]) -> SweepConfig:
    return replace(spec, grid=IsoFlopGrid(budgets=(), per_budget=tuple(
        (float(flops), Sizes(params=tuple(float(p) for p in sizes)), tuple(int(x) for x in seeds) or None)
        for flops, sizes, seeds in grid)))


def round_spec(spec: SweepConfig, proposal: Proposal, runs: pd.DataFrame | None) -> SweepConfig:
    """The SweepConfig that trains `proposal`: the spec's data, shape and training settings, an
    IsoFLOP grid of the proposal's profiles, and for each size the lowest seeds it has not yet
    been trained with (a size proposed again gets new seeds, never a rerun)."""
    used: dict[tuple[float, int, int], set[int]] = {}
    columns = ["budget_flops", "n_layer", "d_model", "seed"]
    if runs is not None and len(runs) and set(columns) <= set(runs.columns):
        for row in runs[columns].dropna().itertuples(index=False):
            used.setdefault((float(row.budget_flops), int(row.n_layer), int(row.d_model)), set()).add(int(row.seed))
    entries: dict[tuple[float, tuple[int, ...]], list[float]] = {}
    for block in proposal.blocks:
        seen = set()
        for params in block.params:
            model = spec.shape.shape_for(params)
            if (model.n_layer, model.d_model) in seen:
                continue  # two proposed sizes round to one shape: train it once
            seen.add((model.n_layer, model.d_model))
            taken = used.get((block.flops, model.n_layer, model.d_model), set())
            seeds = tuple(s for s in range(len(taken) + block.seeds) if s not in taken)[:block.seeds]
            entries.setdefault((block.flops, seeds), []).append(params)
    grid = IsoFlopGrid(budgets=(), per_budget=tuple((flops, Sizes(params=tuple(sizes)), seeds)
                                                     for (flops, seeds), sizes in entries.items()))
    return replace(spec, grid=grid)


def load_runs(source: Any, columns: dict[str, str] | None = None, where: tuple[str, ...] = ()) -> pd.DataFrame:
    """The runs `scaling design --runs` names (a sweep directory, CSV/parquet, a data set), seeds
    apart; `columns` and `where` as `scaling.runs.read_runs` takes them."""
    return read_runs(source, columns=columns, where=where)


def spec_for(spec: str | None, goal: Goal) -> SweepConfig:
    """The sweep spec a proposal is written into: `spec`'s data, shape and training settings, or
    the defaults (the shape rule's shapes, the stdlib corpus) named "design"."""
    if spec is None:
        return SweepConfig(name="design", grid=None, tables={"design": goal}, description="runs proposed by scaling design")
    return replace(load_spec(spec), tables={"design": goal})


def proposal_toml(base: SweepConfig, proposal: Proposal, runs: pd.DataFrame | None) -> str:
    """`proposal` as a sweep spec `scaling sweep` runs as it is, its numbers in a header comment."""
    width = "not identified" if proposal.predicted_width is None else f"{proposal.predicted_width:.1%}"
    header = (f"Proposed by scaling design: N_opt{'' if proposal.quantity == 'params' else ' loss'} at "
              f"{proposal.target:.3g} FLOPs (Approach {proposal.approach}), {proposal.flops:.3g} FLOPs of runs;\n"
              f"predicted {proposal.level:.0%} interval width after them {width} ((high - low) / estimate).\n"
              f"Belief: {proposal.belief.get('source')}.")
    return spec_toml(round_spec(base, proposal, runs), header)


def _state(sweep_dir: Path, stopped: str) -> StudyState:
    events = read_events(sweep_dir)
    if not (events and events[-1].get("event") == "design_stop" and events[-1].get("reason") == stopped):
        append_event(sweep_dir, "design_stop", "", reason=stopped)  # said once: a rerun leaves the store as it is
    return StudyState(rounds=design_rounds(sweep_dir), stopped=stopped)


def run_spec(spec: SweepConfig, out: Path, *, train_round: Callable[[SweepConfig], SweepProgress],
             until_width: float | None = None,
             on_round: Callable[[dict[str, Any]], None] | None = None) -> tuple[SweepProgress, StudyState | None]:
    """A sweep spec end to end, as `scaling sweep` runs it: a designed study round by round
    (`run_study`, each round trained by `train_round`), else the one sweep. Returns the counts
    over every round trained, and the study's state (None for a plain sweep)."""
    goal = spec.tables.get("design")
    if not isinstance(goal, Goal):
        if until_width is not None:
            raise ValueError("`until_width` needs a designed study (a spec with a [design] table)")
        return train_round(spec), None
    states: list[SweepProgress] = []
    study = run_study(spec, out, until_width=until_width, train_round=lambda s: states.append(train_round(s)),
                      on_round=on_round)
    sweep_dir = Path(out) / spec.name  # a finished study trains no round: its runs were all done before
    before = states[0].skipped if states else sum(is_finished(d) for d in run_dirs(sweep_dir))
    return SweepProgress(total=sum(s.total for s in states), ok=sum(s.ok for s in states),
                         diverged=sum(s.diverged for s in states), failed=sum(s.failed for s in states),
                         skipped=before), study


def next_spec(spec: SweepConfig, out: Path) -> SweepConfig | str:
    """The runs `scaling sweep --dry-run` lists: a designed study's next round (or why the study
    is over), else `spec`."""
    goal = spec.tables.get("design")
    if not isinstance(goal, Goal):
        return spec
    step = upcoming(spec, Path(out) / spec.name, goal)
    return step if isinstance(step, str) else step[2]
