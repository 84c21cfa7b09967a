"""Rendering of `scaling.planning.BeyondReport` for `scaling plan` (table, json, csv): the
data-constrained, inference-aware, target-loss and priced plans. No logic: the library decides.
"""

from __future__ import annotations

from typing import Any

from scaling.cli.render import Output, Table, quantity
from scaling.planning import BeyondReport, Cost


_HEADERS = {"label": "law"}
"""Table headers other than the key's own spelling (the label column reads "law", as in every plan table)."""


def render_beyond(report: BeyondReport) -> Output:
    """The report as a table (one row per law), csv records and its JSON document."""
    rows = [_ROWS[report.question](r) for r in report.results]
    if report.hardware is not None:
        for row, result in zip(rows, report.results):
            row.update(_cost_columns(result.cost))
    keys = [k for k in rows[0] if any(row[k] is not None for row in rows)]  # e.g. no intervals for presets
    table = [[quantity(row[k]) for k in keys] for row in rows]
    headers = [_HEADERS.get(k) or k.replace("_pct", " %").replace("_95", " 95%").replace("_", " ") for k in keys]
    reasons = [f"{r.label}: {r.reason}" for r in report.results if getattr(r, "reason", None)]
    return Output([Table(headers, table)], reasons + list(report.assumptions), rows, report.to_json())


def _data_constrained(r: Any) -> dict[str, Any]:
    return {"label": r.label, "params": r.params, "tokens": r.tokens, "epochs": r.epochs, "loss": r.loss,
            "unlimited_params": r.unlimited_params, "unlimited_tokens": r.unlimited_tokens,
            "unlimited_loss": r.unlimited_loss, "penalty_pct": r.loss_penalty_pct,
            "unlimited_plan_loss_on_U": r.unlimited_allocation_loss}


def _inference(r: Any) -> dict[str, Any]:
    star, best = r.compute_optimal, r.inference_optimal
    return {"label": r.label, "loss": r.loss, "optimal_params": star.params, "optimal_tokens": star.tokens,
            "optimal_total_flops": star.total_flops, "inference_params": best.params,
            "inference_tokens": best.tokens, "inference_total_flops": best.total_flops,
            "saved_pct": r.flops_saved_pct, "inference_params_95": _range(r.params_interval)}


def _target(r: Any) -> dict[str, Any]:
    return {"label": r.label, "loss": r.loss, "flops": r.flops if r.reachable else "unreachable",
            "flops_95": _range(r.flops_interval), "params": r.params, "tokens": r.tokens,
            "tokens_per_param": r.tokens_per_param, "epochs": r.epochs, "floor": r.floor}


def _priced(r: Any) -> dict[str, Any]:
    p = r.plan
    return {"label": p.label, "params": p.params, "convention": p.params_convention, "tokens": p.tokens,
            "flops": p.flops, "loss": p.loss}


_ROWS = {"data-constrained": _data_constrained, "inference": _inference, "target-loss": _target, "cost": _priced}


def _cost_columns(cost: Cost | None) -> dict[str, Any]:
    if cost is None:
        return {"gpu_hours": None, "days": None, "dollars": None, "days_95": None, "dollars_95": None}
    return {"gpu_hours": cost.gpu_hours, "days": cost.days, "dollars": cost.dollars,
            "days_95": _range(cost.days_interval), "dollars_95": _range(cost.dollars_interval)}


def _range(values: tuple[float, float] | None) -> str | None:
    return None if values is None else f"{quantity(values[0])}-{quantity(values[1])}"
