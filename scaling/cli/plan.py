"""`scaling plan`, `scaling compare`, `scaling laws`: parse options, call the library, render.

Imports stay light (numpy, no scipy/pandas/torch/matplotlib) so `scaling plan` starts fast.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Any

import typer

from scaling.cli._app import (Format, app, examples, nonnegative_finite, positive_finite, positive_int, price,
                              unit_interval)
from scaling.analysis.compare import Comparison, compare_range
from scaling.analysis.compare import compare as compare_laws
from scaling.cli import render
from scaling.cli.render import Output, Table, pct, quantity, show, si
from scaling.cli._beyond import render_beyond
from scaling.hardware import DEFAULT_MFU, GPU_PEAK_FLOPS
from scaling.laws.base import LawEstimate
from scaling.laws.presets import PRESETS, listing
from scaling.fit.result import resolve_law
from scaling.planning.optimal import DEFAULT_SEQ_LEN, DEFAULT_VOCAB_SIZE, PlanReport
from scaling.planning.report import BeyondReport
from scaling.planning.request import PlanRequest, answer
from scaling.planning.schedule import ScheduleChoice


class Convention(str, Enum):
    total = "total"
    non_embedding = "non-embedding"


def _known_laws(names: list[str] | None) -> list[str] | None:
    for name in names or []:
        try:
            resolve_law(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return names


GPU = Enum("GPU", {name: name for name in GPU_PEAK_FLOPS}, type=str)  # type: ignore[misc]
"""The GPUs scaling.hardware knows, as a typed choice (derived from its table, not kept by hand)."""


Flops = Annotated[float | None, typer.Option("--flops", help="Training budget C in FLOPs.", callback=positive_finite)]
Laws = Annotated[list[str] | None, typer.Option("--law", help="Preset name or fit .json (repeatable; default: every preset).",
                                                callback=_known_laws)]
Fmt = Annotated[Format, typer.Option("--format", help="Output format.")]


@app.command("plan", epilog=examples(
    "scaling plan --flops 1e21",
    "scaling plan --params 7e9 --law epoch2024 --gpu h100 --gpus 64",
    "scaling plan --loss 2.1 --law epoch2024 --gpu h100 --price-per-gpu-hour 2.5",
))
def plan_command(
    flops: Flops = None,
    params: Annotated[float | None, typer.Option(help="Model size N: each law's optimal tokens and FLOPs for it.",
                                                 callback=positive_finite)] = None,
    tokens: Annotated[float | None, typer.Option(help="Data size D: each law's optimal params and FLOPs for it.",
                                                 callback=positive_finite)] = None,
    law: Laws = None,
    gpu: Annotated[GPU | None, typer.Option(help="GPU for wall-clock time and cost.", case_sensitive=False)] = None,
    gpus: Annotated[int | None, typer.Option(help="GPUs in parallel (default 1).", callback=positive_int)] = None,
    mfu: Annotated[float | None, typer.Option(help=f"Model FLOPs utilisation in (0, 1] (default {DEFAULT_MFU}).",
                                              callback=unit_interval)] = None,
    gpu_hours: Annotated[float | None, typer.Option(help="Budget in GPU-hours (needs --gpu) instead of --flops.",
                                                    callback=positive_finite)] = None,
    days: Annotated[float | None, typer.Option(help="Budget in wall-clock days on --gpus x --gpu.",
                                               callback=positive_finite)] = None,
    params_convention: Annotated[Convention, typer.Option(help="Whether --params counts embeddings.")] = Convention.total,
    vocab_size: Annotated[int, typer.Option(help="Vocabulary of suggested shapes.", callback=positive_int)] = DEFAULT_VOCAB_SIZE,
    seq_len: Annotated[int, typer.Option(help="Context of suggested shapes.", callback=positive_int)] = DEFAULT_SEQ_LEN,
    unique_tokens: Annotated[float | None, typer.Option(help="Unique tokens available: data-constrained plan "
                                                        "(Muennighoff et al. 2023).", callback=positive_finite)] = None,
    inference_tokens: Annotated[float | None, typer.Option(help="Tokens served in inference: inference-aware plan "
                                                           "(Sardana et al. 2024).", callback=nonnegative_finite)] = None,
    loss: Annotated[float | None, typer.Option(help="Target loss: the least compute reaching it (or, with "
                                               "--inference-tokens, the loss to hold).", callback=positive_finite)] = None,
    price_per_gpu_hour: Annotated[float | None, typer.Option(help="Dollars per GPU-hour (needs --gpu).",
                                                             callback=price)] = None,
    schedule: Annotated[str | None, typer.Option(help="The LR schedule the plan assumes, e.g. "
                                                      "'wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt' (stated in "
                                                      "the report; costed against others with --curve-fit).")] = None,
    curve_fit: Annotated[str | None, typer.Option(help="A loss-curve fit .json (scaling fit-curve --out): each "
                                                       "plan's loss difference under other schedules (needs "
                                                       "--schedule).")] = None,
    format: Fmt = Format.table,
) -> None:
    """Compute-optimal params, tokens and loss for a budget, from every published law built in."""
    report = answer(PlanRequest(
        laws=tuple(law or ()), flops=flops, params=params, tokens=tokens, gpu_hours=gpu_hours, days=days,
        gpu=None if gpu is None else gpu.value, gpus=gpus, mfu=mfu, params_convention=params_convention.value,
        vocab_size=vocab_size, seq_len=seq_len, unique_tokens=unique_tokens, inference_tokens=inference_tokens,
        loss=loss, price_per_gpu_hour=price_per_gpu_hour, schedule=schedule, curve_fit=curve_fit))
    show(render_beyond(report) if isinstance(report, BeyondReport) else _render_plan(report), format)


@app.command("compare", epilog=examples(
    "scaling compare --flops 5.76e23 --law kaplan2020 --law chinchilla-unrounded",
    "scaling compare --range 1e19:1e25 --under chinchilla-unrounded",
))
def compare_command(
    flops: Flops = None,
    range_: Annotated[str | None, typer.Option("--range", help="Budgets LO:HI in FLOPs, one row per decade.")] = None,
    law: Laws = None,
    under: Annotated[list[str] | None, typer.Option(help="Loss law(s) to score with (default: every preset that predicts a loss).",
                                                    callback=_known_laws)] = None,
    format: Fmt = Format.table,
) -> None:
    """Kaplan against Chinchilla: each allocation's loss and excess under each loss-predicting law."""
    if (flops is None) == (range_ is None):
        raise ValueError("give exactly one of --flops or --range")
    allocations, scorers = _estimates(law), _estimates(under)
    if range_ is None:
        result = compare_laws(allocations, scorers, [flops])  # type: ignore[list-item]
    else:
        result = compare_range(allocations, scorers, *_parse_range(range_))
    show(_render_compare(result, table_by_decade=range_ is not None), format)


@app.command("laws", epilog=examples("scaling laws", "scaling laws --format json"))
def laws_command(format: Fmt = Format.table) -> None:
    """List the built-in laws with source, parameter convention, data set and tokenizer."""
    show(_render_laws(), format)


# -- parsing helpers -------------------------------------------------------------------------


def _estimates(names: list[str] | None) -> list[LawEstimate]:
    return [resolve_law(name) for name in names] if names else list(PRESETS.values())


def _parse_range(text: str) -> tuple[float, float]:
    parts = text.split(":")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--range must be LO:HI with positive finite FLOPs, e.g. 1e19:1e25; got {text!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in (low, high)):
        raise ValueError(f"--range ends must be positive finite numbers; got {text!r}")
    return low, high


# -- rendering -------------------------------------------------------------------------------


def _render_plan(report: PlanReport) -> Output:
    records = []
    for p in report.plans:
        shape = p.shape
        row: dict[str, Any] = {
            "label": p.label, "params": p.params, "params_convention": p.params_convention, "tokens": p.tokens,
            "tokens_per_param": p.tokens_per_param, "flops": p.flops, "loss": p.loss,
            "n_layer": shape.n_layer if shape else None, "d_model": shape.d_model if shape else None,
            "n_head": shape.n_head if shape else None, "shape_params": p.shape_params}
        if report.hardware is not None:
            row.update(gpu_hours=p.gpu_hours, days=p.days)
        records.append(row)
    rows = [[r["label"], si(r["params"]), r["params_convention"], si(r["tokens"]), f"{r['tokens_per_param']:.1f}",
             render.flops(r["flops"]), render.loss(r["loss"]), f"{r['n_layer']}L d{r['d_model']} {r['n_head']}h"]
            + ([quantity(r["gpu_hours"]), quantity(r["days"])] if report.hardware else []) for r in records]
    headers = ["law", "params", "convention", "tokens", "tokens/param", "flops", "loss", "shape"]
    headers += ["gpu-hours", "days"] if report.hardware else []
    details = [f"{p.label}: " + ", ".join(f"{k} {si(v)}" for k, v in p.details.items())
               for p in report.plans if p.details]
    details += [f"{p.label}: {p.interval_level:.0%} bootstrap intervals " + ", ".join(
        f"{name} [{si(span[0])}, {si(span[1])}]" if name != "loss" else f"loss [{span[0]:.3f}, {span[1]:.3f}]"
        for name, span in (("params", p.params_interval), ("tokens", p.tokens_interval), ("loss", p.loss_interval))
        if span is not None) for p in report.plans if p.params_interval is not None]
    tables, notes = [Table(headers, rows)], list(report.assumptions) + details
    if report.schedule is not None:
        schedule_table, schedule_notes = _render_schedule(report.schedule)
        tables += schedule_table
        notes += schedule_notes
    return Output(tables, notes, records, report.to_json())


def _render_schedule(choice: ScheduleChoice) -> tuple[list[Table], list[str]]:
    """The schedule the plans assume (a note) and, with a curve fit, one row per schedule with its
    loss difference from the chosen one at each plan's length."""
    shape = (f" (cooldown over {choice.cooldown_fraction:.0%} of the steps, {choice.cooldown_shape})"
             if choice.kind == "wsd" else "")
    notes = [f"schedule: {choice.schedule}{shape}", *choice.notes]
    if not choice.plans:
        return [], notes
    headers = ["schedule"] + [f"{p.label} ({si(p.steps)} steps{', extrapolated' if p.extrapolated else ''})"
                              for p in choice.plans]
    rows = [[cost.schedule + (" (chosen)" if i == 0 else "")]
            + [f"{p.costs[i].delta:+.4f} ({pct(p.costs[i].delta_pct)})" for p in choice.plans]
            for i, cost in enumerate(choice.plans[0].costs)]
    notes.append("schedule costs: final loss minus the chosen schedule's, nats/token (and %), under the curve law")
    return [Table(headers, rows, align="l" + "r" * len(choice.plans))], notes


def _render_compare(result: Comparison, table_by_decade: bool) -> Output:
    scorers = list(dict.fromkeys(e.scorer for e in result.evaluations))
    score = {(e.flops, e.allocation, e.scorer): e for e in result.evaluations}
    if table_by_decade:
        labels = list(dict.fromkeys(a.label for a in result.allocations))
        params = {(a.flops, a.label): a.params_total for a in result.allocations}
        headers = ["flops"] + [f"{label} N_total (vs {scorers[0]})" for label in labels]
        rows = [[f"{c:.0e}"] + [f"{si(params[c, label])} ({pct(score[c, label, scorers[0]].excess_pct)})"
                                for label in labels] for c in result.budgets]
    else:
        headers = ["allocation", "params", "convention", "N_total", "tokens/param"]
        headers += [f"loss under {s} (excess)" for s in scorers]
        rows = [[a.label, si(a.params), a.params_convention, si(a.params_total), f"{a.tokens / a.params:.1f}"]
                + [f"{render.loss(score[a.flops, a.label, s].loss, 4)} ({pct(score[a.flops, a.label, s].excess_pct)})"
                   for s in scorers]
                for a in result.allocations]
    return Output([Table(headers, rows)], list(result.notes), [e.__dict__ for e in result.evaluations],
                  result.to_json())


def _render_laws() -> Output:
    result = listing()
    blocks: list[Table | str] = []
    for r in result.laws:
        coefficients = " ".join(f"{k}={v:.6g}" for k, v in r["coefficients"].items())
        lines = [f"{r['name']}  (form {r['law']}; params {r['params_convention']}; "
                 f"{'predicts loss' if r['predicts_loss'] else 'allocation only'})",
                 f"  source:       {r['source']}", f"  data:         {r['dataset']}",
                 f"  tokenizer:    {r['tokenizer']}", f"  budget:       {r['budget_convention']}",
                 f"  coefficients: {coefficients}"] + [f"  note:         {n}" for n in r["notes"]]
        blocks.append("\n".join(lines))
    blocks[-1] += "\n"  # a blank line before the caveat
    return Output(blocks, [result.note], [{**r, "notes": "; ".join(r["notes"])} for r in result.laws],
                  result.to_json())
