"""Compute-optimal plans: for a FLOP budget (or a model or data size), each law's params, tokens,
loss and a realisable shape, with GPU time when hardware is given.

Planning reads only the `LawEstimate` interface, so a published preset and a user's fit plug in
alike. Every plan carries the law that made it, its parameter convention and budget convention.

References: the laws' own (scaling.laws); GPU arithmetic in scaling.hardware.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

from scaling.config import ModelConfig
from scaling.document import Document, renamed, to_plain
from scaling.fit.result import extrapolation_note
from scaling.flops import MAX_FLOPS, MIN_FLOPS, check_budget, count_params, positive_number, suggest_shape
from scaling.hardware import Hardware
from scaling.laws.base import LawEstimate
from scaling.laws.registry import get_law
from scaling.laws.presets import convert_params
from scaling.planning.schedule import ScheduleChoice

SCHEMA = "scaling.Plan/2"
PLAN_V1_FIELDS = {"law": "label", "law_form": "law"}
"""Plan/1 (and PlanReport/1) called the label `law` and the registry key `law_form`."""
DEFAULT_VOCAB_SIZE = 32000
"""Vocabulary for suggested shapes: Chinchilla's SentencePiece vocabulary (Hoffmann et al. 2022, Sec. 4.1)."""
DEFAULT_SEQ_LEN = 2048
"""Context for suggested shapes: Chinchilla's and Gopher's 2048 (Hoffmann et al. 2022, Table A1)."""
LOSS_CAVEAT = ("losses are in nats/token on each law's own data and tokenizer (see `scaling laws`); "
               "losses of laws fitted on different data or tokenizers are not comparable")


@dataclass(frozen=True, kw_only=True)
class Plan(Document):
    """One law's answer. JSON keys are the field names (`flops` is the budget, `loss` the
    predicted loss: the names the CLI's JSON uses)."""

    SCHEMA: ClassVar[str] = SCHEMA
    OLD_SCHEMAS: ClassVar[tuple[str, ...]] = ("scaling.Plan/1",)

    label: str
    """Label of the law estimate: a preset name or a fit's label."""
    law: str
    """Registry key of its functional form (scaling.laws.registry.get_law)."""
    params: float
    """Parameters, in `params_convention`."""
    tokens: float
    tokens_per_param: float
    flops: float
    """Training FLOPs of the plan: the budget, or what a --params/--tokens plan computed."""
    loss: float | None
    """Predicted loss, nats/token on the law's own data; None when the law predicts none."""
    loss_interval: tuple[float, float] | None = None
    """Interval on `loss` when the estimate has one (fits), else None."""
    params_interval: tuple[float, float] | None = None
    """Interval on the compute-optimal params at `flops` when the estimate has one (fits)."""
    tokens_interval: tuple[float, float] | None = None
    """Interval on the compute-optimal tokens at `flops` when the estimate has one (fits)."""
    interval_level: float | None = None
    """Level of the intervals (0.95: 95%, percentile over bootstrap draws); None without intervals."""
    params_convention: str
    """"total" or "non-embedding"."""
    budget_convention: str
    """How the law reads the FLOP budget ("C = 6 N D", Kaplan's "C = 2 C_min", ...)."""
    flops_method: str = "6ND"
    shape: ModelConfig | None = None
    """A realisable shape whose count (in `params_convention`) is within 5% of `params`."""
    shape_params: int | None = None
    """Exact count of `shape`, in `params_convention`."""
    gpu_hours: float | None = None
    days: float | None = None
    details: dict[str, float] = field(default_factory=dict)
    """Law-specific extras (Kaplan: batch_tokens, steps_min)."""
    fit: dict[str, str] | None = None
    """For fitted laws: {"law": ..., "data_digest": ...}; None for presets."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["shape"] = self.shape.to_dict() if self.shape is not None else None
        for name in ("loss_interval", "params_interval", "tokens_interval"):
            out[name] = list(getattr(self, name)) if getattr(self, name) is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Read `to_dict` output, or a Plan/1 body (no `label`: its fields renamed)."""
        data = dict(data) if "label" in data else renamed(data, PLAN_V1_FIELDS)
        if data.get("shape") is not None:
            data["shape"] = ModelConfig(**data["shape"])
        for name in ("loss_interval", "params_interval", "tokens_interval"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class PlanReport(Document):
    """Plans from several laws for one request, and the assumptions behind them."""

    SCHEMA: ClassVar[str] = "scaling.PlanReport/3"
    OLD_SCHEMAS: ClassVar[tuple[str, ...]] = ("scaling.PlanReport/1", "scaling.PlanReport/2")

    flops: float | None
    """The FLOP budget asked for (None for --params/--tokens requests)."""
    params: float | None = None
    tokens: float | None = None
    params_convention: str = "total"
    """Convention of the requested `params`."""
    hardware: Hardware | None = None
    plans: tuple[Plan, ...]
    assumptions: tuple[str, ...] = ()
    schedule: ScheduleChoice | None = None
    """The LR schedule the plans assume and, from a curve fit, other schedules' loss cost (`--schedule`);
    None when none was stated (PlanReport/2 had no such field)."""

    _frame_rows = "plans"

    def to_dict(self) -> dict[str, Any]:
        return {"flops": self.flops, "params": self.params, "tokens": self.tokens,
                "params_convention": self.params_convention,
                "hardware": self.hardware.to_dict() if self.hardware else None,
                "plans": [p.to_dict() for p in self.plans], "assumptions": list(self.assumptions),
                "schedule": to_plain(self.schedule)}


def plan(estimate: LawEstimate, flops: float, *, hardware: Hardware | None = None,
         vocab_size: int = DEFAULT_VOCAB_SIZE, seq_len: int = DEFAULT_SEQ_LEN) -> Plan:
    """The compute-optimal plan of `estimate` for a training budget of `flops` FLOPs."""
    budget = check_budget(positive_number("flops", flops))
    params, tokens = (_scalar(x) for x in estimate.optimal(budget))
    return _build(estimate, params, tokens, budget, hardware, vocab_size, seq_len)


def plan_for_params(estimate: LawEstimate, params: float, *, params_convention: str = "total",
                    hardware: Hardware | None = None, vocab_size: int = DEFAULT_VOCAB_SIZE,
                    seq_len: int = DEFAULT_SEQ_LEN) -> Plan:
    """Tokens and FLOPs for which `params` (in `params_convention`) is `estimate`'s optimum.

    A model size in the other convention is converted with Pearce & Song 2024's relation
    (scaling.laws.presets.convert_params).
    """
    target = float(convert_params(positive_number("params", params), source=params_convention,
                                  target=estimate.params_convention))
    budget = _invert(lambda c: _scalar(estimate.optimal(c)[0]), target, "params")
    return plan(estimate, budget, hardware=hardware, vocab_size=vocab_size, seq_len=seq_len)


def plan_for_tokens(estimate: LawEstimate, tokens: float, *, hardware: Hardware | None = None,
                    vocab_size: int = DEFAULT_VOCAB_SIZE, seq_len: int = DEFAULT_SEQ_LEN) -> Plan:
    """Params and FLOPs for which `tokens` is `estimate`'s compute-optimal data size."""
    budget = _invert(lambda c: _scalar(estimate.optimal(c)[1]), positive_number("tokens", tokens), "tokens")
    return plan(estimate, budget, hardware=hardware, vocab_size=vocab_size, seq_len=seq_len)


def plan_report(estimates: Sequence[LawEstimate], *, flops: float | None = None, params: float | None = None,
                tokens: float | None = None, params_convention: str = "total",
                hardware: Hardware | None = None, vocab_size: int = DEFAULT_VOCAB_SIZE,
                seq_len: int = DEFAULT_SEQ_LEN) -> PlanReport:
    """Plans of every estimate for exactly one of `flops`, `params`, `tokens`."""
    given = [name for name, value in (("flops", flops), ("params", params), ("tokens", tokens)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of flops, params, tokens (got {', '.join(given) or 'none'})")
    if not estimates:
        raise ValueError("no law to plan with")
    shape_options = {"hardware": hardware, "vocab_size": vocab_size, "seq_len": seq_len}
    if flops is not None:
        plans = [plan(e, flops, **shape_options) for e in estimates]  # type: ignore[arg-type]
    elif params is not None:
        plans = [plan_for_params(e, params, params_convention=params_convention, **shape_options)  # type: ignore[arg-type]
                 for e in estimates]
    else:
        assert tokens is not None
        plans = [plan_for_tokens(e, tokens, **shape_options) for e in estimates]  # type: ignore[arg-type]
    return PlanReport(flops=flops, params=params, tokens=tokens, params_convention=params_convention,
                      hardware=hardware, plans=tuple(plans),
                      assumptions=_assumptions(estimates, plans, hardware, params, params_convention,
                                               f"shapes: vocab {vocab_size}, context {seq_len}, d_ff = 4 d_model, "
                                               "d_model / n_layer near 64 (scaling.flops.suggest_shape)"))


def _build(estimate: LawEstimate, params: float, tokens: float, budget: float, hardware: Hardware | None,
           vocab_size: int, seq_len: int) -> Plan:
    loss, interval = None, None
    if get_law(estimate.law).predicts_loss:
        loss = _scalar(estimate.predict(params, tokens))
        if hasattr(estimate, "predict_interval"):  # fitted laws (FitResult) carry intervals
            try:
                low, high = estimate.predict_interval(params, tokens)
                interval = (_scalar(low), _scalar(high))
            except ValueError:  # a fit without bootstrap draws has no interval: report none
                interval = None
    spans: dict[str, tuple[float, float]] = {}
    if hasattr(estimate, "optimal_interval") and getattr(estimate, "samples", None):
        # Fits with bootstrap draws: intervals on N_opt, D_opt and the loss there at this budget.
        spans = {k: (_scalar(low), _scalar(high)) for k, (low, high) in estimate.optimal_interval(budget).items()}
        interval = spans.get("loss", interval)
    shape = suggest_shape(params, vocab_size=vocab_size, seq_len=seq_len,
                          params_convention=estimate.params_convention)
    counts = count_params(shape)
    digest = getattr(estimate, "data_digest", None)
    convention = getattr(estimate, "budget_convention", "C = 6 N D")
    # Kaplan's Table 6 gives D separately (6 N D is about 0.9 C): label what the flops are, not 6ND.
    method = "6ND" if math.isclose(6.0 * params * tokens, budget, rel_tol=1e-6) else \
        f"{estimate.law}: {convention.split(':')[0]}, D from the law (6ND = {6.0 * params * tokens / budget:.3g} C)"
    details = estimate.details(budget) if hasattr(estimate, "details") else {}
    return Plan(label=estimate.label, law=estimate.law, params=params, tokens=tokens,
                tokens_per_param=tokens / params, flops=budget, loss=loss, loss_interval=interval,
                params_interval=spans.get("params"), tokens_interval=spans.get("tokens"),
                interval_level=float(estimate.level) if interval is not None or spans else None,  # type: ignore[attr-defined]
                params_convention=estimate.params_convention,
                budget_convention=convention, flops_method=method, shape=shape,
                shape_params=counts.total if estimate.params_convention == "total" else counts.non_embedding,
                gpu_hours=hardware.gpu_hours(budget) if hardware else None,
                days=hardware.days(budget) if hardware else None,
                details={k: float(v) for k, v in details.items()},
                fit={"law": estimate.law, "data_digest": digest} if digest else None)


def _invert(function: Callable[[float], float], target: float, name: str) -> float:
    """C with function(C) = target, for an increasing, near-power-law function: secant in log-log."""
    x0, x1 = 20.0, 21.0  # log10 FLOPs
    y0, y1 = math.log10(function(10**x0)), math.log10(function(10**x1))
    goal = math.log10(target)
    for _ in range(100):
        if abs(y1 - goal) < 1e-13 or y1 == y0:
            break
        x0, x1 = x1, x1 + (goal - y1) * (x1 - x0) / (y1 - y0)
        if not -50 < x1 < 100:
            break
        y0, y1 = y1, math.log10(function(10**x1))
    if not (abs(y1 - goal) < 1e-9 and math.log10(MIN_FLOPS) <= x1 <= math.log10(MAX_FLOPS)):
        raise ValueError(f"{name} {target:g} is outside what the law can plan for (budgets {MIN_FLOPS:g} to "
                         f"{MAX_FLOPS:g} FLOPs)")
    return float(10**x1)


def _assumptions(estimates: Sequence[LawEstimate], plans: Sequence[Plan], hardware: Hardware | None,
                 params: float | None, params_convention: str, shape_note: str) -> tuple[str, ...]:
    notes = [f"{p.label}: params are {p.params_convention}; budget read as {p.budget_convention}"
             for p in plans if p.params_convention != "total" or p.budget_convention != "C = 6 N D"]
    if len(notes) < len(plans):
        notes.append(("other laws" if notes else "all laws") + ": params are total (embeddings counted); "
                     "budget C = 6 N D")
    if params is not None and any(e.params_convention != params_convention for e in estimates):
        notes.append(f"--params read as {params_convention}; converted for laws of the other convention "
                     "with N_total = N_nonemb + 47491 N_nonemb^(1/3) (Pearce & Song 2024)")
    notes.append(shape_note)
    if hardware is not None:
        notes.append(f"hardware: {hardware.gpus} x {hardware.gpu} at MFU {hardware.mfu:g} "
                     f"({hardware.flops_per_second:.3g} FLOP/s achieved)")
    if any(p.loss is not None for p in plans):
        notes.append(LOSS_CAVEAT)
        fitted = [p.label for e, p in zip(estimates, plans) if getattr(e, "data_digest", None) and p.loss is not None]
        if fitted:
            notes.append(f"{', '.join(fitted)}: loss in the unit of the loss column fitted (nats/token only "
                         "if the runs logged it so)")
    for estimate, plan in zip(estimates, plans):
        top = (getattr(estimate, "data_range", None) or {}).get("flops", [None, None])[1]
        note = extrapolation_note(plan.flops, top) if top and plan.flops else None
        if note:
            notes.append(f"{plan.label}: {note}")
    return tuple(notes)


def _scalar(value: object) -> float:
    """A one-element result (scalar or array of any shape) as a float."""
    return float(np.ravel(np.asarray(value, dtype=float))[0])
