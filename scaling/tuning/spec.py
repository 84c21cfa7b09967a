"""The [tune] table of a sweep spec: a learning-rate x batch (x warmup) grid at every planned
run, and how `scaling tune` reads the grid (the near-optimal band, bootstrap resamples).

    [tune]
    lr = [0.0039, 0.0078, 0.0156]   # peak LRs (global; muP multiplies per layer)
    batch_size = [4, 8, 16]         # sequences per optimizer step
    warmup_steps = [10]             # optional; default: the trainer's rule
    band = 0.01                     # near-optimal runs: within 1% of each budget's best loss
    bootstrap = 200                 # resamples for the intervals on eta_opt(C), B_opt(C)

References: DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Sec. 3.1 and Fig. 2 (an LR x batch
grid per budget; the band of runs within 0.25% of the best).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from scaling.sweep import tables

if TYPE_CHECKING:
    from scaling.sweep.spec import SweepConfig

from scaling.fit.resampling import MAX_RESAMPLES

DEFAULT_BAND = 0.0025
"""DeepSeek-AI 2024, Sec. 3.1, Fig. 3: runs within 0.25% of the minimum generalization error."""


@dataclass(frozen=True, kw_only=True)
class TuneGrid:
    """Hyperparameter values crossed at every planned run of a sweep."""

    lr: tuple[float, ...]
    batch_size: tuple[int, ...]
    warmup_steps: tuple[int, ...] = ()
    band: float = DEFAULT_BAND
    bootstrap: int = 200
    chooses_runs: ClassVar[bool] = False
    """A [tune] grid multiplies the runs the spec plans (scaling.sweep.tables.SpecTable)."""

    def __post_init__(self) -> None:
        if not self.lr or any(not (math.isfinite(v) and v > 0) for v in self.lr):
            raise ValueError(f"tune.lr must list positive learning rates, got {list(self.lr)}")
        if not self.batch_size or any(not isinstance(b, int) or b < 1 for b in self.batch_size):
            raise ValueError(f"tune.batch_size must list positive integers (sequences), got {list(self.batch_size)}")
        if any(not isinstance(w, int) or w < 0 for w in self.warmup_steps):
            raise ValueError(f"tune.warmup_steps must list non-negative integers, got {list(self.warmup_steps)}")
        if not (math.isfinite(self.band) and 0 <= self.band < 1):
            raise ValueError(f"tune.band must be a fraction in [0, 1), got {self.band!r}")
        if not isinstance(self.bootstrap, int) or not (self.bootstrap == 0 or 2 <= self.bootstrap <= MAX_RESAMPLES):
            raise ValueError(f"tune.bootstrap must be 0 or 2 to {MAX_RESAMPLES:,} resamples, got {self.bootstrap!r}")

    def count(self) -> int:
        """How many points `points` gives."""
        return len(self.lr) * len(self.batch_size) * max(1, len(self.warmup_steps))

    def points(self) -> list[dict[str, Any]]:
        """TrainConfig overrides, one per grid point (lr x batch_size x warmup_steps)."""
        warmups: tuple[int | None, ...] = self.warmup_steps or (None,)
        return [{"lr": lr, "batch_size": b, **({} if w is None else {"warmup_steps": w})}
                for lr, b, w in itertools.product(self.lr, self.batch_size, warmups)]

    def check(self, name: str, spec: SweepConfig) -> None:
        """[train] may not set what the grid sets."""
        tuned = sorted(set(spec.train) & {"lr", "batch_size"})
        if tuned:
            raise ValueError(f"[train] may not set {', '.join(tuned)} when [{name}] grids them")


def parse_tune(table: Any) -> TuneGrid:
    """A TuneGrid from a parsed [tune] table."""
    if not isinstance(table, dict):
        raise ValueError(f"[tune] must be a table, got {table!r}")
    unknown = sorted(set(table) - {"lr", "batch_size", "warmup_steps", "band", "bootstrap"})
    if unknown:
        raise ValueError(f"unknown keys in [tune]: {', '.join(unknown)}")
    for key in ("lr", "batch_size"):
        if not isinstance(table.get(key), list):
            raise ValueError(f"tune.{key} must be a list, got {table.get(key)!r}")
    if not isinstance(table.get("warmup_steps", []), list):
        raise ValueError(f"tune.warmup_steps must be a list, got {table['warmup_steps']!r}")
    try:
        lrs = tuple(float(v) for v in table["lr"])
        band = float(table.get("band", DEFAULT_BAND))
    except (TypeError, ValueError):
        raise ValueError("tune.lr and tune.band must be numbers") from None
    return TuneGrid(lr=lrs, batch_size=tuple(table["batch_size"]), warmup_steps=tuple(table.get("warmup_steps", [])),
                    band=band, bootstrap=table.get("bootstrap", 200))


tables.register("tune", parse_tune)
