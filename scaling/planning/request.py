"""`scaling plan` as one library call: which of the options states the budget (FLOPs, a model
size, a data size, GPU-hours or days on named hardware), and which planner answers (the
compute-optimal plan, or the data-constrained, inference-aware, target-loss or priced one of
`plan_beyond`), and the LR schedule the plan assumes with other schedules' cost
(scaling.planning.schedule). Errors name the arguments in backticks, as every library error does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scaling.fit.result import resolve_law
from scaling.flops import MAX_FLOPS, MIN_FLOPS
from scaling.hardware import DEFAULT_MFU, GPU_PEAK_FLOPS, Hardware
from scaling.laws.presets import PRESETS
from scaling.planning.optimal import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE, PlanReport, plan_report
from scaling.planning.report import BeyondReport, plan_beyond
from scaling.planning.schedule import choose_schedule


@dataclass(frozen=True, kw_only=True)
class PlanRequest:
    """The question: exactly one budget (a `loss` target may stand alone), the laws that answer
    it, and what the plan is priced and shaped with."""

    laws: tuple[str, ...] = ()
    """Preset names or fit files (scaling.fit.result.resolve_law); empty: the planner's default laws."""
    flops: float | None = None
    params: float | None = None
    tokens: float | None = None
    gpu_hours: float | None = None
    """A budget in GPU-hours of `gpu`."""
    days: float | None = None
    """A budget in wall-clock days on `gpus` x `gpu`."""
    gpu: str | None = None
    """A key of scaling.hardware.GPU_PEAK_FLOPS: wall-clock time and cost."""
    gpus: int | None = None
    mfu: float | None = None
    params_convention: str = "total"
    vocab_size: int = DEFAULT_VOCAB_SIZE
    seq_len: int = DEFAULT_SEQ_LEN
    unique_tokens: float | None = None
    inference_tokens: float | None = None
    loss: float | None = None
    price_per_gpu_hour: float | None = None
    schedule: str | None = None
    """The LR schedule the plans assume, in text form (scaling.schedules): stated in the report."""
    curve_fit: str | None = None
    """A loss-curve fit file: the loss cost of other schedules at each plan's length (needs `schedule`)."""

    @property
    def beyond(self) -> bool:
        """Whether the question goes past N and D for C (then `plan_beyond` answers)."""
        return any(v is not None for v in (self.unique_tokens, self.inference_tokens, self.loss,
                                           self.price_per_gpu_hour))


def budget(request: PlanRequest) -> tuple[Hardware | None, float | None]:
    """The hardware (if any) and the FLOP budget (None when a model or data size states it, or a
    loss target stands alone); ValueError unless exactly one budget is given."""
    given = [f"`{name}`" for name in ("flops", "params", "tokens", "gpu_hours", "days")
             if getattr(request, name) is not None]
    if len(given) > 1 or (not given and request.loss is None):
        raise ValueError("give exactly one of `flops`, `params`, `tokens`, `gpu_hours`, `days`"
                         + (f" (got {' and '.join(given)})" if given else ""))
    if request.gpu is None:
        for name in ("gpu_hours", "days", "gpus", "mfu"):
            if getattr(request, name) is not None:
                raise ValueError(f"`{name}` needs `gpu` ({', '.join(GPU_PEAK_FLOPS)})")
        return None, request.flops
    hardware = Hardware(gpu=request.gpu, gpus=request.gpus or 1, mfu=request.mfu or DEFAULT_MFU)
    for name, to_flops in (("gpu_hours", hardware.flops_for_gpu_hours), ("days", hardware.flops_for_days)):
        value = getattr(request, name)
        if value is None:
            continue
        flops = to_flops(value)  # inf past float range: out of range, said below
        if not (math.isfinite(flops) and MIN_FLOPS <= flops <= MAX_FLOPS):
            # name the option given, not the FLOPs derived from it
            raise ValueError(f"`{name}` {value:g} on {hardware.gpus} x {hardware.gpu} gives {flops:.3g} FLOPs, "
                             f"outside the supported budgets {MIN_FLOPS:g} to {MAX_FLOPS:g}")
        return hardware, flops
    return hardware, request.flops


def answer(request: PlanRequest) -> PlanReport | BeyondReport:
    """The plans for `request`: `plan_beyond` past N and D for C, else `plan_report` (every preset
    when no law is named)."""
    hardware, flops = budget(request)
    if request.curve_fit is not None and request.schedule is None:
        raise ValueError("`curve_fit` needs `schedule`: the schedule the plan assumes, which the others are costed against")
    if request.schedule is not None and request.beyond:
        raise ValueError("`schedule` applies to the compute-optimal plan, not with `unique_tokens`, `inference_tokens`, "
                         "`loss` or `price_per_gpu_hour`")
    estimates = [resolve_law(name) for name in request.laws]
    if request.beyond:
        return plan_beyond(estimates or None, flops=flops, params=request.params, tokens=request.tokens,
                           params_convention=request.params_convention, unique_tokens=request.unique_tokens,
                           inference_tokens=request.inference_tokens, loss=request.loss, hardware=hardware,
                           price_per_gpu_hour=request.price_per_gpu_hour, vocab_size=request.vocab_size,
                           seq_len=request.seq_len)
    report = plan_report(estimates or list(PRESETS.values()), flops=flops, params=request.params,
                         tokens=request.tokens, params_convention=request.params_convention, hardware=hardware,
                         vocab_size=request.vocab_size, seq_len=request.seq_len)
    if request.schedule is None:
        return report
    return replace(report, schedule=choose_schedule(request.schedule, [(p.label, p.tokens) for p in report.plans],
                                                    request.curve_fit))
