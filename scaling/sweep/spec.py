"""Sweep specs (TOML) and their expansion into the runs of a scaling study.

A spec names the study, its data, and one grid: an IsoFLOP grid (budgets, model sizes per
budget; each run's tokens fill its budget) or an N x D grid (sizes x tokens, or sizes x
tokens-per-parameter). `expand(spec)` returns the list of `TrainConfig`s; the run store
(`scaling.sweep.store`) and executors (`scaling.sweep.backends`) take it from there. Bundled specs live in
`scaling/sweep/specs/*.toml` and load by name (`load_spec("cpu-smoke")`).

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Sec. 3.2 (Approach 2: IsoFLOP profiles,
    each budget a set of model sizes trained to C = 6 N D) and App. F (exact FLOP counting).
    Kaplan et al. 2020, arXiv:2001.08361, Sec. 2.1 (C = 6 N D).
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.config import MAX_SEED, ModelConfig, TrainConfig
from scaling.flops import MAX_FLOPS, FLOPS_METHODS, count_params, flops_per_token, heads_for, suggest_shape
from scaling.sweep import tables
from scaling.sweep.tables import SpecTable
from scaling.sweep.tables import integer as _int
from scaling.sweep.tables import number as _float
from scaling.sweep.tables import table as _table

if TYPE_CHECKING:
    from scaling.config import TrainConfig

logger = logging.getLogger(__name__)

# Keys of [train] that the spec sets elsewhere (grid, top level) and so may not override.
_RESERVED_TRAIN_KEYS = ("model", "tokens", "seed", "data", "device", "flops_method")

MAX_RANGE_COUNT = 1000
"""Most values one {min, max, count} range (or a centred size range) may hold: a study has tens of
sizes or budgets; a larger count is a typo, refused before the values are built."""
MAX_RUNS = 100_000
"""Most runs one spec may plan (budgets x sizes x seeds x tune points), checked before planning."""
MAX_SPEC_PARAMS = 1e15
"""Largest model size a spec may ask for, parameters: a thousand times today's largest dense models."""
MAX_WIDTH = 2**20
"""Largest d_model a spec may list (GPT-3 175B: 12,288; Brown et al. 2020, Table 2.1)."""


@dataclass(frozen=True, kw_only=True)
class Sizes:
    """Model sizes: explicit parameter counts, a log range, widths of a fixed-depth family, or
    a log range centred on a tokens-per-parameter ratio at each IsoFLOP budget."""

    params: tuple[float, ...] = ()
    """Target parameter counts (in the spec's params_convention)."""
    widths: tuple[int, ...] = ()
    """d_model values (needs shape.n_layer); exact shapes, no rounding."""
    center_tokens_per_param: float | None = None
    """IsoFLOP only: centre the range on N = sqrt(C / (6 r)) for this r = D/N."""
    span: float = 8.0
    """Ratio of the largest to the smallest size of a centred range."""
    count: int = 5
    """Sizes in a centred range."""

    def __post_init__(self) -> None:
        _check_scalar_types(self, "sizes")
        given = sum([bool(self.params), bool(self.widths), self.center_tokens_per_param is not None])
        if given != 1:
            raise ValueError("sizes: give exactly one of a list, {min, max, count}, {d_model = [...]} "
                             "or {center_tokens_per_param, span, count}")
        if any(not (0 < p <= MAX_SPEC_PARAMS) for p in self.params):
            raise ValueError(f"sizes must be positive parameter counts up to {MAX_SPEC_PARAMS:g}, "
                             f"got {list(self.params)}")
        if any(not 1 <= w <= MAX_WIDTH for w in self.widths):
            raise ValueError(f"sizes.d_model must be integers from 1 to {MAX_WIDTH}, got {list(self.widths)}")
        if self.center_tokens_per_param is not None and not 0 < self.center_tokens_per_param < math.inf:
            raise ValueError(f"sizes.center_tokens_per_param must be a positive finite ratio, "
                             f"got {self.center_tokens_per_param!r}")
        if not 1 <= self.span < math.inf or not 1 <= self.count <= MAX_RANGE_COUNT:
            raise ValueError(f"sizes.span must be >= 1 and finite and sizes.count from 1 to {MAX_RANGE_COUNT}, "
                             f"got {self.span}, {self.count}")

    def targets(self, budget_flops: float | None) -> tuple[float, ...]:
        """Target parameter counts at one budget (widths are handled by the shape rule)."""
        if self.center_tokens_per_param is None:
            return self.params
        if budget_flops is None:
            raise ValueError("sizes.center_tokens_per_param needs an IsoFLOP budget")
        center = math.sqrt(budget_flops / (6.0 * self.center_tokens_per_param))  # C = 6 N (r N)
        targets = log_range(center / math.sqrt(self.span), center * math.sqrt(self.span), self.count)
        if max(targets) > MAX_SPEC_PARAMS:
            raise ValueError(f"sizes.center_tokens_per_param {self.center_tokens_per_param:g} at {budget_flops:g} "
                             f"FLOPs asks for {max(targets):.3g} parameters, above {MAX_SPEC_PARAMS:g}")
        return targets

    def count_at(self) -> int:
        """How many sizes `targets` gives at any one budget."""
        return len(self.widths) or len(self.params) or self.count


@dataclass(frozen=True, kw_only=True)
class ShapeRule:
    """How a target size becomes a `ModelConfig`."""

    n_layer: int | None = None
    """Fixed depth (a fixed-depth width family); None uses `scaling.flops.suggest_shape`."""
    head_dim: int | None = None
    """Head size of the fixed-depth family (n_head = d_model / head_dim, widths in steps of it);
    None = the shape rule's heads (`scaling.flops.heads_for`, widths in steps of 8). Committed
    studies pin it (cpu-isoflop: 8)."""
    seq_len: int = 256
    vocab_size: int = 256
    tied_embeddings: bool = True
    params_convention: str = "total"
    """Whether sizes and tokens-per-param count embeddings ("total") or not ("non-embedding")."""
    parametrization: str = "standard"
    """"standard" or "mup" (scaling.training.mup): every shape of the sweep gets it."""
    base_width: int = 64
    """muP only: the width at which muP equals the standard parametrization."""

    def __post_init__(self) -> None:
        _check_scalar_types(self, "shape")
        if self.params_convention not in ("total", "non-embedding"):
            raise ValueError(f"shape.params_convention must be 'total' or 'non-embedding', "
                             f"got {self.params_convention!r}")
        if self.n_layer is not None and self.n_layer < 1:
            raise ValueError(f"shape.n_layer must be >= 1, got {self.n_layer}")
        if self.head_dim is not None and self.head_dim < 1:
            raise ValueError(f"shape.head_dim must be >= 1, got {self.head_dim}")

    def model(self, width: int) -> ModelConfig:
        assert self.n_layer is not None
        n_head = heads_for(width) if self.head_dim is None else max(1, width // self.head_dim)
        return ModelConfig(n_layer=self.n_layer, d_model=width, n_head=n_head,
                           seq_len=self.seq_len, vocab_size=self.vocab_size,
                           tied_embeddings=self.tied_embeddings, **self._parametrization())

    def _parametrization(self) -> dict[str, Any]:
        return {"parametrization": self.parametrization, "base_width": self.base_width}

    def counted(self, cfg: ModelConfig) -> int:
        counts = count_params(cfg)
        return counts.total if self.params_convention == "total" else counts.non_embedding

    def shape_for(self, target_params: float) -> ModelConfig:
        """The shape whose count (in params_convention) is closest to target_params (in log)."""
        if self.n_layer is None:
            return replace(suggest_shape(target_params, vocab_size=self.vocab_size, seq_len=self.seq_len,
                                         tied_embeddings=self.tied_embeddings,
                                         params_convention=self.params_convention), **self._parametrization())
        # The count grows with width: bisect the head-size multiples k * step for the first that
        # reaches the target (O(log) counts, so a huge target costs no more than a small one).
        step = self.head_dim if self.head_dim is not None else 8
        low, high = 1, 1
        while self._count_at(high * step) < target_params:
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if self._count_at(middle * step) < target_params else (low, middle)
        widths = [low * step, high * step]  # a tie keeps the smaller, as a walk from below would
        width = min(widths, key=lambda w: abs(math.log(self._count_at(w) / target_params)))
        return self.model(width)

    def _count_at(self, width: int) -> int:
        """The count (in params_convention) at this width; the heads do not change it."""
        assert self.n_layer is not None
        return self.counted(ModelConfig(n_layer=self.n_layer, d_model=width, n_head=1, seq_len=self.seq_len,
                                        vocab_size=self.vocab_size, tied_embeddings=self.tied_embeddings))

    def shapes(self, sizes: Sizes, budget_flops: float | None) -> list[ModelConfig]:
        if sizes.widths:
            if self.n_layer is None:
                raise ValueError("sizes.d_model needs shape.n_layer (a fixed-depth family)")
            return [self.model(w) for w in sizes.widths]
        return [self.shape_for(p) for p in sizes.targets(budget_flops)]


@dataclass(frozen=True, kw_only=True)
class IsoFlopGrid:
    """Budgets x sizes; each run's tokens fill its budget: D = C / flops_per_token(shape, method)."""

    budgets: tuple[float, ...]
    """IsoFLOP budgets C, FLOPs."""
    sizes: Sizes | None = None
    """Sizes at every budget in `budgets`."""
    per_budget: tuple[tuple[float, Sizes, tuple[int, ...] | None], ...] = ()
    """Budgets with their own sizes, and their own seeds (None: the spec's)."""

    def __post_init__(self) -> None:
        all_budgets = list(self.budgets) + [b for b, _, _ in self.per_budget]
        if not all_budgets or any(not (0 < b <= MAX_FLOPS) for b in all_budgets):
            raise ValueError(f"isoflop.budgets must be positive FLOPs up to {MAX_FLOPS:g}, got {all_budgets}")
        if self.budgets and self.sizes is None:
            raise ValueError("isoflop: give sizes for the budgets (or sizes inside each budget)")


@dataclass(frozen=True, kw_only=True)
class NxDGrid:
    """Sizes x tokens, or sizes x tokens-per-parameter multipliers."""

    sizes: Sizes
    tokens: tuple[float, ...] = ()
    tokens_per_param: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.tokens) == bool(self.tokens_per_param):
            raise ValueError("grid: give exactly one of tokens or tokens_per_param")
        if any(not (t > 0 and math.isfinite(t)) for t in self.tokens + self.tokens_per_param):
            raise ValueError("grid.tokens / grid.tokens_per_param must be positive and finite")
        if self.sizes.center_tokens_per_param is not None:
            raise ValueError("grid.sizes.center_tokens_per_param is for IsoFLOP grids only")


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
        reserved = sorted(set(self.train) & set(_RESERVED_TRAIN_KEYS))
        if reserved:
            raise ValueError(f"[train] may not set {', '.join(reserved)}: the spec sets them at top level or in the grid")


_SCALARS = {"int": int, "float": float, "str": str, "bool": bool, "None": type(None)}


def _check_scalar_types(obj: Any, where: str) -> None:
    """ValueError naming `where.field` when a scalar field (int, float, str, bool, optional) holds
    another type: spec files are hand-edited TOML, where `n_layer = "one"` parses fine."""
    for item in fields(obj):
        names = [n.strip() for n in str(item.type).split("|")]
        if not all(n in _SCALARS for n in names):
            continue  # tuples and nested tables are checked where they are parsed
        value = getattr(obj, item.name)
        kinds = [_SCALARS[n] for n in names]
        ok = any((kind is int and isinstance(value, int) and not isinstance(value, bool))
                 or (kind is float and isinstance(value, (int, float)) and not isinstance(value, bool))
                 or (kind in (str, bool, type(None)) and isinstance(value, kind)) for kind in kinds)
        if not ok:
            wanted = " or ".join("null" if n == "None" else {"int": "an integer", "float": "a number",
                                                             "str": "a string", "bool": "true/false"}[n]
                                 for n in names)
            raise ValueError(f"{where}.{item.name} must be {wanted}, got {value!r}")


def log_range(low: float, high: float, count: int) -> tuple[float, ...]:
    """`count` values log-spaced from `low` to `high` inclusive."""
    if not (0 < low <= high and math.isfinite(high)) or not 1 <= count <= MAX_RANGE_COUNT:
        raise ValueError(f"a log range needs 0 < min <= max and count from 1 to {MAX_RANGE_COUNT}, "
                         f"got {low}, {high}, {count}")
    if count == 1:
        return (math.sqrt(low * high),)
    step = math.log(high / low) / (count - 1)
    return tuple(low * math.exp(i * step) for i in range(count))


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


def expand(spec: SweepConfig) -> list[TrainConfig]:
    """The sweep's runs as TrainConfigs, in plan order (budget, size, seed)."""
    return [train_config(spec, run) for run in plan_runs(spec)]


# ---- TOML ----------------------------------------------------------------------------------

_SPEC_KEYS = {"name", "description", "data", "device", "seeds", "flops_method", "shape", "train",
              "isoflop", "grid"}


def parse_spec(doc: dict[str, Any], default_name: str = "") -> SweepConfig:
    """A SweepConfig from a parsed TOML document (see scaling/sweep/specs/*.toml for examples)."""
    unknown = sorted(set(doc) - _SPEC_KEYS - set(tables.registered()))
    if unknown:
        raise ValueError(f"unknown sweep spec keys: {', '.join(unknown)} "
                         f"(plug-in tables known: {', '.join(tables.registered()) or 'none'})")
    plugins = {name: tables.parse_table(name, doc[name]) for name in tables.registered() if name in doc}
    grid: IsoFlopGrid | NxDGrid | None = None
    choosers = [name for name, plugin in plugins.items() if plugin.chooses_runs]
    if choosers:
        if "isoflop" in doc or "grid" in doc:
            raise ValueError(f"a [{choosers[0]}] study chooses its own runs: leave out [isoflop] and [grid]")
    elif ("isoflop" in doc) == ("grid" in doc):
        raise ValueError("a sweep spec needs exactly one of [isoflop] or [grid] (or a [design] table)")
    elif "isoflop" in doc:
        grid = _parse_isoflop(_table(doc["isoflop"], "isoflop", {"budgets", "sizes"}))
    else:
        table = _table(doc["grid"], "grid", {"sizes", "tokens", "tokens_per_param"})
        grid = NxDGrid(sizes=_parse_sizes(table.get("sizes"), "grid.sizes"),
                       tokens=_numbers(table.get("tokens", []), "grid.tokens"),
                       tokens_per_param=_numbers(table.get("tokens_per_param", []), "grid.tokens_per_param"))
    shape_keys = {f.name for f in fields(ShapeRule)}
    return SweepConfig(
        name=str(doc.get("name", default_name)), grid=grid,
        shape=ShapeRule(**_table(doc.get("shape", {}), "shape", shape_keys)),
        data=str(doc.get("data", "stdlib")), device=str(doc.get("device", "auto")),
        seeds=_seeds(doc.get("seeds", [0]), "seeds"), flops_method=str(doc.get("flops_method", "6ND")),
        train=dict(_table(doc.get("train", {}), "train", None)),
        description=str(doc.get("description", "")),
        tables=plugins,
    )


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, int) for s in value):
        raise ValueError(f"{where} must be a non-empty list of integers, got {value!r}")
    return tuple(value)


def _numbers(value: Any, where: str) -> tuple[float, ...]:
    """A list of numbers, or {min, max, count} for a log range."""
    if isinstance(value, dict):
        table = _table(value, where, {"min", "max", "count"})
        if set(table) != {"min", "max", "count"}:
            raise ValueError(f"{where}: a range needs min, max and count")
        return log_range(_float(table["min"], f"{where}.min"), _float(table["max"], f"{where}.max"),
                         _int(table["count"], f"{where}.count"))
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) for v in value):
        raise ValueError(f"{where} must be a list of numbers or {{min, max, count}}, got {value!r}")
    return tuple(float(v) for v in value)


def _parse_sizes(value: Any, where: str) -> Sizes:
    if value is None:
        raise ValueError(f"{where} is required")
    if isinstance(value, dict) and "d_model" in value:
        widths = _table(value, where, {"d_model"})["d_model"]
        if not isinstance(widths, list) or not all(isinstance(w, int) for w in widths):
            raise ValueError(f"{where}.d_model must be a list of integers, got {widths!r}")
        return Sizes(widths=tuple(widths))
    if isinstance(value, dict) and "center_tokens_per_param" in value:
        table = _table(value, where, {"center_tokens_per_param", "span", "count"})
        return Sizes(center_tokens_per_param=_float(table["center_tokens_per_param"], f"{where}.center_tokens_per_param"),
                     span=_float(table.get("span", 8.0), f"{where}.span"),
                     count=_int(table.get("count", 5), f"{where}.count"))
    return Sizes(params=_numbers(value, where))


def _parse_isoflop(table: dict[str, Any]) -> IsoFlopGrid:
    budgets, per_budget = [], []
    raw = table.get("budgets")
    if isinstance(raw, list) and any(isinstance(b, dict) for b in raw):
        for entry in raw:
            if isinstance(entry, dict):
                item = _table(entry, "isoflop.budgets", {"flops", "sizes", "seeds"})
                seeds = _seeds(item["seeds"], "isoflop.budgets.seeds") if "seeds" in item else None
                if "flops" not in item:
                    raise ValueError("isoflop.budgets: each budget table needs flops")
                per_budget.append((_float(item["flops"], "isoflop.budgets.flops"), _parse_sizes(item.get("sizes"), "isoflop.budgets.sizes"),
                                   seeds))
            else:
                budgets.append(_float(entry, "isoflop.budgets"))
    else:
        budgets = list(_numbers(raw if raw is not None else [], "isoflop.budgets"))
    sizes = _parse_sizes(table["sizes"], "isoflop.sizes") if "sizes" in table else None
    return IsoFlopGrid(budgets=tuple(budgets), sizes=sizes, per_budget=tuple(per_budget))


def bundled_specs() -> list[str]:
    """Names of the specs shipped in scaling/sweep/specs/."""
    folder = resources.files("scaling.sweep") / "specs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_spec(spec: str | Path) -> SweepConfig:
    """Load a spec from a TOML path, or a bundled spec by name ("cpu-smoke")."""
    path = Path(spec)
    if path.suffix != ".toml" and not path.exists():
        bundled = resources.files("scaling.sweep") / "specs" / f"{spec}.toml"
        if not bundled.is_file():
            raise ValueError(f"no sweep spec file {spec!r} and no bundled spec of that name "
                             f"(bundled: {', '.join(bundled_specs())})")
        text, stem = bundled.read_text(), str(spec)
    else:
        if not path.is_file():
            raise FileNotFoundError(f"sweep spec not found: {path}")
        text, stem = path.read_text(), path.stem
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{spec}: invalid TOML: {exc}") from exc
    try:
        return parse_spec(doc, default_name=stem)
    except ValueError as exc:
        raise ValueError(f"{spec}: {exc}") from None


def spec_toml(spec: SweepConfig, header: str = "") -> str:
    """`spec` as TOML that `load_spec` reads back to the same runs (IsoFLOP grids of explicit
    sizes, as the designer writes them), under `header` comment lines."""
    # lazy: tomli_w loads only when a spec is written
    import tomli_w

    grid = spec.grid
    if not isinstance(grid, IsoFlopGrid) or grid.budgets or any(s.center_tokens_per_param is not None or s.widths
                                                                for _, s, _ in grid.per_budget):
        raise ValueError("only IsoFLOP grids of explicit sizes per budget are written back to TOML")
    doc: dict[str, Any] = {"name": spec.name, "description": spec.description, "data": spec.data,
                           "device": spec.device, "seeds": list(spec.seeds), "flops_method": spec.flops_method,
                           "shape": {k: v for k, v in _plain(spec.shape).items() if v is not None}}
    if spec.train:
        doc["train"] = dict(spec.train)
    doc["isoflop"] = {"budgets": [{"flops": flops, "sizes": [float(round(p)) for p in sizes.params],
                                   **({"seeds": list(seeds)} if seeds else {})}
                                  for flops, sizes, seeds in grid.per_budget]}
    comments = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comments + tomli_w.dumps(doc, multiline_strings=False)


def _plain(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def with_micro_batch(spec: SweepConfig, micro_batch_size: int) -> SweepConfig:
    """`spec` training every run in micro batches of `micro_batch_size` sequences (each run's
    batch rounded to whole micro batches; scaling.training.hyperparams.resolve)."""
    return replace(spec, train={**spec.train, "micro_batch_size": micro_batch_size})
