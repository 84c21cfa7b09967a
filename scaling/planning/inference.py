"""Inference-aware planning: the model that reaches a loss with the least training plus inference
compute, 6 N D_train + 2 N T, for T tokens served over the model's life.

The target is the loss of the compute-optimal model at a budget C (or a loss given). On the
iso-loss curve D_train(N) (L(N, D_train) = target, solved by bisection in log D), the total is
minimised over log N between N_min (where even unlimited data only just reaches the target)
and the compute-optimal N*: serving cost 2 N T only ever pulls the optimum below N*.
A grid locates the basin, golden-section search refines it.

References:
    Sardana et al. 2024, "Beyond Chinchilla-Optimal: Accounting for Inference in Language Model
    Scaling Laws", arXiv:2401.00448, Sec. 2 (objective: min 6 N D_tr + 2 N D_inf s.t.
    L(N, D_tr) = l; no closed form); Hoffmann et al. 2022, Eq. 2 (the loss law).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.flops import check_budget, positive_number
from scaling.hardware import Hardware
from scaling.laws.base import Array, Law, LawEstimate
from scaling.laws.datablations import minimize_log
from scaling.planning.common import (batch_shape, conventions, draws_of, interval, loss_law, loss_of, optimum,
                                     scalar, solve_increasing)
from scaling.planning.cost import Cost, cost_of
from scaling.planning.target import compute_for_loss, frontier_loss

HUGE_TOKENS = 1e40
"""Stand-in for unlimited data when finding the smallest model that can reach a loss."""
MAX_INFERENCE_TOKENS = 1e30
"""Largest lifetime inference demand T accepted, in tokens: past any deployment, and small enough
that 2 N T and the search stay finite in float64 for every model size a planner reaches."""
GRID_SPAN = 1e-12
"""The search grid runs from N_min (N_star / N_min)^(1e-12) to N_star, geometric in that exponent."""


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """A model size and its training and lifetime inference compute."""

    params: float
    tokens: float
    """Training tokens."""
    tokens_per_param: float
    training_flops: float
    """6 N D."""
    inference_flops: float
    """2 N T."""
    total_flops: float


@dataclass(frozen=True, kw_only=True)
class InferencePlan:
    """Compute-optimal against inference-aware allocation for the same loss, under one law."""

    label: str
    """Label of the law estimate: a preset name or a fit's label."""
    inference_tokens: float
    """T: tokens the model will process in inference over its life."""
    loss: float
    """Target loss, nats/token on the law's data."""
    loss_source: str
    """"compute-optimal model at C = ..." or "given"."""
    compute_optimal: Allocation
    inference_optimal: Allocation
    flops_saved: float
    """compute_optimal.total_flops - inference_optimal.total_flops (>= 0)."""
    flops_saved_pct: float
    params_ratio: float
    """inference-optimal params / compute-optimal params (<= 1: a smaller model)."""
    tokens_ratio: float
    """inference-optimal tokens / compute-optimal tokens (>= 1: longer training)."""
    params_interval: tuple[float, float] | None = None
    """Bootstrap interval of the inference-optimal params (fitted laws)."""
    flops_saved_interval: tuple[float, float] | None = None
    interval_level: float | None = None
    """Level of the intervals (0.95: 95%); None without intervals."""
    cost: Cost | None = None
    """Training cost of the inference-optimal model (inference runs at another utilisation)."""
    conventions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("cost", "compute_optimal", "inference_optimal")}
        out["compute_optimal"] = dict(self.compute_optimal.__dict__)
        out["inference_optimal"] = dict(self.inference_optimal.__dict__)
        for name in ("params_interval", "flops_saved_interval"):
            out[name] = list(out[name]) if out[name] is not None else None
        out["cost"] = self.cost.to_dict() if self.cost is not None else None
        return out


def tokens_for_loss(law: Law, coefficients: Mapping[str, Any], params: Array, loss: Array) -> Array:
    """D with L(N, D) = loss, by bisection in log D over [1, 1e40] (inf where N cannot reach it)."""
    log_tokens = solve_increasing(lambda x: -loss_of(law, coefficients, params, np.exp(x)), -np.asarray(loss),
                                  np.zeros(np.shape(params)), np.full(np.shape(params), math.log(HUGE_TOKENS)))
    reachable = loss_of(law, coefficients, params, np.full(np.shape(params), HUGE_TOKENS)) < loss
    return np.where(reachable, np.exp(log_tokens), np.inf)


def inference_optimal(law: Law, coefficients: Mapping[str, Any], loss: Array, inference_tokens: float,
                      params_star: Array) -> tuple[Array, Array]:
    """(N, D_train) minimising 6 N D_train + 2 N T subject to L(N, D_train) = loss (Sardana et al. 2024, Sec. 2).

    Elementwise over coefficient draws; `params_star` is the compute-optimal N for `loss`.
    """
    shape = np.broadcast_shapes(batch_shape(coefficients), np.shape(loss), np.shape(params_star))
    k = {name: np.broadcast_to(np.asarray(v, dtype=float), shape)[..., None] for name, v in coefficients.items()}
    loss_k = np.broadcast_to(np.asarray(loss, dtype=float), shape)[..., None]
    log_star = np.log(np.broadcast_to(params_star, shape))
    # N_min: L(N, unlimited data) = loss, by bisection in log N below N* (L falls with N).
    log_min = solve_increasing(lambda x: -loss_of(law, coefficients, np.exp(x), HUGE_TOKENS), -np.asarray(loss),
                               np.zeros(shape), log_star)
    span = log_star - log_min

    def log_total(exponent: Array) -> Array:
        # exponent e in [log 1e-12, 0] maps to log N = log_min + span * exp(e): dense near N_min,
        # where heavy inference demand pushes the optimum.
        params = np.exp(log_min[..., None] + span[..., None] * np.exp(exponent))
        tokens = tokens_for_loss(law, k, params, loss_k)
        return np.log(6.0 * params * tokens + 2.0 * params * inference_tokens)

    best = minimize_log(log_total, np.full(shape, math.log(GRID_SPAN)), np.zeros(shape), n_grid=81, iterations=44)
    params = np.exp(log_min + span * np.exp(best))
    tokens = tokens_for_loss(law, {n: v[..., 0] for n, v in k.items()}, params, np.asarray(loss, dtype=float))
    return params, tokens


def plan_inference(estimate: LawEstimate, inference_tokens: float, *, flops: float | None = None,
                   loss: float | None = None, hardware: Hardware | None = None,
                   price_per_gpu_hour: float | None = None, level: float = 0.95) -> InferencePlan:
    """Sardana et al. 2024: for the loss of the compute-optimal model at `flops` (or `loss`),
    the smaller, longer-trained model that minimises training plus inference FLOPs for T tokens."""
    if (flops is None) == (loss is None):
        raise ValueError("give exactly one of flops (target: the compute-optimal model's loss) or loss")
    if not (math.isfinite(inference_tokens) and 0 <= inference_tokens <= MAX_INFERENCE_TOKENS):
        raise ValueError(f"inference_tokens must be a number from 0 to {MAX_INFERENCE_TOKENS:g}, got {inference_tokens!r}")
    if flops is not None:
        check_budget(flops)
    if loss is not None:
        positive_number("loss", loss)
    law = loss_law(estimate)
    c = dict(estimate.coefficients)
    if flops is None:
        assert loss is not None
        flops_star = scalar(compute_for_loss(law, c, loss))
        if not math.isfinite(flops_star):
            raise ValueError(f"loss {loss:g} is unreachable under {estimate.label} (see `plan_for_loss`)")
        target, source = float(loss), "given"
    else:
        flops_star = float(flops)
        target = scalar(frontier_loss(law, c, np.asarray(flops_star)))
        source = f"compute-optimal model at C = {flops_star:.3g}"
    star = _allocation(*(scalar(x) for x in optimum(law, c, flops_star)), inference_tokens)
    params, tokens = (scalar(x) for x in inference_optimal(law, c, np.asarray(target), inference_tokens,
                                                           np.asarray(star.params)))
    best = _allocation(params, tokens, inference_tokens)
    if best.total_flops > star.total_flops:  # T = 0 lands on N* itself, up to the search's precision
        best = star
    if not all(math.isfinite(x) for a in (star, best) for x in a.__dict__.values()):
        raise ValueError(f"inference_tokens {inference_tokens:g}: {estimate.label}'s inference-aware plan "
                         "is not finite; give a smaller demand or budget")
    extra = _intervals(estimate, law, inference_tokens, flops, loss, level)
    return InferencePlan(
        label=estimate.label, inference_tokens=float(inference_tokens), loss=target, loss_source=source,
        compute_optimal=star, inference_optimal=best, flops_saved=star.total_flops - best.total_flops,
        flops_saved_pct=100.0 * (star.total_flops - best.total_flops) / star.total_flops,
        params_ratio=best.params / star.params, tokens_ratio=best.tokens / star.tokens,
        cost=cost_of(best.training_flops, hardware, price_per_gpu_hour) if hardware is not None else None,
        conventions=conventions(estimate), **extra)


def _allocation(params: float, tokens: float, inference_tokens: float) -> Allocation:
    training, inference = 6.0 * params * tokens, 2.0 * params * inference_tokens
    return Allocation(params=params, tokens=tokens, tokens_per_param=tokens / params, training_flops=training,
                      inference_flops=inference, total_flops=training + inference)


def _intervals(estimate: LawEstimate, law: Law, inference_tokens: float, flops: float | None,
               loss: float | None, level: float) -> dict[str, Any]:
    """Bootstrap intervals of the inference-optimal params and the FLOPs saved (fitted laws only)."""
    draws = draws_of(estimate)
    if draws is None:
        return {}
    if flops is not None:
        flops_star = np.full(batch_shape(draws), flops)
        target = frontier_loss(law, draws, flops_star)
    else:
        flops_star = compute_for_loss(law, draws, float(loss))  # type: ignore[arg-type]
        target = np.full(batch_shape(draws), float(loss))  # type: ignore[arg-type]
    ok = np.isfinite(flops_star)
    flops_star = np.where(ok, flops_star, 1e20)
    params_star, tokens_star = optimum(law, draws, flops_star)
    params, tokens = inference_optimal(law, draws, target, inference_tokens, params_star)
    total_star = 6.0 * params_star * tokens_star + 2.0 * params_star * inference_tokens
    saved = np.maximum(total_star - (6.0 * params * tokens + 2.0 * params * inference_tokens), 0.0)
    return {"params_interval": interval(np.where(ok, params, np.nan), level),
            "flops_saved_interval": interval(np.where(ok, saved, np.nan), level), "interval_level": level}
