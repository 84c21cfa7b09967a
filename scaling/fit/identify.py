"""Identifiability: data that cannot determine a law's coefficients is named, not fitted.

A parametric law with q free coefficients needs more than q distinct input points, a loss that
varies, and at least two values of every input it reads; otherwise the optimiser reports
"converged" on a surface that is flat in some direction, or divides by zero. An allocation
power law N_opt = k C^a through two budget optima fits exactly, so nothing checks it: such a
fit is kept but flagged (`FitResult.not_identifiable`, and a FitWarning).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scaling.fit.result import FitWarning

__all__ = ["NotIdentifiable", "check_parametric", "allocation_flags", "warn_flags"]


class NotIdentifiable(ValueError):
    """The data cannot determine the coefficients of the law asked for; the message says why."""


def check_parametric(law_name: str, inputs: Sequence[str], runs: pd.DataFrame, n_free: int) -> None:
    """Raise NotIdentifiable unless `runs` can determine `n_free` coefficients of a law reading `inputs`."""
    loss = runs["loss"].to_numpy(float)
    if loss.size and np.ptp(loss) == 0:
        raise NotIdentifiable(f"all {loss.size} losses equal {loss[0]:.6g}: no trend for {law_name} to fit")
    for name in inputs:
        values = np.unique(runs[name].to_numpy(float))
        if values.size < 2:
            raise NotIdentifiable(f"every run has {name} = {values[0]:.6g}: {law_name} needs at least "
                                  f"2 distinct values of {name}")
    distinct = len(runs.drop_duplicates(subset=list(inputs)))
    if distinct <= n_free:
        raise NotIdentifiable(f"{distinct} distinct ({', '.join(inputs)}) points cannot determine {n_free} "
                              f"coefficients of {law_name}; need at least {n_free + 1}")


def allocation_flags(n_budgets: int) -> list[str]:
    """Reasons an allocation power law through `n_budgets` optima is not identifiable ([] if it is)."""
    if n_budgets == 2:
        return ["2 budget optima: the power law passes exactly through both, so nothing tests it "
                "and its exponent has no error estimate; fit 3 or more budgets"]
    return []


def warn_flags(law_name: str, flags: Sequence[str], stacklevel: int = 3) -> None:
    """One FitWarning per reason a fit of `law_name` is not identifiable."""
    for flag in flags:
        warnings.warn(f"{law_name} not identifiable: {flag}", FitWarning, stacklevel=stacklevel)
