"""The FLOP convention check: how the runs' flops column compares with C = 6 N D.

Every fit here reads a budget as C = 6 N D (Kaplan et al. 2020, Sec. 2.1; Hoffmann et al. 2022,
Sec. 3) unless Approach 2 is asked to keep the column (`flops_convention="column"`). A column in
another convention (FLOPs counted with attention, a budget label a third of the FLOPs spent)
mixed with 6 N D silently skews allocations, so the ratio is measured, recorded in every fit and
warned about when it is far from 1 or drifts across runs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from scaling.fit.result import FitWarning

RATIO_TOLERANCE = 0.10
"""flops / (6 N D) further than 10% from 1 (median), or varying by more than 10% across runs,
is warned about: 6 N D leaves out attention, which adds about 6 n_layer n_ctx d_model per token
(Kaplan et al. 2020, Table 1), a few percent at the sizes and contexts most sweeps use."""


def flops_ratio(runs: pd.DataFrame) -> dict[str, float]:
    """min, median, max of flops / (6 params tokens) over the runs."""
    ratio = runs["flops"].to_numpy(float) / (6.0 * runs["params"].to_numpy(float) * runs["tokens"].to_numpy(float))
    return {"min": float(ratio.min()), "median": float(np.median(ratio)), "max": float(ratio.max())}


def ratio_problem(ratio: dict[str, float]) -> str | None:
    """What is wrong with a flops column of this ratio to 6 N D, or None when it is 6 N D."""
    far = abs(math.log(ratio["median"])) > math.log1p(RATIO_TOLERANCE)
    drifting = ratio["max"] / ratio["min"] > 1.0 + RATIO_TOLERANCE
    if not (far or drifting):
        return None
    what = f"{ratio['median']:.3g}x 6 N D (median; {ratio['min']:.3g}-{ratio['max']:.3g} across runs)"
    return (f"the flops column is {what}, not C = 6 N D: budgets are read as 6 N D from params and tokens "
            "(Approach 2 keeps the column with flops_convention='column', --flops-convention column); "
            "plans from this fit take C = 6 N D")


def check_flops(runs: pd.DataFrame) -> dict[str, float]:
    """`flops_ratio` of the runs, with a FitWarning naming it when `ratio_problem` finds one."""
    ratio = flops_ratio(runs)
    problem = ratio_problem(ratio)
    if problem:
        warnings.warn(problem, FitWarning, stacklevel=3)
    return ratio
