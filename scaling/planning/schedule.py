"""The LR schedule a plan assumes (`scaling plan --schedule`), and, from a fitted loss-curve law
(`--curve-fit`), the loss cost of other schedules at each plan's length: cosine, constant, WSD
with linear and 1-sqrt cooldowns over 10/20/30% of the steps, and DeepSeek's stepped schedule,
each as its final-loss difference from the chosen one.

A curve law describes one model at one peak LR, batch and warmup (the runs it was fitted on), so
a plan's tokens D become steps = D / batch_tokens of those runs, at their peak LR and warmup; the
differences are the fitted model's, carried to the plan's length.

References:
    Tissue et al. 2024, arXiv:2408.11029 (the curve law predicts any schedule's final loss);
    Hagele et al. 2024, arXiv:2405.18392 (WSD cooldown fractions and the 1-sqrt shape);
    DeepSeek-AI 2024, arXiv:2401.02954, Sec. 2.3 (the stepped schedule).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scaling.schedules import check_text, parse_schedule

ALTERNATIVES = ("cosine", "constant",
                *(f"wsd:cooldown_fraction={fraction},cooldown_shape={shape}"
                  for shape in ("linear", "1-sqrt") for fraction in (0.1, 0.2, 0.3)),
                "stepped")
"""The schedules each plan's chosen one is compared with."""
EXTRAPOLATION = 2.0
"""A plan extrapolates the curve law when its steps exceed the fitted runs' longest by more than this factor."""
MAX_PLAN_STEPS = 10**7
"""Most steps a plan's schedules are evaluated over (each schedule's areas are summed step by
step, ten schedules per plan): past it the plan gets a note instead of costs."""


@dataclass(frozen=True, kw_only=True)
class ScheduleCost:
    """One schedule's final loss under the curve law at a plan's length, against the chosen one."""

    schedule: str
    """Text form (scaling.schedules)."""
    loss: float
    """The curve law's final loss, nats/token (of the fitted model)."""
    delta: float
    """loss - the chosen schedule's loss, nats/token (positive: worse than the chosen one)."""
    delta_pct: float
    """delta as a percentage of the chosen schedule's loss."""


@dataclass(frozen=True, kw_only=True)
class PlanSchedules:
    """The schedules compared at one plan's length."""

    label: str
    """The plan's law label."""
    tokens: float
    steps: int
    """tokens / the fitted runs' batch tokens."""
    extrapolated: bool
    """steps > EXTRAPOLATION x the fitted runs' longest."""
    costs: tuple[ScheduleCost, ...]
    """The chosen schedule first (delta 0), then ALTERNATIVES."""


@dataclass(frozen=True, kw_only=True)
class ScheduleChoice:
    """The schedule a plan assumes and, with a curve fit, what other schedules would cost."""

    schedule: str
    """The chosen schedule's text form, every shape field spelled out."""
    kind: str
    cooldown_fraction: float | None = None
    """wsd: fraction of the steps spent cooling down; None for other kinds."""
    cooldown_shape: str | None = None
    """wsd: "linear" or "1-sqrt"; None for other kinds."""
    curve_fit: str | None = None
    """The curve fit's label; None when no --curve-fit was given."""
    fitted_params: int | None = None
    """Total params of the model the curve law was fitted on."""
    batch_tokens: int | None = None
    peak_lr: float | None = None
    warmup_steps: int | None = None
    fitted_steps: int | None = None
    """The fitted runs' longest, in steps."""
    plans: tuple[PlanSchedules, ...] = ()
    notes: tuple[str, ...] = ()


def choose_schedule(text: Any, plans: Sequence[tuple[str, float]], curve_fit: Path | str | None = None) -> ScheduleChoice:
    """The schedule `text` stated, and with `curve_fit` (a loss-curve fit file) the cost of the
    other schedules at each plan's (label, tokens). ValueError naming `schedule` or `curve_fit`."""
    try:
        check_text(text)
    except ValueError as exc:
        raise ValueError(f"`schedule`: {exc}") from None
    chosen = parse_schedule(text, peak_lr=1.0, steps=1000)
    wsd = chosen.kind == "wsd"
    stated = ScheduleChoice(schedule=chosen.to_text(), kind=chosen.kind,
                            cooldown_fraction=chosen.cooldown_fraction if wsd else None,
                            cooldown_shape=chosen.cooldown_shape if wsd else None)
    if curve_fit is None:
        return replace(stated, notes=("no curve fit given (--curve-fit): the loss cost of other schedules is not "
                                    "estimated",))
    # lazy: scipy and pandas (the curve fit's reader) stay out of `scaling plan`'s start-up
    from scaling.fit.curves import predict_curve, read_curve_fit

    fit = read_curve_fit(Path(curve_fit))
    runs = _fitted_runs(fit.options.get("curve_runs"), curve_fit)
    longest = max(runs, key=lambda run: run["steps"])
    batch, peak, warmup = int(longest["batch_tokens"]), float(longest["peak_lr"]), int(longest["warmup_steps"])
    notes = [f"schedule differences from the curve law {fit.label} fitted at N = {longest['params']:,} params "
             f"(batch {batch:,} tokens, peak LR {peak:g}, warmup {warmup} steps, runs up to {longest['steps']:,} steps): "
             "a plan's tokens are read as steps of that batch at that LR; the differences are that model's"]
    if len({(r["batch_tokens"], r["peak_lr"], r["warmup_steps"]) for r in runs}) > 1:
        notes.append("the fitted runs differ in batch, peak LR or warmup: the longest run's are used")
    texts = list(dict.fromkeys([stated.schedule, *(parse_schedule(t, peak_lr=1.0, steps=1000).to_text()
                                                   for t in ALTERNATIVES)]))
    results, cache = [], {}
    for label, tokens in plans:
        steps = max(1, round(tokens / batch))
        if steps > MAX_PLAN_STEPS:
            notes.append(f"{label}: {tokens:.3g} tokens are {steps:.3g} steps of {batch:,} tokens, past the "
                         f"{MAX_PLAN_STEPS:.0e} steps schedules are compared over: no schedule costs")
            continue
        if steps not in cache:
            cache[steps] = [predict_curve(fit, schedule=t, steps=steps, peak_lr=peak, warmup_steps=warmup,
                                          points=1).final_loss for t in texts]
        losses = cache[steps]
        extrapolated = steps > EXTRAPOLATION * longest["steps"]
        if extrapolated:
            notes.append(f"{label}: extrapolated: {steps:,} steps, {steps / longest['steps']:.3g}x the fitted runs' "
                         f"longest ({longest['steps']:,})")
        results.append(PlanSchedules(label=label, tokens=float(tokens), steps=steps, extrapolated=extrapolated,
                                     costs=tuple(ScheduleCost(schedule=t, loss=float(v), delta=float(v - losses[0]),
                                                              delta_pct=float(100 * (v - losses[0]) / losses[0]))
                                                 for t, v in zip(texts, losses))))
    return replace(stated, curve_fit=fit.label, fitted_params=int(longest["params"]), batch_tokens=batch, peak_lr=peak,
                 warmup_steps=warmup, fitted_steps=int(longest["steps"]), plans=tuple(results), notes=tuple(notes))


def _fitted_runs(runs: Any, source: Path | str) -> list[dict[str, Any]]:
    """The fit's runs with their batch tokens, peak LR, warmup, steps and params (ValueError
    naming `curve_fit` for a fit that kept none, written before fit-curve kept them)."""
    keys = {"batch_tokens": int, "peak_lr": float, "warmup_steps": int, "steps": int, "params": int}

    def valid(run: Any) -> bool:
        return isinstance(run, dict) and all(
            isinstance(run.get(k), (int, float)) and not isinstance(run.get(k), bool) and run[k] >= 0 for k in keys) \
            and run["batch_tokens"] > 0 and run["peak_lr"] > 0 and run["steps"] > 0
    if not isinstance(runs, list) or not runs or not all(valid(run) for run in runs):
        raise ValueError(f"`curve_fit`: {source}: the fit keeps no batch tokens, peak LR, warmup and steps of its "
                         "runs (options.curve_runs); refit it with `scaling fit-curve` on the runs")
    return runs
