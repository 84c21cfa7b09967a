"""What the report page's planner computes from: each law's form, coefficients and bootstrap
draws, and the planning and hardware constants, read from the modules that define them.

`planner.js` evaluates the same closed forms as `scaling.laws` (the data-constrained law, which
has none, by the same bounded search in log N) on these numbers; no constant is written twice.

References: the laws' own (scaling.laws.chinchilla, kaplan, allocation, datablations);
GPU arithmetic as in scaling.hardware.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scaling.flops import MAX_FLOPS, MIN_FLOPS
from scaling.hardware import DEFAULT_MFU, GPU_PEAK_FLOPS, HOURS_PER_DAY, SECONDS_PER_HOUR
from scaling.laws.base import LawEstimate
from scaling.laws.registry import get_law
from scaling.laws.datablations import SEARCH_HALF_WIDTH
from scaling.laws.kaplan import PF_DAY
from scaling.planning.optimal import LOSS_CAVEAT

PLANNER_FORMS = ("chinchilla", "kaplan_nd", "power_allocation", "tokens_per_param", "kaplan_allocation",
                 "data_constrained")
"""Functional forms whose compute optimum planner.js evaluates; laws of other forms (Kaplan's
single-variable L(N), L(D), L(C)) give no allocation and are left out of the planner."""

DEFAULT_BUDGET = 1e21
"""Budget the page opens at, FLOPs (the README's first example)."""


def plannable(estimate: LawEstimate) -> bool:
    """Whether the page's planner can plan with `estimate` (its form is in PLANNER_FORMS)."""
    return estimate.law in PLANNER_FORMS


def planner_law(estimate: LawEstimate) -> dict[str, Any]:
    """One law as planner.js reads it; `draws` are the bootstrap coefficient draws (None without)."""
    law = get_law(estimate.law)
    samples = getattr(estimate, "samples", None)
    return {"label": estimate.label, "form": estimate.law,
            "coefficients": {k: float(v) for k, v in estimate.coefficients.items()},
            # Presets read a user budget C as the law's compute variable times this factor
            # (Kaplan: C = 2 C_min); fits read C = 6 N D directly.
            "budget_factor": float(getattr(estimate, "budget_factor", 1.0)),
            "budget_convention": getattr(estimate, "budget_convention", "C = 6 N D"),
            "params_convention": estimate.params_convention, "predicts_loss": law.predicts_loss,
            "draws": {k: list(map(float, samples[k])) for k in law.param_names} if samples else None,
            "level": float(getattr(estimate, "level", 0.95)) if samples else None}


def planner_data(estimates: Sequence[LawEstimate], *, flops_range: tuple[float, float],
                 budget: float = DEFAULT_BUDGET) -> dict[str, Any]:
    """Everything planner.js needs: the laws, the constants, the slider's range and start."""
    return {"laws": [planner_law(e) for e in estimates if plannable(e)],
            "constants": {"gpu_peak_flops": dict(GPU_PEAK_FLOPS), "default_mfu": DEFAULT_MFU,
                          "seconds_per_hour": SECONDS_PER_HOUR, "hours_per_day": HOURS_PER_DAY,
                          "pf_day": PF_DAY, "search_half_width": SEARCH_HALF_WIDTH,
                          "min_flops": MIN_FLOPS, "max_flops": MAX_FLOPS},
            "flops_range": [float(flops_range[0]), float(flops_range[1])],
            # The page opens at `budget`, or mid-range (geometrically) when the range excludes it.
            "budget": float(budget if flops_range[0] <= budget <= flops_range[1]
                            else math.sqrt(flops_range[0] * flops_range[1])),
            "loss_caveat": LOSS_CAVEAT}
