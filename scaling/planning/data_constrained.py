"""Data-constrained planning: the allocation of a budget C that minimises the data-constrained
loss when only U unique tokens exist, the epochs it repeats them, and what the constraint costs
in loss against unlimited data.

References:
    Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", arXiv:2305.16264,
    Eq. 5-7 and Sec. 3.2 (allocation under a data constraint: more epochs, fewer params).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scaling.flops import check_budget
from scaling.hardware import Hardware
from scaling.laws.base import LawEstimate
from scaling.laws.datablations import effective_params, effective_tokens
from scaling.planning.common import conventions, loss_law, loss_of, optimum, scalar
from scaling.planning.cost import Cost, cost_of


@dataclass(frozen=True, kw_only=True)
class DataConstrainedPlan:
    """One law's allocation of `flops` with `unique_tokens` unique tokens, against unlimited data."""

    label: str
    """Label of the law estimate: a preset name or a fit's label."""
    flops: float
    """Training budget C = 6 N D."""
    unique_tokens: float
    params: float
    tokens: float
    """Tokens trained on, repeats included."""
    tokens_per_param: float
    epochs: float
    """tokens / unique_tokens (below 1: the unique data is not used up)."""
    effective_tokens: float
    """D' (Muennighoff et al. 2023, Eq. 5): what the repeated tokens are worth in fresh ones."""
    effective_params: float
    """N' (Muennighoff et al. 2023, Eq. 6)."""
    loss: float
    """Predicted loss of this allocation under the constraint, nats/token on the law's data."""
    unlimited_params: float
    """The law's optimum at the same C with unlimited data."""
    unlimited_tokens: float
    unlimited_loss: float
    loss_penalty: float
    """loss - unlimited_loss: what running out of unique data costs at this budget."""
    loss_penalty_pct: float
    unlimited_allocation_loss: float
    """The unlimited-data allocation trained anyway on the U unique tokens (repeating as needed)."""
    cost: Cost | None = None
    conventions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "cost"}
        out["cost"] = self.cost.to_dict() if self.cost is not None else None
        return out


def plan_data_constrained(estimate: LawEstimate, flops: float, unique_tokens: float, *,
                          hardware: Hardware | None = None,
                          price_per_gpu_hour: float | None = None) -> DataConstrainedPlan:
    """Minimise L(N, C / (6N), U) at fixed C (Muennighoff et al. 2023, Sec. 3.2), and compare
    with the unlimited-data optimum of the same law."""
    check_budget(flops)
    if not (math.isfinite(unique_tokens) and unique_tokens >= 1):
        raise ValueError(f"unique_tokens must be a finite number >= 1, got {unique_tokens!r}")
    law = loss_law(estimate)
    c = dict(estimate.coefficients)
    params, tokens = (scalar(x) for x in optimum(law, c, flops, unique_tokens))
    loss = scalar(loss_of(law, c, params, tokens, unique_tokens))
    free_params, free_tokens = (scalar(x) for x in optimum(law, c, flops))
    free_loss = scalar(loss_of(law, c, free_params, free_tokens))
    if not all(math.isfinite(x) for x in (params, tokens, loss, free_params, free_tokens, free_loss)):
        raise ValueError(f"unique_tokens {unique_tokens:g} at {flops:g} FLOPs: {estimate.label}'s plan is not finite")
    return DataConstrainedPlan(
        label=estimate.label, flops=float(flops), unique_tokens=float(unique_tokens), params=params,
        tokens=tokens, tokens_per_param=tokens / params, epochs=tokens / unique_tokens,
        effective_tokens=scalar(effective_tokens(c, tokens, unique_tokens)),
        effective_params=scalar(effective_params(c, params, min(unique_tokens, tokens))),
        loss=loss, unlimited_params=free_params, unlimited_tokens=free_tokens, unlimited_loss=free_loss,
        loss_penalty=loss - free_loss, loss_penalty_pct=100.0 * (loss - free_loss) / free_loss,
        unlimited_allocation_loss=scalar(loss_of(law, c, free_params, free_tokens, unique_tokens)),
        cost=cost_of(flops, hardware, price_per_gpu_hour) if hardware is not None else None,
        conventions=conventions(estimate))
