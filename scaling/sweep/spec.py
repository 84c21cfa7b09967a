"""A sweep spec and its expansion into the runs of a scaling study.

A spec (`SweepConfig`) names the study, its data, and one grid (scaling.sweep.grids): an IsoFLOP
grid (budgets, model sizes per budget; each run's tokens fill its budget) or an N x D grid (sizes
x tokens, or sizes x tokens-per-parameter), crossed with its plug-in tables' points
(scaling.sweep.tables). `expand(spec)` returns the list of `TrainConfig`s; the scheduler
(`scaling.sweep.scheduler`) takes it from there. The TOML form is read and written by
`scaling.sweep.specfile`.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Sec. 3.2 (Approach 2: IsoFLOP profiles,
    each budget a set of model sizes trained to C = 6 N D) and App. F (exact FLOP counting).
    Kaplan et al. 2020, arXiv:2001.08361, Sec. 2.1 (C = 6 N D).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

from scaling.config import MAX_SEED, ModelConfig, TrainConfig
from scaling.flops import FLOPS_METHODS, count_params, flops_per_token
from scaling.sweep.branches import Cooldowns, Family, family, linked
from scaling.sweep.grids import IsoFlopGrid, NxDGrid, ShapeRule
from scaling.sweep.tables import SpecTable

logger = logging.getLogger(__name__)

# Keys of [train] that the spec sets elsewhere (grid, top level, [wsd]) and so may not override.
_RESERVED_TRAIN_KEYS = ("model", "tokens", "seed", "data", "device", "flops_method", "save_at", "branch_from")

MAX_RUNS = 100_000
"""Most runs one spec may plan (budgets x sizes x seeds x tune points), checked before planning."""


@dataclass(frozen=True, kw_only=True)
class PlannedRun:
    """One run of a sweep before it becomes a TrainConfig."""

    model: ModelConfig
    tokens: int
    seed: int
    budget_flops: float | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    """TrainConfig fields of a plug-in table's grid point ([tune]: lr, batch_size, warmup_steps)."""


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """A scaling study: data, one grid, training defaults, seeds, device."""

    name: str
    """Sweep name: the directory under runs/."""
    grid: IsoFlopGrid | NxDGrid | None
    """None only in a designed study: its rounds' grids come from the designer."""
    shape: ShapeRule = field(default_factory=ShapeRule)
    data: str = "stdlib"
    """Data spec passed to TrainConfig (see scaling.training.data.corpus)."""
    device: str = "auto"
    seeds: tuple[int, ...] = (0,)
    flops_method: str = "6ND"
    """FLOP counting (scaling.flops.FLOPS_METHODS): recorded per run and, on IsoFLOP grids,
    used to turn each budget into tokens."""
    train: dict[str, Any] = field(default_factory=dict)
    """Training defaults: TrainConfig fields (schedule, lr, batch_tokens, ...)."""
    description: str = ""
    tables: dict[str, SpecTable] = field(default_factory=dict)
    """Plug-in tables by name (scaling.sweep.tables): [tune], an LR x batch grid crossed with every
    planned run (scaling.tuning.spec); [design], a study `scaling sweep` runs round by round
    (scaling.design.goal)."""
    wsd: Cooldowns | None = None
    """[wsd]: each shape's runs trained as cooldown branches of one stable run (scaling.sweep.branches)."""

    def __post_init__(self) -> None:
        if self.grid is None and not any(t.chooses_runs for t in self.tables.values()):
            raise ValueError("a sweep spec needs exactly one of [isoflop] or [grid] (or a [design] table)")
        for name, plugin in self.tables.items():
            plugin.check(name, self)
        if (not self.name or "/" in self.name or "\\" in self.name or self.name.startswith(".")
                or not self.name.isprintable()):
            raise ValueError(f"sweep name must be a plain directory name, got {self.name!r}")
        if self.flops_method not in FLOPS_METHODS:
            raise ValueError(f"flops_method must be one of {', '.join(FLOPS_METHODS)}, got {self.flops_method!r}")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        if any(not 0 <= s <= MAX_SEED for s in self.seeds):
            raise ValueError(f"seeds must be integers from 0 to {MAX_SEED}, got {list(self.seeds)}")
        if self.wsd is not None and "schedule" in self.train:
            raise ValueError("[wsd] sets the schedule (a stable run, then cooldowns): leave schedule out of [train]")
        if self.wsd is not None and any(t.chooses_runs for t in self.tables.values()):
            raise ValueError("[wsd] branches a grid's runs: it needs an [isoflop] or [grid] table, not a designed study")
        reserved = sorted(set(self.train) & set(_RESERVED_TRAIN_KEYS))
        if reserved:
            raise ValueError(f"[train] may not set {', '.join(reserved)}: the spec sets them at top level, in the grid "
                             "or by its [wsd] table")


def plan_runs(spec: SweepConfig) -> list[PlannedRun]:
    """Every (shape, tokens, seed) of the grid, duplicates (sizes rounding to one shape) dropped."""
    points: list[tuple[ModelConfig, int, float | None, tuple[int, ...]]] = []
    grid = spec.grid
    if grid is None:
        raise ValueError(f"sweep {spec.name} is a designed study: its runs are chosen round by round "
                         "(scaling sweep runs the rounds; scaling design shows the next one)")
    _check_run_count(spec)
    if isinstance(grid, IsoFlopGrid):
        budgets = [(b, grid.sizes, None) for b in grid.budgets] + list(grid.per_budget)
        for budget, sizes, seeds in budgets:
            assert sizes is not None
            for model in spec.shape.shapes(sizes, budget):
                # Hoffmann et al. 2022, Sec. 3.2: D = C / (6 N), or C / (exact FLOPs per token)
                tokens = round(budget / flops_per_token(model, spec.flops_method))
                points.append((model, tokens, budget, seeds or spec.seeds))
    else:
        for model in spec.shape.shapes(grid.sizes, None):
            counted = spec.shape.counted(model)
            tokens_list = grid.tokens or tuple(r * counted for r in grid.tokens_per_param)
            points.extend((model, round(t), None, spec.seeds) for t in tokens_list)
    runs: list[PlannedRun] = []
    seen: set[tuple[ModelConfig, int, int]] = set()
    tune_points = table_points(spec)
    for model, tokens, budget, seeds in points:
        if tokens < 1:
            where = (f"budget {budget:g} FLOPs is" if budget is not None
                     else "grid.tokens / grid.tokens_per_param are")
            raise ValueError(f"{where} too small for a {count_params(model).total}-parameter model "
                             "(less than one token)")
        fresh = [s for s in seeds if (model, tokens, s) not in seen]
        if len(fresh) < len(seeds):
            logger.warning("sweep %s: duplicate run (d_model=%d, tokens=%d, seeds %s) dropped: planned twice "
                           "(sizes that round to one shape, or one budget listed twice with the same seeds)",
                           spec.name, model.d_model, tokens, sorted(set(seeds) - set(fresh)))
        seen.update((model, tokens, s) for s in fresh)
        runs.extend(PlannedRun(model=model, tokens=tokens, seed=s, budget_flops=budget,
                               overrides=tuple(sorted(point.items())))
                    for point in tune_points for s in fresh)
    return runs


def table_points(spec: SweepConfig) -> list[dict[str, Any]]:
    """TrainConfig overrides crossed with every planned run: the product of the plug-in tables'
    points ([{}] when no table grids anything)."""
    points: list[dict[str, Any]] = [{}]
    for plugin in spec.tables.values():
        points = [{**point, **extra} for point in points for extra in plugin.points()]
    return points


def _check_run_count(spec: SweepConfig) -> None:
    """ValueError before any shape is built when the grid plans more than MAX_RUNS runs."""
    grid = spec.grid
    tune_points = math.prod(plugin.count() for plugin in spec.tables.values())
    if isinstance(grid, IsoFlopGrid):
        per_seed = [(grid.sizes.count_at() if grid.sizes is not None else 0, len(spec.seeds))] * len(grid.budgets)
        per_seed += [(sizes.count_at(), len(seeds or spec.seeds)) for _, sizes, seeds in grid.per_budget]
        total = sum(n * s for n, s in per_seed) * tune_points
    else:
        assert grid is not None
        total = grid.sizes.count_at() * len(grid.tokens or grid.tokens_per_param) * len(spec.seeds) * tune_points
    if total > MAX_RUNS:
        raise ValueError(f"the spec plans {total:,} runs (budgets x sizes x seeds x tune points), "
                         f"more than the {MAX_RUNS:,} a sweep may hold")


def train_config(spec: SweepConfig, run: PlannedRun) -> TrainConfig:
    """The TrainConfig of one planned run: the spec's training defaults plus the grid point."""
    allowed = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(spec.train) - allowed)
    if unknown:
        raise ValueError(f"[train] has unknown keys {', '.join(unknown)}; TrainConfig fields are "
                         f"{', '.join(sorted(allowed - set(_RESERVED_TRAIN_KEYS)))}")
    return TrainConfig(model=run.model, tokens=run.tokens, seed=run.seed, data=spec.data,
                       device=spec.device, flops_method=spec.flops_method, **{**spec.train, **dict(run.overrides)})


def families(spec: SweepConfig) -> list[Family]:
    """A [wsd] sweep's families: the planned runs of one shape, seed and plug-in point, as cooldown
    branches of one stable run (scaling.sweep.branches), in plan order of their first run."""
    assert spec.wsd is not None
    groups: dict[tuple[Any, ...], list[PlannedRun]] = {}
    for run in plan_runs(spec):
        groups.setdefault((run.model, run.seed, run.overrides), []).append(run)
    found = []
    for runs in groups.values():
        runs = sorted(runs, key=lambda r: r.tokens)
        found.append(family(train_config(spec, runs[-1]), [r.tokens for r in runs], spec.wsd, keys=tuple(runs)))
    return found


def expand(spec: SweepConfig) -> list[TrainConfig]:
    """The sweep's runs as TrainConfigs, in plan order (budget, size, seed); a [wsd] sweep's by
    family, each stable run before its branches."""
    if spec.wsd is not None:
        return [cfg for fam in families(spec) for cfg in linked(fam)]
    return [train_config(spec, run) for run in plan_runs(spec)]


def with_micro_batch(spec: SweepConfig, micro_batch_size: int) -> SweepConfig:
    """`spec` training every run in micro batches of `micro_batch_size` sequences (each run's
    batch rounded to whole micro batches; scaling.training.hyperparams.resolve)."""
    return replace(spec, train={**spec.train, "micro_batch_size": micro_batch_size})
