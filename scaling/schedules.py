"""Learning-rate schedules as data: a frozen `Schedule` (its kind, the peak, the run's steps, the
warmup and the kind's shape fields), its vectorised `lr_at`, and the one parser of the text form
that `TrainConfig.schedule` and `--schedule` take: `KIND[:field=value,...]`, e.g.
`wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt`.

Every kind warms up linearly over `warmup_steps` (lr = peak (step + 1) / warmup), then:
    cosine    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Sec. 3.1: one cosine cycle
              to min_lr_ratio * peak, reached exactly after the last step;
    wsd       warmup-stable-decay: Hu et al. 2024 (MiniCPM), arXiv:2404.06395; Hagele et al. 2024,
              arXiv:2405.18392, Sec. 3 (cooldown shapes `linear` and `1-sqrt`): the peak until the
              final `cooldown_fraction` of the steps, then a cooldown to min_lr_ratio * peak;
    stepped   DeepSeek-AI 2024 (DeepSeek LLM), arXiv:2401.02954, Sec. 2.3: the peak, then
              `factors` (0.316, 0.1) of it from `milestones` (80%, 90%) of the steps (= tokens);
    constant  the peak after warmup (a WSD run's stable phase, branched later).

Steps are 0-based optimizer steps; lr_at(s) is the LR optimizer step s uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

KINDS = ("cosine", "wsd", "stepped", "constant")
COOLDOWN_SHAPES = ("linear", "1-sqrt")
DEEPSEEK_MILESTONES = (0.8, 0.9)
"""DeepSeek LLM, Sec. 2.3: the LR drops after 80% and after 90% of the training tokens."""
DEEPSEEK_FACTORS = (0.316, 0.1)
"""DeepSeek LLM, Sec. 2.3: to 31.6% of the maximum, then to 10%."""

SHAPE_FIELDS: dict[str, tuple[str, ...]] = {
    "cosine": ("min_lr_ratio",),
    "wsd": ("cooldown_fraction", "cooldown_shape", "min_lr_ratio"),
    "stepped": ("milestones", "factors"),
    "constant": (),
}
"""The fields the text form may set for each kind (the run's peak, steps and warmup come from
the run, not the text)."""


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """One run's learning rate at every step."""

    kind: str = "cosine"
    """One of KINDS."""
    peak_lr: float
    """The LR after warmup (the run's `lr`)."""
    steps: int
    """Optimizer steps in the run."""
    warmup_steps: int = 0
    """Linear warmup steps (0 = none)."""
    min_lr_ratio: float = 0.1
    """cosine and wsd: the final LR as a fraction of the peak (Hoffmann et al. 2022: 10x decay)."""
    cooldown_fraction: float = 0.2
    """wsd: fraction of the steps spent cooling down (Hagele et al. 2024 use 0.2 as a default)."""
    cooldown_shape: str = "linear"
    """wsd: "linear" or "1-sqrt" (Hagele et al. 2024, Eq. in Sec. 3: 1 - sqrt(t) over the cooldown)."""
    milestones: tuple[float, ...] = DEEPSEEK_MILESTONES
    """stepped: fractions of the steps at which the LR drops, increasing, in (0, 1)."""
    factors: tuple[float, ...] = DEEPSEEK_FACTORS
    """stepped: the LR as a fraction of the peak from each milestone on."""

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, KINDS)
        if not (_is_number(self.peak_lr) and 0 < self.peak_lr < math.inf):
            raise ValueError(f"schedule.peak_lr must be a positive finite number, got {self.peak_lr!r}")
        for name, minimum in (("steps", 1), ("warmup_steps", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"schedule.{name} must be an integer >= {minimum}, got {value!r}")
        if not (_is_number(self.min_lr_ratio) and 0 <= self.min_lr_ratio < 1):
            raise ValueError(f"schedule.min_lr_ratio must be in [0, 1), got {self.min_lr_ratio!r}")
        if not (_is_number(self.cooldown_fraction) and 0 < self.cooldown_fraction <= 1):
            raise ValueError(f"schedule.cooldown_fraction must be in (0, 1], got {self.cooldown_fraction!r}")
        _check_choice("cooldown_shape", self.cooldown_shape, COOLDOWN_SHAPES)
        marks, factors = self.milestones, self.factors
        if (not isinstance(marks, tuple) or not marks or not all(_is_number(m) and 0 < m < 1 for m in marks)
                or any(a >= b for a, b in zip(marks, marks[1:]))):
            raise ValueError(f"schedule.milestones must be increasing fractions in (0, 1), got {marks!r}")
        if (not isinstance(factors, tuple) or len(factors) != len(marks)
                or not all(_is_number(f) and 0 < f < math.inf for f in factors)):
            raise ValueError(f"schedule.factors must be {len(marks)} positive numbers (one per milestone), "
                             f"got {factors!r}")

    def lr_at(self, step: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The LR of 0-based optimizer step(s) `step` (any shape; steps past the end keep the
        last step's LR)."""
        s = np.asarray(step, dtype=np.float64)
        peak, warmup, steps = float(self.peak_lr), self.warmup_steps, self.steps
        floor = self.min_lr_ratio * peak
        if self.kind == "cosine":
            progress = np.minimum(1.0, (s + 1 - warmup) / max(1, steps - warmup))
            after = floor + (peak - floor) * 0.5 * (1.0 + np.cos(np.pi * progress))
        elif self.kind == "wsd":
            start = self.cooldown_start
            progress = np.clip((s + 1 - start) / max(1, steps - start), 0.0, 1.0)
            drop = progress if self.cooldown_shape == "linear" else np.sqrt(progress)
            after = np.where(s < start, peak, peak + (floor - peak) * drop)
        elif self.kind == "stepped":
            after = np.full_like(s, peak)
            for mark, factor in zip(self.milestones, self.factors):
                after = np.where(s >= round(mark * steps), peak * factor, after)
        else:
            after = np.full_like(s, peak)
        return np.asarray(np.where(s < warmup, peak * (s + 1) / max(1, warmup), after), dtype=np.float64)

    @property
    def cooldown_start(self) -> int:
        """wsd: the first step of the cooldown (never inside the warmup)."""
        return max(self.warmup_steps, self.steps - round(self.cooldown_fraction * self.steps))

    def to_text(self) -> str:
        """The text form of the shape fields (`parse_schedule` reads it back with the same run)."""
        parts = []
        for name in SHAPE_FIELDS[self.kind]:
            value = getattr(self, name)
            parts.append(f"{name}={'/'.join(repr(v) for v in value) if isinstance(value, tuple) else value}")
        return self.kind + (":" + ",".join(parts) if parts else "")


def parse_fields(text: Any) -> tuple[str, dict[str, Any]]:
    """The kind and shape fields of a schedule's text form `KIND[:field=value,...]`; ValueError
    (one line naming the field) when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"schedule must be text like 'cosine' or 'wsd:cooldown_fraction=0.2', got {text!r}")
    kind, colon, rest = text.strip().partition(":")
    _check_choice("kind", kind, KINDS)
    if colon and not rest.strip():
        raise ValueError(f"schedule: nothing after ':' in {text!r}")
    values: dict[str, Any] = {}
    for item in (part.strip() for part in rest.split(",") if colon):
        name, equals, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not equals or not raw:
            raise ValueError(f"schedule: expected field=value, got {item!r}")
        if name not in SHAPE_FIELDS[kind]:
            known = ", ".join(SHAPE_FIELDS[kind]) or "none"
            raise ValueError(f"schedule: unknown field {name!r} for {kind} (known: {known})")
        if name in values:
            raise ValueError(f"schedule.{name} given twice")
        values[name] = _parse_value(name, raw)
    return kind, values


def parse_schedule(text: Any, *, peak_lr: float, steps: int, warmup_steps: int = 0,
                   **defaults: Any) -> Schedule:
    """A `Schedule` from its text form and the run's peak LR, steps and warmup; `defaults` give
    shape fields the text leaves out (the TrainConfig's min_lr_ratio, its decay_fraction as
    cooldown_fraction). ValueError, one line naming the field, on bad input."""
    kind, values = parse_fields(text)
    known = {f.name for f in fields(Schedule)}
    assert set(defaults) <= known, defaults
    return Schedule(kind=kind, peak_lr=peak_lr, steps=steps, warmup_steps=warmup_steps, **{**defaults, **values})


def run_schedule(text: Any, *, peak_lr: float, steps: int, warmup_steps: int, min_lr_ratio: float,
                 decay_fraction: float) -> Schedule:
    """A training run's schedule from its config's fields: the text form, with the config's
    min_lr_ratio (cosine, wsd) and decay_fraction (as the WSD cooldown fraction) where the text
    leaves them out."""
    kind, _ = parse_fields(text)
    defaults: dict[str, Any] = {"min_lr_ratio": min_lr_ratio} if kind in ("cosine", "wsd") else {}
    if kind == "wsd":
        defaults["cooldown_fraction"] = decay_fraction
    return parse_schedule(text, peak_lr=peak_lr, steps=steps, warmup_steps=warmup_steps, **defaults)


def check_text(text: Any) -> None:
    """ValueError (one line naming the field) unless `text` is a schedule's text form whose
    values are all valid, whatever run it is later applied to."""
    parse_schedule(text, peak_lr=1.0, steps=1)


def with_steps(schedule: Schedule, steps: int) -> Schedule:
    """The same schedule stretched over `steps` (a planned run of another length)."""
    return replace(schedule, steps=steps)


def _parse_value(name: str, raw: str) -> Any:
    if name == "cooldown_shape":
        return raw
    try:
        numbers = tuple(float(part) for part in raw.split("/"))
    except ValueError:
        raise ValueError(f"schedule.{name} must be a number{' list (a/b/...)' if name in ('milestones', 'factors') else ''}, "
                         f"got {raw!r}") from None
    if not all(math.isfinite(x) for x in numbers):
        raise ValueError(f"schedule.{name} must be finite, got {raw!r}")
    if name in ("milestones", "factors"):
        return numbers
    if len(numbers) != 1:
        raise ValueError(f"schedule.{name} must be one number, got {raw!r}")
    return numbers[0]


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"schedule.{name} must be one of {', '.join(choices)}, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
