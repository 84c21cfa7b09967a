"""One entry point for the questions past "N and D for C": `plan_beyond` picks the planner from
the request (unique tokens, inference demand, target loss, price), runs it for every law asked
for, and returns a `BeyondReport` whose JSON states its conventions and assumptions.

References: see scaling.planning.data_constrained, .inference, .target, .cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from scaling.document import Document, from_plain, renamed
from scaling.hardware import Hardware
from scaling.laws.base import LawEstimate
from scaling.laws.registry import get_law
from scaling.laws.presets import PRESETS
from scaling.planning.optimal import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE, LOSS_CAVEAT, Plan, PlanReport, plan_report
from scaling.planning.common import BUDGET_CONVENTION, FLOPS_CONVENTION
from scaling.planning.cost import Cost, cost_of
from scaling.planning.data_constrained import DataConstrainedPlan, plan_data_constrained
from scaling.planning.inference import InferencePlan, plan_inference
from scaling.planning.target import TargetPlan, plan_for_loss

SCHEMA = "scaling.BeyondReport/2"
QUESTIONS = ("data-constrained", "inference", "target-loss", "cost")


@dataclass(frozen=True, kw_only=True)
class PricedPlan:
    """A compute-optimal plan (scaling.planning.optimal.Plan) and what its training costs."""

    plan: Plan
    cost: Cost

    def to_dict(self) -> dict[str, Any]:
        return {**self.plan.to_dict(), "cost": self.cost.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PricedPlan:
        data = dict(data)
        return cls(cost=from_plain(Cost, data.pop("cost")), plan=Plan.from_dict(data))


@dataclass(frozen=True, kw_only=True)
class BeyondReport(Document):
    """Results of one question for several laws, with the request and the assumptions behind them."""

    SCHEMA: ClassVar[str] = SCHEMA
    OLD_SCHEMAS: ClassVar[tuple[str, ...]] = ("scaling.BeyondReport/1",)

    question: str
    """One of QUESTIONS."""
    request: dict[str, float | None]
    """The quantities asked with: flops, unique_tokens, inference_tokens, loss, price_per_gpu_hour."""
    results: tuple[Any, ...]
    """DataConstrainedPlan, InferencePlan, TargetPlan or PricedPlan, one per law."""
    hardware: Hardware | None = None
    assumptions: tuple[str, ...] = ()
    conventions: dict[str, str] = field(default_factory=lambda: {"flops": FLOPS_CONVENTION,
                                                                 "budget": BUDGET_CONVENTION})

    _frame_rows = "results"

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "request": self.request,
                "hardware": self.hardware.to_dict() if self.hardware else None, "conventions": self.conventions,
                "results": [r.to_dict() for r in self.results], "assumptions": list(self.assumptions)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BeyondReport:
        """Read `to_dict` output; each result is read as its question's plan type. A BeyondReport/1
        result called its label `law` (a priced plan is read as a Plan/1 body)."""
        data = dict(data)
        if data.get("question") not in QUESTIONS:
            raise ValueError(f"question must be one of {', '.join(QUESTIONS)}, got {data.get('question')!r}")
        result_type = _RESULT_TYPES[data["question"]]
        if result_type is not PricedPlan:
            results = tuple(from_plain(result_type, r if "label" in r else renamed(r, {"law": "label"}))
                            for r in data.pop("results"))
        else:
            results = tuple(PricedPlan.from_dict(r) for r in data.pop("results"))
        report: BeyondReport = from_plain(cls, {**data, "results": ()})
        return replace(report, results=results)


_RESULT_TYPES: dict[str, Any] = {"data-constrained": DataConstrainedPlan, "inference": InferencePlan,
                                 "target-loss": TargetPlan, "cost": PricedPlan}
"""Question -> the type of its results (what `BeyondReport.from_dict` reads them as)."""

def plan_beyond(estimates: Sequence[LawEstimate] | None = None, *, flops: float | None = None,
                params: float | None = None, tokens: float | None = None, params_convention: str = "total",
                unique_tokens: float | None = None, inference_tokens: float | None = None,
                loss: float | None = None, hardware: Hardware | None = None,
                price_per_gpu_hour: float | None = None, vocab_size: int = DEFAULT_VOCAB_SIZE,
                seq_len: int = DEFAULT_SEQ_LEN) -> BeyondReport:
    """Answer the question the options pose; `estimates` None means every preset that can answer it
    (with `unique_tokens`, only the data-constrained ones). `vocab_size`, `seq_len`: suggested shapes."""
    question = _question(flops, params, tokens, unique_tokens, inference_tokens, loss, hardware, price_per_gpu_hour)
    chosen = list(estimates) if estimates else _default_estimates(question, unique_tokens is not None)
    money = {"hardware": hardware, "price_per_gpu_hour": price_per_gpu_hour}
    notes: list[str] = []
    if question == "data-constrained":
        assert flops is not None and unique_tokens is not None
        results: list[Any] = [plan_data_constrained(e, flops, unique_tokens, **money) for e in chosen]  # type: ignore[arg-type]
        notes += [f"unique tokens U = {unique_tokens:.3g}; epochs = tokens / U; repeated tokens and excess params "
                  "discounted as in Muennighoff et al. 2023, Eq. 5-7",
                  "penalty: loss against the same law's optimum at the same C with unlimited data (U >= D); "
                  "'unlimited plan on U' trains that optimum on the U unique tokens anyway"]
    elif question == "inference":
        assert inference_tokens is not None
        results = [plan_inference(e, inference_tokens, flops=flops, loss=loss, **money)  # type: ignore[arg-type]
                   for e in chosen]
        notes += [f"total FLOPs = 6 N D_train + 2 N T with T = {inference_tokens:.3g} inference tokens "
                  "(Sardana et al. 2024); both plans reach the same loss"]
    elif question == "target-loss":
        assert loss is not None
        results = [plan_for_loss(e, loss, unique_tokens=unique_tokens, **money) for e in chosen]  # type: ignore[arg-type]
        notes += ["least compute: where the law's compute-optimal frontier L*(C) reaches the loss"]
    else:
        report = plan_report(chosen, flops=flops, params=params, tokens=tokens, params_convention=params_convention,
                             hardware=hardware, vocab_size=vocab_size, seq_len=seq_len)
        return _priced(report, price_per_gpu_hour)
    if hardware is not None:
        notes.append(_hardware_note(hardware, price_per_gpu_hour)
                     + ("; cost is of training the inference-optimal model" if question == "inference" else ""))
    notes.append(LOSS_CAVEAT)
    request = {"flops": flops, "unique_tokens": unique_tokens, "inference_tokens": inference_tokens,
               "loss": loss, "price_per_gpu_hour": price_per_gpu_hour}
    return BeyondReport(question=question, request=request, results=tuple(results), hardware=hardware,
                        assumptions=tuple(notes))


def _question(flops: float | None, params: float | None, tokens: float | None, unique_tokens: float | None,
              inference_tokens: float | None, loss: float | None, hardware: Hardware | None,
              price_per_gpu_hour: float | None) -> str:
    """Which planner the options ask for; ValueError for combinations none answers."""
    if price_per_gpu_hour is not None and hardware is None:
        raise ValueError("`price_per_gpu_hour` needs `hardware` (a100, h100, h200)")
    sized = [name for name, value in (("`params`", params), ("`tokens`", tokens)) if value is not None]
    if sized and (unique_tokens is not None or inference_tokens is not None or loss is not None):
        raise ValueError(f"{sized[0]} does not combine with `unique_tokens`, `inference_tokens` or `loss`")
    if inference_tokens is not None:
        if unique_tokens is not None:
            raise ValueError("`inference_tokens` does not combine with `unique_tokens`")
        if (flops is None) == (loss is None):
            raise ValueError("`inference_tokens` needs exactly one of a budget (`flops`) or `loss`")
        return "inference"
    if loss is not None:
        if flops is not None:
            raise ValueError("`loss` asks for the compute that reaches a loss: drop the budget (or add `inference_tokens`)")
        return "target-loss"
    if unique_tokens is not None:
        if flops is None:
            raise ValueError("`unique_tokens` needs a budget (`flops`)")
        return "data-constrained"
    if price_per_gpu_hour is None:
        raise ValueError("nothing beyond a plain plan asked: give `unique_tokens`, `inference_tokens`, `loss` "
                         "or `price_per_gpu_hour`")
    return "cost"


def _default_estimates(question: str, unique_tokens: bool = False) -> list[LawEstimate]:
    if question == "data-constrained" or unique_tokens:  # only data-constrained laws model repeats
        return [p for p in PRESETS.values() if p.law == "data_constrained"]
    if question in ("inference", "target-loss"):
        return [p for p in PRESETS.values() if get_law(p.law).predicts_loss]
    return list(PRESETS.values())


def _priced(report: PlanReport, price_per_gpu_hour: float | None) -> BeyondReport:
    assert report.hardware is not None
    results = tuple(PricedPlan(plan=p, cost=cost_of(p.flops, report.hardware, price_per_gpu_hour))
                    for p in report.plans)
    request = {"flops": report.flops, "params": report.params, "tokens": report.tokens,
               "price_per_gpu_hour": price_per_gpu_hour}
    notes = [n for n in report.assumptions if not n.startswith("hardware:")]
    notes.append(_hardware_note(report.hardware, price_per_gpu_hour))
    conventions = {"flops": "training C = 6 N D (as each plan's budget_convention states)",
                   "budget": "each plan's budget_convention (Kaplan's C = 2 C_min; others C = 6 N D)",
                   "params": "each plan's params_convention"}
    return BeyondReport(question="cost", request=request, results=results, hardware=report.hardware,
                        assumptions=tuple(notes), conventions=conventions)


def _hardware_note(hardware: Hardware, price_per_gpu_hour: float | None) -> str:
    price = f" at ${price_per_gpu_hour:g} per GPU-hour" if price_per_gpu_hour is not None else ""
    return (f"hardware: {hardware.gpus} x {hardware.gpu} at MFU {hardware.mfu:g} "
            f"({hardware.flops_per_second:.3g} FLOP/s achieved){price}")
