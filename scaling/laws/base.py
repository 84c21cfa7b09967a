"""`Law`: a functional form as data plus a pure `predict`.
The registry of forms by name is `scaling.laws.registry`.

A law knows its coefficient names, which run columns it reads, its paper reference and, where
it has one, its compute-optimal allocation. It knows nothing about fitting: `scaling.fit.engine` is the
only code that optimises, and it reads the metadata here (starting grid, transforms).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scaling.schedules import Schedule

Array = npt.NDArray[np.float64]


class Law:
    """Base class of a functional form. Subclasses set the class variables and `predict`."""

    name: ClassVar[str]
    """Registry key, e.g. "chinchilla"."""
    param_names: ClassVar[tuple[str, ...]]
    """Coefficient names, paper spelling (E, A, B, alpha, beta; N_c, alpha_N, ...)."""
    inputs: ClassVar[tuple[str, ...]]
    """Run columns the law reads: a subset of ("params", "tokens", "flops")."""
    reference: ClassVar[str]
    """Paper and equation."""
    predicts_loss: ClassVar[bool] = True
    """False for allocation-only rules (they give N, D for C but no loss)."""
    log_coefficients: ClassVar[tuple[str, ...]] = ()
    """Fitting metadata: coefficients the optimiser sees as logarithms (scales: E, A, B, N_c)."""
    init_grid: ClassVar[Mapping[str, tuple[float, ...]]] = {}
    """Fitting metadata: starting values per coefficient, in the optimiser's coordinates."""
    curve: ClassVar[bool] = False
    """True for a loss-curve law: its inputs are built from a run's schedule by `curve_inputs`."""
    empty_group: ClassVar[Mapping[str, float]] = {}
    """A curve law with (rows, groups) inputs: each one's value in a group that holds nothing (what
    pads a curve with fewer groups when curves are stacked)."""

    def curve_inputs(self, schedule: Schedule, steps: npt.ArrayLike) -> dict[str, Array]:
        """A loss-curve law's per-row inputs after each of `steps` optimizer steps done (1-based
        counts, each in [1, schedule.steps]) of `schedule`: arrays whose first axis is the rows,
        what `predict(coefficients, **inputs)` reads. The one place a curve law's inputs are made,
        for fitting (`scaling.fit.engine.fit_curves`) and predicting alike."""
        raise TypeError(f"law {self.name!r} is not a loss-curve law")

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """Loss in nats/token at the given inputs (arrays broadcast)."""
        raise TypeError(f"law {self.name!r} does not predict a loss")

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Compute-optimal (params, tokens) for training FLOPs `flops`."""
        raise TypeError(f"law {self.name!r} has no compute-optimal allocation")

    def check(self, coefficients: Mapping[str, float]) -> None:
        """Raise ValueError unless `coefficients` names exactly this law's finite coefficients."""
        missing = set(self.param_names) - set(coefficients)
        extra = set(coefficients) - set(self.param_names)
        if missing or extra:
            raise ValueError(f"law {self.name!r} takes coefficients {', '.join(self.param_names)}; "
                             f"missing {sorted(missing)}, unexpected {sorted(extra)}")
        bad = [k for k, v in coefficients.items() if not np.isfinite(v)]
        if bad:
            raise ValueError(f"coefficients must be finite; got non-finite {', '.join(bad)}")


class LawEstimate(Protocol):
    """A law with coefficients that planning can use: a published preset or a fitted FitResult.

    `scaling.planning.optimal` and `scaling.analysis.compare` read only this interface, so a user's fit plugs in
    wherever a preset does.
    """

    @property
    def label(self) -> str:
        """What tables print: the preset's name, or "fit:<law>@<data digest>"."""
    @property
    def law(self) -> str:
        """Registry key of the functional form (see `get_law`)."""
    @property
    def coefficients(self) -> Mapping[str, float]: ...
    @property
    def params_convention(self) -> str:
        """"total" (Chinchilla: embeddings counted) or "non-embedding" (Kaplan)."""

    def predict(self, params: npt.ArrayLike, tokens: npt.ArrayLike) -> Array:
        """Loss (nats/token); TypeError if the law predicts none."""
    def optimal(self, flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Compute-optimal (params, tokens) for training FLOPs `flops`."""


def positive_array(name: str, values: npt.ArrayLike) -> Array:
    """`values` as a float array, ValueError unless every entry is positive and finite."""
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"{name} must be positive and finite")
    return array


def done_steps(schedule: Schedule, steps: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """`steps` (optimizer steps done, one per logged row) as integers, ValueError unless each is in
    [1, schedule.steps]."""
    done = np.asarray(steps)
    if done.ndim != 1 or not np.all(np.isfinite(done.astype(float))) or not np.all(done == np.round(done)):
        raise ValueError("steps must be a 1-D array of whole optimizer step counts")
    done = done.astype(np.int64)
    if done.size and (done.min() < 1 or done.max() > schedule.steps):
        raise ValueError(f"steps must be from 1 to the schedule's {schedule.steps}, got {done.min()} to {done.max()}")
    return done
