"""Target loss: the least training compute (and its N, D) that reaches a loss under a law, or why
no compute does (the law's irreducible E, or the floor that a fixed stock of unique tokens sets).

The least compute reaching L is where the compute-optimal frontier L*(C) = L(N_opt(C), D_opt(C))
crosses L; L*(C) falls with C, so bisection in log C finds it.

References:
    Hoffmann et al. 2022 (Chinchilla), Eq. 2 and 4 (frontier; L* -> E as C grows);
    Muennighoff et al. 2023, Eq. 5-7 (with U unique tokens, D' <= U (1 + R*_D) and
    N' <= U_N (1 + R*_N), so L* -> E + A / (U_N (1 + R*_N))^alpha + B / (U (1 + R*_D))^beta).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.flops import positive_number
from scaling.hardware import Hardware
from scaling.laws.base import Array, Law, LawEstimate
from scaling.laws.datablations import DataConstrainedLaw, optimal_params_for_tokens
from scaling.planning.common import (MAX_FLOPS, MIN_FLOPS, batch_shape, conventions, draws_of, interval,
                                     loss_law, loss_of, optimum, scalar, solve_increasing)
from scaling.planning.cost import Cost, cost_of


@dataclass(frozen=True, kw_only=True)
class TargetPlan:
    """The least compute reaching `loss` under one law, or why it is unreachable."""

    label: str
    """Label of the law estimate: a preset name or a fit's label."""
    loss: float
    """Target loss, nats/token on the law's own data."""
    reachable: bool
    reason: str | None
    """Why the loss is unreachable (None when reachable)."""
    floor: float
    """The lowest loss the law allows: E, or the data-constrained floor with `unique_tokens`."""
    flops: float | None
    """Least training FLOPs reaching `loss` (None when unreachable)."""
    params: float | None
    tokens: float | None
    tokens_per_param: float | None
    unique_tokens: float | None = None
    epochs: float | None = None
    """tokens / unique_tokens when unique tokens were given."""
    flops_interval: tuple[float, float] | None = None
    """Bootstrap interval of `flops` for fitted laws (over the draws that reach the loss)."""
    params_interval: tuple[float, float] | None = None
    tokens_interval: tuple[float, float] | None = None
    interval_level: float | None = None
    """Level of the intervals (0.95: 95%); None without intervals."""
    reachable_draws: str | None = None
    """"k/K": bootstrap draws under which the loss is reachable (fitted laws)."""
    cost: Cost | None = None
    conventions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "cost"}
        for name in ("flops_interval", "params_interval", "tokens_interval"):
            out[name] = list(out[name]) if out[name] is not None else None
        out["cost"] = self.cost.to_dict() if self.cost is not None else None
        return out


def frontier_loss(law: Law, coefficients: Mapping[str, Any], flops: Array, unique_tokens: float | None = None) -> Array:
    """L*(C): the law's loss at its own compute optimum for training FLOPs C (Hoffmann et al. 2022, Eq. 2, 4)."""
    params, tokens = optimum(law, coefficients, flops, unique_tokens)
    return loss_of(law, coefficients, params, tokens, unique_tokens)


def loss_floor(law: Law, coefficients: Mapping[str, Any], unique_tokens: float | None = None) -> Array:
    """The infimum of L*(C) over all budgets.

    E for Chinchilla-form laws (Hoffmann et al. 2022, Eq. 2); with U unique tokens under the
    data-constrained law, E + A / (U_N (1 + R*_N))^alpha + B / (U (1 + R*_D))^beta,
    U_N = N_opt(U) (Muennighoff et al. 2023, Eq. 5-6 as R_D, R_N grow); otherwise L* at 1e40 FLOPs.
    """
    c = coefficients
    if unique_tokens is not None and isinstance(law, DataConstrainedLaw):
        unique_params = optimal_params_for_tokens(c, unique_tokens)
        return np.asarray(c["E"] + c["A"] / (unique_params * (1 + c["R_N_star"])) ** c["alpha"]
                          + c["B"] / (unique_tokens * (1 + c["R_D_star"])) ** c["beta"], dtype=float)
    if "E" in c:
        return np.asarray(c["E"], dtype=float)
    return frontier_loss(law, c, np.full(batch_shape(c), MAX_FLOPS), unique_tokens)


def compute_for_loss(law: Law, coefficients: Mapping[str, Any], loss: float,
                     unique_tokens: float | None = None) -> Array:
    """Least training FLOPs C with L*(C) = loss, elementwise over coefficient draws (NaN: unreachable).

    Bisection in log C over [1e10, 1e40] on the falling frontier L*(C).
    """
    shape = batch_shape(coefficients)
    low, high = np.full(shape, math.log(MIN_FLOPS)), np.full(shape, math.log(MAX_FLOPS))
    log_flops = solve_increasing(lambda x: -frontier_loss(law, coefficients, np.exp(x), unique_tokens),
                                 -loss, low, high)
    reachable = frontier_loss(law, coefficients, np.exp(high), unique_tokens) < loss
    return np.where(reachable, np.exp(log_flops), np.nan)


def plan_for_loss(estimate: LawEstimate, loss: float, *, unique_tokens: float | None = None,
                  hardware: Hardware | None = None, price_per_gpu_hour: float | None = None,
                  level: float = 0.95) -> TargetPlan:
    """The least compute (and its params, tokens) reaching `loss` under `estimate`."""
    positive_number("loss", loss)
    law = loss_law(estimate)
    coefficients = dict(estimate.coefficients)
    floor = scalar(loss_floor(law, coefficients, unique_tokens))
    common: dict[str, Any] = {"label": estimate.label, "loss": float(loss), "floor": floor,
                              "unique_tokens": unique_tokens, "conventions": conventions(estimate)}
    at_min = scalar(frontier_loss(law, coefficients, np.asarray(MIN_FLOPS), unique_tokens))
    if loss >= at_min:
        raise ValueError(f"loss {loss:g} is above the loss {at_min:.4g} that {estimate.label} predicts "
                         f"at {MIN_FLOPS:g} FLOPs; give a lower loss")
    flops = scalar(compute_for_loss(law, coefficients, loss, unique_tokens))
    if not math.isfinite(flops):
        return TargetPlan(reachable=False, reason=_unreachable_reason(law, coefficients, loss, floor, unique_tokens),
                          flops=None, params=None, tokens=None, tokens_per_param=None, **common)
    params, tokens = (scalar(x) for x in optimum(law, coefficients, flops, unique_tokens))
    extra: dict[str, Any] = {}
    draws = draws_of(estimate)
    if draws is not None:
        flops_draws = compute_for_loss(law, draws, loss, unique_tokens)
        ok = np.isfinite(flops_draws)
        params_draws, tokens_draws = optimum(law, draws, np.where(ok, flops_draws, 1e20), unique_tokens)
        extra = {"flops_interval": interval(flops_draws, level),
                 "params_interval": interval(np.where(ok, params_draws, np.nan), level),
                 "tokens_interval": interval(np.where(ok, tokens_draws, np.nan), level),
                 "reachable_draws": f"{int(ok.sum())}/{ok.size}", "interval_level": level}
    cost = None
    if hardware is not None:
        cost = cost_of(flops, hardware, price_per_gpu_hour, extra.get("flops_interval"))
    return TargetPlan(reachable=True, reason=None, flops=flops, params=params, tokens=tokens,
                      tokens_per_param=tokens / params,
                      epochs=None if unique_tokens is None else tokens / unique_tokens,
                      cost=cost, **extra, **common)


def _unreachable_reason(law: Law, coefficients: Mapping[str, Any], loss: float, floor: float,
                        unique_tokens: float | None) -> str:
    if loss <= floor:
        if unique_tokens is not None:
            return (f"unreachable: loss {loss:g} is at or below {floor:.4g}, the floor with {unique_tokens:.3g} unique "
                    "tokens (repeats and excess params stop helping: Muennighoff et al. 2023, Eq. 5-6)")
        if "E" in coefficients:
            return f"unreachable: loss {loss:g} is at or below the law's irreducible loss E = {floor:.4g}"
        return f"unreachable: loss {loss:g} is at or below the law's floor {floor:.4g}"
    return f"unreachable within {MAX_FLOPS:g} FLOPs (the law's floor is {floor:.4g})"
