"""WSD sweeps: each size's runs trained as cooldown branches of one constant-LR run.

A spec's `[wsd]` table turns its grid into families: the planned runs of one shape, seed and
plug-in point (their token counts D_1 < ... < D_k, from [isoflop] budgets or [grid] tokens /
tokens per parameter) become k cooldown branches of one stable run. The stable run trains at the
peak LR (after warmup) to the last branch's cooldown start and keeps its whole state after each
branch's cooldown start s_i; branch i starts from that state and trains D_i tokens in all under
`wsd` (the same peak, then a cooldown over its final `cooldown_fraction`). Every branch is one
run of the grid as a fit point (N, D_i, its final loss), for the stable run's FLOPs plus its own
cooldown: Hagele et al. 2024, arXiv:2405.18392, Sec. 3-4 (constant LR plus cooldown scales like
cosine; 1-sqrt cooldowns of 20% match it) and Hu et al. 2024 (MiniCPM), arXiv:2404.06395, Sec. 4.

A branch shares its path with its parent: hyperparameters are resolved once per family, on the
longest branch (as a cosine run of that length would resolve them), and every run of the family
trains with that peak LR, batch, warmup and logging interval. The branch's config names its
parent and step (`branch_from`), so both are part of its run id and its record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from scaling.config import TrainConfig, branch_parent, count_steps
from scaling.schedules import COOLDOWN_SHAPES
from scaling.sweep.tables import number, table
from scaling.training.hyperparams import resolve, run_id, schedule_of

WSD_KEYS = {"cooldown_fraction", "cooldown_shape", "min_lr_ratio", "keep_states"}


@dataclass(frozen=True, kw_only=True)
class Cooldowns:
    """The [wsd] table: how each family's branches cool down."""

    cooldown_fraction: float = 0.2
    """Share of each branch's steps spent cooling down (Hagele et al. 2024 use 20%)."""
    cooldown_shape: str = "1-sqrt"
    """"linear" or "1-sqrt" (Hagele et al. 2024, Sec. 3: 1-sqrt matches cosine with a shorter cooldown)."""
    min_lr_ratio: float | None = None
    """The LR a cooldown ends at, as a fraction of the peak; None = the runs' `min_lr_ratio` (0.1,
    as a cosine run decays to). Hagele et al. 2024 cool down to 0 (Sec. 3, Fig. 2)."""
    keep_states: bool = False
    """Keep the stable runs' kept states once every branch has finished (to branch more later);
    by default they are removed then (each is the run's whole optimizer state)."""

    def __post_init__(self) -> None:
        if self.min_lr_ratio is not None and not (
                isinstance(self.min_lr_ratio, (int, float)) and not isinstance(self.min_lr_ratio, bool)
                and 0 <= self.min_lr_ratio < 1):
            raise ValueError(f"wsd.min_lr_ratio must be a number in [0, 1), got {self.min_lr_ratio!r}")
        if not (isinstance(self.cooldown_fraction, (int, float)) and not isinstance(self.cooldown_fraction, bool)
                and 0 < self.cooldown_fraction < 1 and math.isfinite(self.cooldown_fraction)):
            raise ValueError(f"wsd.cooldown_fraction must be a number in (0, 1), got {self.cooldown_fraction!r}")
        if self.cooldown_shape not in COOLDOWN_SHAPES:
            raise ValueError(f"wsd.cooldown_shape must be one of {', '.join(COOLDOWN_SHAPES)}, "
                             f"got {self.cooldown_shape!r}")
        if not isinstance(self.keep_states, bool):
            raise ValueError(f"wsd.keep_states must be true or false, got {self.keep_states!r}")

    @property
    def schedule(self) -> str:
        """The branches' schedule in its text form (scaling.schedules)."""
        floor = "" if self.min_lr_ratio is None else f",min_lr_ratio={self.min_lr_ratio:g}"
        return f"wsd:cooldown_fraction={self.cooldown_fraction:g},cooldown_shape={self.cooldown_shape}{floor}"


def parse_wsd(value: Any) -> Cooldowns:
    """The [wsd] table of a sweep spec (errors name the field)."""
    t = table(value, "wsd", WSD_KEYS)
    fraction = number(t["cooldown_fraction"], "wsd.cooldown_fraction") if "cooldown_fraction" in t else 0.2
    floor = number(t["min_lr_ratio"], "wsd.min_lr_ratio") if "min_lr_ratio" in t else None
    return Cooldowns(cooldown_fraction=fraction, cooldown_shape=t.get("cooldown_shape", "1-sqrt"),
                     min_lr_ratio=floor, keep_states=t.get("keep_states", False))


@dataclass(frozen=True)
class Family:
    """One stable run and the cooldown branches that start from it (resolved, not yet linked:
    the parent's id is known once its config is final, e.g. its micro batch fitted)."""

    stable: TrainConfig
    branches: tuple[TrainConfig, ...]
    """By length; `branch_from` unset."""
    keys: tuple[Any, ...]
    """The planned runs' keys (scaling.sweep.spec.PlannedRun), one per branch, in order."""


def cooldown_start(cfg: TrainConfig) -> int:
    """The step after which a resolved WSD branch's cooldown starts (where it branches)."""
    return schedule_of(cfg, count_steps(cfg)).cooldown_start


def family(base: TrainConfig, tokens: list[int], cooldowns: Cooldowns, keys: tuple[Any, ...] = ()) -> Family:
    """The family of branches of `tokens` (each a branch's whole length) from `base`, a training
    config of the family's shape, seed and settings: resolved on the longest branch, so every run
    of the family shares its peak LR, batch, warmup and logging interval."""
    longest = resolve(replace(base, tokens=max(tokens), schedule=cooldowns.schedule))
    branches = tuple(replace(longest, tokens=t) for t in tokens)
    starts = [cooldown_start(b) for b in branches]
    for b, start in zip(branches, starts):
        if start < 1 or start >= count_steps(b):
            raise ValueError(f"a {b.tokens}-token branch has {count_steps(b)} steps: too few to branch after "
                             f"warmup and cool down over {cooldowns.cooldown_fraction:g} of them")
    batch_tokens = longest.batch_size * longest.model.seq_len  # type: ignore[operator]
    stable = replace(longest, tokens=max(starts) * batch_tokens, schedule="constant",
                     save_at=tuple(sorted(set(starts))))
    return Family(stable=stable, branches=branches, keys=keys)


def linked(fam: Family, fit: Callable[[TrainConfig], TrainConfig] = lambda c: c) -> list[TrainConfig]:
    """The family's final configs, the stable run first: each branch names its parent's id and
    its step. `fit` finishes each config (a placement's micro batch) before the ids are taken."""
    stable = fit(fam.stable)
    parent = run_id(stable)
    return [stable, *(replace(fit(b), branch_from=f"{parent}@{cooldown_start(b)}") for b in fam.branches)]


def trained_tokens(cfg: TrainConfig) -> int:
    """Tokens a run trains itself: a branch's cooldown (its path before is its parent's), any
    other run's whole length."""
    if cfg.branch_from is None:
        return cfg.tokens
    step = branch_parent(cfg.branch_from)[1]
    return (count_steps(cfg) - step) * cfg.batch_size * cfg.model.seq_len  # type: ignore[operator]
