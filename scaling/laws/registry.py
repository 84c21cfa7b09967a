"""Every functional form by name: `get_law("chinchilla")`.

Adding a law: a module in scaling/laws/ defining a `Law` instance, and one entry here.
"""

from __future__ import annotations

from scaling.laws.allocation import POWER_ALLOCATION, TOKENS_PER_PARAM
from scaling.laws.base import Law
from scaling.laws.chinchilla import CHINCHILLA
from scaling.laws.datablations import DATA_CONSTRAINED
from scaling.laws.kaplan import KAPLAN_ALLOCATION, KAPLAN_C, KAPLAN_D, KAPLAN_N, KAPLAN_N_OFFSET, KAPLAN_ND
from scaling.laws.lr_batch import HYPERPARAMETER_POWER
from scaling.laws.momentum import MOMENTUM_CURVE
from scaling.laws.multipower import MULTI_POWER_CURVE

LAWS: dict[str, Law] = {law.name: law for law in (
    CHINCHILLA, KAPLAN_N, KAPLAN_N_OFFSET, KAPLAN_D, KAPLAN_ND, KAPLAN_C, KAPLAN_ALLOCATION,
    POWER_ALLOCATION, TOKENS_PER_PARAM, DATA_CONSTRAINED, HYPERPARAMETER_POWER, MOMENTUM_CURVE,
    MULTI_POWER_CURVE)}
"""Every functional form by name."""


def get_law(name: str) -> Law:
    """The registered law called `name` (ValueError listing the known names otherwise)."""
    try:
        return LAWS[name]
    except KeyError:
        raise ValueError(f"unknown law {name!r}; known: {', '.join(sorted(LAWS))}") from None
