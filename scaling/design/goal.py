"""What a study is for and what it may spend: the `scaling design` options and a sweep spec's
[design] table (the loop run by `scaling sweep`), registered with the sweep spec's plug-in
tables. No numerical imports: specs load it cheaply."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from scaling.sweep import tables

if TYPE_CHECKING:
    from scaling.sweep.spec import SweepConfig

from scaling.flops import MAX_FLOPS


SMALLEST_RUN = 1e9
"""FLOPs below which a run teaches nothing about scaling (6 x 10k parameters x 17k tokens)."""


@dataclass(frozen=True, kw_only=True)
class Goal:
    """What the study is for, and what it may spend."""

    target: float
    """The budget the answer is wanted at (FLOPs)."""
    study_flops: float
    """FLOPs the study may still spend (this proposal's budget)."""
    approach: str = "2"
    quantity: str = "params"
    level: float = 0.9
    max_run_flops: float | None = None
    """Largest single run (default: study_flops / 10)."""
    min_run_flops: float | None = None
    """Smallest single run (default: max_run_flops / 1000)."""
    until_width: float | None = None
    """Relative width to reach (the cheapest design reaching it wins; the loop stops there)."""
    span_decades: float = 0.0
    """The study's budgets (runs already trained included) must span at least this many decades
    (a back-test at the largest budget wants room below it)."""
    prior: str = "chinchilla"
    """A chinchilla-form preset or an Approach 3 fit file: the belief before any run."""
    prior_spread: float = 3.0
    """The prior's N_opt at the largest run lies within x/this of the law's with 90% probability."""
    round_fraction: float = 0.5
    """The loop spends at most this share of the remaining study FLOPs per round."""
    max_rounds: int = 6
    chooses_runs: ClassVar[bool] = True
    """A [design] study chooses its runs round by round (scaling.sweep.tables.SpecTable)."""

    def points(self) -> list[dict[str, Any]]:
        """No overrides: the designer chooses whole runs, not their hyperparameters."""
        return [{}]

    def count(self) -> int:
        return 1

    def check(self, name: str, spec: SweepConfig) -> None:
        """A designed study combines with no other plug-in table."""
        others = sorted(set(spec.tables) - {name})
        if others:
            raise ValueError(f"[{name}] and [{others[0]}] do not combine: tune first, then design with the rules found")

    def __post_init__(self) -> None:
        for name in ("target", "study_flops", "max_run_flops", "min_run_flops", "until_width"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
            if name != "until_width" and value is not None and value > MAX_FLOPS:
                raise ValueError(f"{name} must be at most {MAX_FLOPS:g} FLOPs, got {value!r}")
        if self.approach not in ("2", "3"):
            raise ValueError(f"approach must be 2 or 3, got {self.approach!r}")
        if self.quantity not in ("params", "loss"):
            raise ValueError(f"quantity must be params or loss, got {self.quantity!r}")
        if self.quantity == "loss" and self.approach == "2":
            raise ValueError("quantity loss needs approach 3: Approach 2 predicts no loss")
        if self.smallest_run < SMALLEST_RUN:
            raise ValueError(f"the smallest run would have {self.smallest_run:.3g} FLOPs, under {SMALLEST_RUN:.0e} "
                             "(a 10k-parameter model on 17k tokens): raise study_flops, max_run_flops or "
                             "min_run_flops")
        if self.smallest_run > self.largest_run:
            raise ValueError(f"min_run_flops {self.smallest_run:.3g} is above max_run_flops {self.largest_run:.3g}")
        if not (isinstance(self.span_decades, (int, float)) and 0 <= self.span_decades <= 12):
            raise ValueError(f"span_decades must be between 0 and 12, got {self.span_decades!r}")
        if self.span_decades > math.log10(self.largest_run / self.smallest_run) + 1e-9:
            raise ValueError(f"span_decades {self.span_decades:g} is wider than the runs allowed, "
                             f"{self.smallest_run:.3g} to {self.largest_run:.3g} FLOPs")
        if not self.prior_spread >= 1:
            raise ValueError(f"prior_spread must be >= 1, got {self.prior_spread!r}")
        if not 0 < self.round_fraction <= 1:
            raise ValueError(f"round_fraction must be in (0, 1], got {self.round_fraction!r}")
        if not (isinstance(self.max_rounds, int) and self.max_rounds >= 1):
            raise ValueError(f"max_rounds must be a positive integer, got {self.max_rounds!r}")
        if not isinstance(self.prior, str) or not self.prior:
            raise ValueError(f"prior must be a preset name or a fit file, got {self.prior!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level}")

    @property
    def largest_run(self) -> float:
        return self.max_run_flops or self.study_flops / 10

    @property
    def smallest_run(self) -> float:
        return self.min_run_flops or self.largest_run / 1000


_NUMBERS = {"target", "study_flops", "max_run_flops", "min_run_flops", "until_width", "level", "prior_spread",
            "round_fraction", "span_decades"}


def parse_design(value: Any) -> Goal:
    """A Goal from a sweep spec's parsed [design] table."""
    table = tables.table(value, "design", {f.name for f in fields(Goal)})
    for key in ("target", "study_flops"):
        if key not in table:
            raise ValueError(f"[design] needs {key}")
    values = {k: (tables.number(v, f"design.{k}") if k in _NUMBERS else v) for k, v in table.items()}
    if "approach" in values:
        values["approach"] = str(values["approach"])
    if "max_rounds" in values:
        values["max_rounds"] = tables.integer(values["max_rounds"], "design.max_rounds")
    try:
        return Goal(**values)
    except ValueError as exc:
        raise ValueError(f"[design]: {exc}") from None


tables.register("design", parse_design)
