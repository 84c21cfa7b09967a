"""Kaplan against Chinchilla: each law's allocation evaluated under each loss-predicting law.

For a budget C, every allocation (a `LawEstimate`'s optimum) gives a model size; under a loss
law it trains that size on the tokens the budget buys, D = C / (6 N), with N in the loss law's
parameter convention, and its loss is set against the loss law's own optimum at C.
Kaplan's N is non-embedding; under a total-N law it is converted with Pearce & Song 2024's
relation (and back with its inverse).

References:
    Hoffmann et al. 2022 (Chinchilla), App. D.4 (Kaplan's allocation read at C = 2 C_min).
    Pearce & Song 2024, arXiv:2406.12907: N_total = N_nonemb + 47491 N_nonemb^(1/3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from scaling.document import Document, from_plain, renamed
from scaling.flops import check_budget
from scaling.laws.base import LawEstimate
from scaling.laws.registry import get_law
from scaling.laws.presets import convert_params

MAX_DECADES = 30
"""Widest `compare_range`: the planners' budgets span 1e10 to 1e40 FLOPs (scaling.flops.MAX_FLOPS)."""


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """One law's compute-optimal allocation at one budget."""

    flops: float
    label: str
    """Label of the allocating law estimate: a preset name or a fit's label."""
    params: float
    """In `params_convention`."""
    tokens: float
    """The law's own optimal tokens (Kaplan's Table 6 D_opt for kaplan2020)."""
    params_convention: str
    params_total: float
    """`params` as total parameters (Pearce & Song 2024 when converted)."""


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """An allocation's model size trained on the whole budget, scored by a loss law."""

    flops: float
    allocation: str
    """Label of the allocating law estimate (`Allocation.label`)."""
    scorer: str
    """Label of the loss-predicting law estimate that scores it."""
    params: float
    """Model size in the scoring law's convention."""
    tokens: float
    """C / (6 params): the tokens the budget buys under the scoring law's accounting."""
    loss: float
    optimum_loss: float
    """The scoring law's loss at its own optimum for this budget."""
    excess: float
    """loss - optimum_loss, nats/token."""
    excess_pct: float
    """100 * excess / optimum_loss."""


@dataclass(frozen=True, kw_only=True)
class Comparison(Document):
    """Allocations of several laws at several budgets, each scored under the loss laws."""

    SCHEMA: ClassVar[str] = "scaling.Comparison/2"
    OLD_SCHEMAS: ClassVar[tuple[str, ...]] = ("scaling.Comparison/1",)

    budgets: tuple[float, ...]
    allocations: tuple[Allocation, ...]
    evaluations: tuple[Evaluation, ...]
    notes: tuple[str, ...]

    _frame_rows = "evaluations"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        """Read `to_dict` output, or a Comparison/1 body (its records called both labels `law`)."""
        data = dict(data)
        for key, name in (("allocations", "label"), ("evaluations", "scorer")):
            if key in data:
                data[key] = [r if name in r else renamed(r, {"law": name}) for r in data[key]]
        return from_plain(cls, data)


def compare(allocations: Sequence[LawEstimate], laws: Sequence[LawEstimate], budgets: Sequence[float]) -> Comparison:
    """Every allocation at every budget, scored under every loss-predicting law in `laws`."""
    if not allocations:
        raise ValueError("no allocation to compare")
    scorers = [law for law in laws if get_law(law.law).predicts_loss]
    if not scorers:
        raise ValueError(f"none of {', '.join(law.label for law in laws) or 'no laws'} predicts a loss")
    for budget in budgets:
        check_budget(budget)
    allocated, scored = [], []
    for budget in budgets:
        optimum = {law.label: float(law.predict(*law.optimal(budget))) for law in scorers}
        for estimate in allocations:
            params, tokens = (float(x) for x in estimate.optimal(budget))
            total = float(convert_params(params, source=estimate.params_convention, target="total"))
            allocated.append(Allocation(flops=budget, label=estimate.label, params=params, tokens=tokens,
                                        params_convention=estimate.params_convention, params_total=total))
            for law in scorers:
                scored.append(_evaluate(estimate, params, law, budget, optimum[law.label]))
    return Comparison(budgets=tuple(budgets), allocations=tuple(allocated), evaluations=tuple(scored),
                      notes=_notes(allocations, scorers))


def compare_range(allocations: Sequence[LawEstimate], laws: Sequence[LawEstimate], low: float,
                  high: float) -> Comparison:
    """`compare` at low, 10 low, 100 low, ... up to high (a budget per decade, at most MAX_DECADES)."""
    for name, value in (("low", low), ("high", high)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"`flops_range` {name} end must be a positive finite number, got {value!r}")
    if low > high:
        raise ValueError(f"`flops_range`: LO ({low:g}) must not exceed HI ({high:g})")
    span = math.log10(high) - math.log10(low)  # a difference of logs: high / low can overflow
    if span > MAX_DECADES:
        raise ValueError(f"`flops_range` {low:g}:{high:g} spans {span:.0f} decades; at most {MAX_DECADES} are compared")
    decades = int(math.floor(span + 1e-9))
    return compare(allocations, laws, [low * 10.0**k for k in range(decades + 1)])


def _evaluate(estimate: LawEstimate, params: float, law: LawEstimate, budget: float, optimum: float) -> Evaluation:
    N = float(convert_params(params, source=estimate.params_convention, target=law.params_convention))
    D = budget / (6.0 * N)
    loss = float(law.predict(N, D))
    return Evaluation(flops=budget, allocation=estimate.label, scorer=law.label, params=N, tokens=D, loss=loss,
                      optimum_loss=optimum, excess=loss - optimum, excess_pct=100.0 * (loss - optimum) / optimum)


def _notes(allocations: Sequence[LawEstimate], scorers: Sequence[LawEstimate]) -> tuple[str, ...]:
    notes = ["each allocation's model trains on the whole budget: tokens = C / (6 N), N in the scoring "
             "law's convention; excess is over the scoring law's own optimum at the same C"]
    for estimate in allocations:
        if estimate.params_convention != "total" or getattr(estimate, "budget_convention", "C = 6 N D") != "C = 6 N D":
            notes.append(f"{estimate.label}: params are {estimate.params_convention}; budget read as "
                         f"{getattr(estimate, 'budget_convention', 'C = 6 N D')}")
    if {e.params_convention for e in allocations} | {s.params_convention for s in scorers} != {"total"}:
        notes.append("parameter conventions converted with N_total = N_nonemb + 47491 N_nonemb^(1/3) "
                     "(Pearce & Song 2024)")
    notes.append("losses are nats/token on each scoring law's own data; compare excesses within a law, "
                 "not losses across laws fitted on different data or tokenizers")
    return tuple(notes)
