"""What the planners beyond Chinchilla share: stated conventions, loss-law checks, bootstrap draws,
and a vectorised bisection.

Every result of `scaling.planning` carries `conventions(estimate)`, so a JSON answer says how it
counted parameters and FLOPs and how it read the budget.

References: Hoffmann et al. 2022 (Chinchilla), App. F (C = 6 N D); Kaplan et al. 2020, Eq. 2.2
(forward pass 2 N FLOPs per token, used for inference) and Eq. 5.5 (C_min).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling.flops import MAX_FLOPS, MIN_FLOPS  # noqa: F401  (the planners' search range, one definition)
from scaling.laws.base import Array, Law, LawEstimate
from scaling.laws.registry import get_law
from scaling.laws.datablations import DataConstrainedLaw

FLOPS_CONVENTION = ("training C = 6 N D, D every token trained on (repeats included); "
                    "inference 2 N FLOPs per token (Kaplan et al. 2020, Eq. 2.2)")
BUDGET_CONVENTION = "C is training FLOPs as spent (C = 6 N D), not Kaplan's C_min"
LOSS_LAWS_HINT = "chinchilla, chinchilla-unrounded, epoch2024, muennighoff2023, or a fit .json"


def conventions(estimate: LawEstimate) -> dict[str, str]:
    """How a result counted parameters and FLOPs and read the budget (put in every JSON result)."""
    counted = "embeddings counted" if estimate.params_convention == "total" else "embeddings excluded"
    return {"params": f"{estimate.params_convention} ({counted})", "flops": FLOPS_CONVENTION,
            "budget": BUDGET_CONVENTION}


def loss_law(estimate: LawEstimate) -> Law:
    """The estimate's functional form; ValueError unless it predicts a loss at budget C = 6 N D."""
    law = get_law(estimate.law)
    if not law.predicts_loss:
        raise ValueError(f"law {estimate.label!r} predicts no loss; use a loss-predicting law ({LOSS_LAWS_HINT})")
    if getattr(estimate, "budget_factor", 1.0) != 1.0:
        raise ValueError(f"law {estimate.label!r} reads budgets as {estimate.budget_convention!r}, not C = 6 N D")  # type: ignore[attr-defined]
    return law


def draws_of(estimate: LawEstimate) -> dict[str, Array] | None:
    """Bootstrap coefficient draws, shape (K, 1) each, for fitted laws that kept them; else None."""
    if not getattr(estimate, "samples", None):
        return None
    draws: dict[str, Array] = estimate.draws()  # type: ignore[attr-defined]
    return draws


def solve_increasing(function: Callable[[Array], Array], target: npt.ArrayLike, low: npt.ArrayLike,
                     high: npt.ArrayLike, iterations: int = 56) -> Array:
    """x in [low, high] with function(x) = target for an increasing `function`, by bisection.

    Elementwise over broadcast arrays; where the target lies outside [function(low),
    function(high)] the answer sticks to that end (callers check reachability first).
    """
    target = np.asarray(target, dtype=float)
    low, high = np.broadcast_arrays(np.asarray(low, dtype=float), np.asarray(high, dtype=float))
    low, high = low.copy(), high.copy()
    for _ in range(iterations):
        middle = (low + high) / 2.0
        above = function(middle) > target
        high, low = np.where(above, middle, high), np.where(above, low, middle)
    return np.asarray((low + high) / 2.0, dtype=float)


def interval(values: Array, level: float) -> tuple[float, float] | None:
    """Percentile interval at `level` of finite draws (None when fewer than two are finite)."""
    finite = np.ravel(values)[np.isfinite(np.ravel(values))]
    if finite.size < 2:
        return None
    low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def scalar(value: Any) -> float:
    """A one-element result (scalar or array of any shape) as a float."""
    return float(np.ravel(np.asarray(value, dtype=float))[0])


def optimum(law: Law, coefficients: Mapping[str, Any], flops: npt.ArrayLike,
            unique_tokens: float | None = None) -> tuple[Array, Array]:
    """The law's loss-minimising (params, tokens) at training FLOPs C = 6 N D, with U unique tokens if given."""
    if unique_tokens is None:
        return law.optimal(coefficients, flops)
    return law.optimal(coefficients, flops, unique_tokens=_data_constrained(law, unique_tokens))  # type: ignore[call-arg]


def loss_of(law: Law, coefficients: Mapping[str, Any], params: npt.ArrayLike, tokens: npt.ArrayLike,
            unique_tokens: float | None = None) -> Array:
    """The law's loss at (params, tokens), flops = 6 N D for laws that read C; U unique tokens if given."""
    N, D = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    if unique_tokens is None:
        return law.predict(coefficients, params=N, tokens=D, flops=6.0 * N * D)
    return law.predict(coefficients, params=N, tokens=D, unique_tokens=_data_constrained(law, unique_tokens))  # type: ignore[call-arg]


def _data_constrained(law: Law, unique_tokens: float) -> float:
    if not isinstance(law, DataConstrainedLaw):
        raise ValueError(f"law form {law.name!r} does not model repeated data; unique tokens need a "
                         "data-constrained law (muennighoff2023)")
    if not (np.isfinite(unique_tokens) and unique_tokens >= 1):
        raise ValueError(f"unique_tokens must be a finite number >= 1, got {unique_tokens!r}")
    return float(unique_tokens)


def batch_shape(coefficients: Mapping[str, Any]) -> tuple[int, ...]:
    """Broadcast shape of the coefficients: () for a point estimate, (K, 1) for bootstrap draws."""
    return np.broadcast_shapes(*(np.shape(v) for v in coefficients.values()))
