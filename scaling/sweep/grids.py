"""The grids of a sweep spec: model sizes (`Sizes`), the shape family that turns a size into a
ModelConfig (`ShapeRule`), and the two study designs, an IsoFLOP grid (budgets, sizes per budget)
and an N x D grid (sizes x tokens). Each checks its own fields (a hand-edited TOML may put a
string where a number belongs) and is bounded before anything is built.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Sec. 3.2 (Approach 2: IsoFLOP profiles,
    each budget a set of model sizes trained to C = 6 N D).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from scaling.config import MAX_BASE_WIDTH, ModelConfig
from scaling.flops import MAX_FLOPS, count_params, heads_for, suggest_shape

MAX_RANGE_COUNT = 1000
"""Most values one {min, max, count} range (or a centred size range) may hold: a study has tens of
sizes or budgets; a larger count is a typo, refused before the values are built."""
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
        if not 1 <= self.base_width <= MAX_BASE_WIDTH:
            raise ValueError(f"shape.base_width must be from 1 to {MAX_BASE_WIDTH}, got {self.base_width}")

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
