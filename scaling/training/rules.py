"""Hyperparameter rules: the peak LR and batch a run of budget C trains with, from a rules file
(written by `scaling tune`) or the built-in DeepSeek preset. Pure, no torch.

A rules file is JSON tagged "scaling.TuneRules/1":

    {"schema": "scaling.TuneRules/1", "name": ..., "source": ...,
     "flops_convention": "6ND" | ... | "deepseek_md",   # how C is counted for the laws
     "lr": {"k": ..., "p": ..., "intervals": {"k": [lo, hi], "p": [lo, hi]}},   # eta_opt = k C^p
     "batch_tokens": {"k": ..., "p": ..., "intervals": {...}},                    # B_opt = k C^p
     "band": 0.01, "budgets": [...], "parametrization": "standard", "notes": [...]}

A TrainConfig uses one with `rules = "rules:PATH"` (or `rules = "deepseek"`): its LR (when `lr`
is None, times `lr_scale`) and batch (when `batch_size` is None, in whole sequences and shrunk to
keep `min_steps`, as the default batch rule is) come from the laws at the run's own C.

References:
    DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Sec. 3.1, Eq. 1, Fig. 3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from scaling.config import RULES_DEEPSEEK as DEEPSEEK
from scaling.config import FLOPS_METHODS
from scaling.config import RULES_PREFIX as PREFIX
from scaling.document import Document



@dataclass(frozen=True, kw_only=True)
class PowerRule:
    """y = k C^p with optional percentile intervals on k and p."""

    k: float
    p: float
    intervals: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k) and self.k > 0 and math.isfinite(self.p)):
            raise ValueError(f"a power rule needs k > 0 and a finite p, got k={self.k!r}, p={self.p!r}")

    def __call__(self, flops: float) -> float:
        return self.k * flops**self.p


@dataclass(frozen=True, kw_only=True)
class TuneRules(Document):
    """eta_opt(C) and B_opt(C) (tokens per step), with how C is counted and where they came from."""

    SCHEMA: ClassVar[str] = "scaling.TuneRules/1"

    name: str
    source: str
    flops_convention: str
    lr: PowerRule
    batch_tokens: PowerRule
    band: float | None = None
    """Relative loss band of the near-optimal runs the laws were fitted to (0.01 = 1%)."""
    budgets: tuple[float, ...] = ()
    parametrization: str = "standard"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.flops_convention not in FLOPS_METHODS:
            raise ValueError(f"flops_convention must be one of {', '.join(FLOPS_METHODS)}, "
                             f"got {self.flops_convention!r}")

    def to_json(self, *, indent: int | None = 2) -> str:
        """The rules file: keys sorted and a final newline, as rules files have always been written
        (`scaling tune` writes exactly this text)."""
        return json.dumps(self.to_document(), indent=indent, sort_keys=True, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuneRules:
        """Read `to_dict` output (numbers as floats; optional fields default; other keys ignored)."""
        return cls(name=str(data["name"]), source=str(data["source"]), flops_convention=data["flops_convention"],
                   lr=_rule(data["lr"]), batch_tokens=_rule(data["batch_tokens"]), band=data.get("band"),
                   budgets=tuple(float(b) for b in data.get("budgets", [])),
                   parametrization=str(data.get("parametrization", "standard")), notes=tuple(data.get("notes", [])))

    @classmethod
    def from_json(cls, text: str, where: str = "rules") -> TuneRules:
        """Read a rules file; ValueError with one line naming `where` (the file) when it is not one."""
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{where}: not JSON: {exc or 'nested too deeply'}") from None
        if not isinstance(doc, dict) or doc.get("schema") != cls.SCHEMA:
            raise ValueError(f"{where}: not a rules file (schema must be {cls.SCHEMA!r})")
        try:
            return cls.from_dict({k: v for k, v in doc.items() if k != "schema"})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad rules file: {exc}") from None


DEEPSEEK_RULES = TuneRules(
    name=DEEPSEEK, flops_convention="deepseek_md",
    source="DeepSeek-AI 2024, DeepSeek LLM, Sec. 3.1, Eq. 1 and Fig. 3: eta_opt = 0.3118 C^-0.1250, "
           "B_opt = 0.2920 C^0.3271 (C = M D, M = 72 n_layer d_model^2 + 12 n_layer d_model seq_len)",
    lr=PowerRule(k=0.3118, p=-0.1250), batch_tokens=PowerRule(k=0.2920, p=0.3271), band=0.0025,
    notes=("fitted on runs within 0.25% of the best generalization error per budget, 1e17-3e20 FLOPs",))
"""The built-in preset (DeepSeek-AI 2024, Sec. 3.1, Eq. 1, Fig. 3)."""


def load_rules(spec: str) -> TuneRules:
    """The rules a TrainConfig's `rules` names: "deepseek" or "rules:PATH" (a rules file)."""
    if spec == DEEPSEEK:
        return DEEPSEEK_RULES
    if not spec.startswith(PREFIX):
        raise ValueError(f"rules must be {DEEPSEEK!r} or 'rules:PATH' (a file `scaling tune` wrote), got {spec!r}")
    path = Path(spec[len(PREFIX):])
    if not path.is_file():
        raise ValueError(f"rules file not found: {path}")
    return _cached(str(path.resolve()), path.stat().st_mtime_ns)


_CACHE: dict[tuple[str, int], TuneRules] = {}


def _cached(path: str, mtime: int) -> TuneRules:
    # a sweep resolves every run's config (and its run_id) through here: read each file once
    if (path, mtime) not in _CACHE:
        _CACHE[(path, mtime)] = TuneRules.from_json(Path(path).read_text(), where=path)
    return _CACHE[(path, mtime)]


def _rule(doc: Mapping[str, Any]) -> PowerRule:
    return PowerRule(k=float(doc["k"]), p=float(doc["p"]),
                     intervals={k: [float(x) for x in v] for k, v in doc.get("intervals", {}).items()})
