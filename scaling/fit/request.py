"""What `scaling fit` does, as one library call: `fit_request(FitRequest) -> FitReport`.

Decided here, not in the command: which options apply to which approach (an option set for an
approach that ignores it is an error, or a note under `--approach all`), which budgets the
optima are shown at (the data's own largest budget and 100x it, unless asked), when a budget is
an extrapolation worth a note, and when the approaches disagree enough to say so.

References:
    Hoffmann et al. 2022, Sec. 3 (the three approaches, whose allocations the note compares);
    Kaplan et al. 2020, Eq. 1.3 (the frontier L(C), reported at the budgets too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scaling.fit.approaches import APPROACHES, fit_runs, summary
from scaling.fit.names import APPROACH_NAMES
from scaling.fit.objective import HOFFMANN_DELTA
from scaling.fit.result import FitResult, extrapolation_note

SHOWN_DECADES = 2.0
"""Default budgets: the largest run's FLOPs and this many decades past it."""
DISAGREEMENT = 1.25
"""Allocations further apart than this factor, with no intervals that overlap, get a note."""

OPTIONS: dict[str, tuple[str, Any]] = {
    "fix": ("--fix", {}),
    "drop_highest": ("--drop-highest", 0),
    "tie": ("--tie-exponents", ()),
    "delta": ("--delta", HOFFMANN_DELTA),
    "objective": ("--objective", "huber-log"),
    "window": ("--window", 2),
    "fit_in": ("--in", "params"),
    "round_budgets": ("--round-budgets", False),
    "flops_convention": ("--flops-convention", "6ND"),
}
"""Option -> (its CLI flag, default). Which approaches take it is the registry's
(`scaling.fit.approaches.APPROACHES[...].options`)."""


def _takers(option: str) -> tuple[str, ...]:
    return tuple(name for name, approach in APPROACHES.items() if option in approach.options)


@dataclass(frozen=True, kw_only=True)
class FitRequest:
    """Everything `scaling fit` was asked (see `fit_request`)."""

    source: Any
    """Runs: a path, a built-in data set name or a DataFrame (trackers' runs are read above this
    layer, by `scaling.trackers.read_tracker`)."""
    approach: str = "3"
    columns: Mapping[str, str] = field(default_factory=dict)
    where: Sequence[str] = ()
    drop_invalid: bool = False
    params_column: str = "params"
    bootstrap: int = 0
    level: float = 0.95
    seed: int = 0
    n_jobs: int | None = None
    flops: Sequence[float] = ()
    """Budgets to report the optimum at; () follows the data (`default_budgets`)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Approach options by name (`OPTIONS`); those at their default are not passed on."""

    def __post_init__(self) -> None:
        if not all(math.isfinite(f) and f > 0 for f in self.flops):
            raise ValueError("--flops must be positive finite numbers")
        unknown = set(self.options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown fit options {', '.join(sorted(unknown))}; known: {', '.join(OPTIONS)}")


@dataclass(frozen=True)
class FitReport:
    """The fits, what was skipped, notes for the reader, and each fit's optima at the budgets."""

    results: dict[str, FitResult]
    skipped: list[str]
    notes: list[str]
    summary: dict[str, Any]
    """{key: FitResult body without draws, plus "at_budgets" rows} (approaches.summary)."""

    def documents(self) -> dict[str, Any]:
        """{key: FitResult document}: what `--out` writes and `--format json` prints."""
        return {key: result.to_document() for key, result in self.results.items()}


def applicable_options(approach: str, options: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The options set away from their default that `approach` takes, and a note on the others
    under "all" (ValueError naming the flags when a single approach is given one it ignores)."""
    set_options = {k: v for k, v in options.items() if v != OPTIONS[k][1]}
    wanted = set(APPROACH_NAMES) if approach == "all" else {approach}
    ignored = [k for k in set_options if not wanted <= set(_takers(k))]
    if not ignored:
        return set_options, []
    groups: dict[tuple[str, ...], list[str]] = {}
    for k in ignored:
        groups.setdefault(_takers(k), []).append(OPTIONS[k][0])
    notes = [f"{', '.join(flags)} apply to approach{'es' if len(takers) > 1 else ''} {' and '.join(takers)} only"
             for takers, flags in groups.items()]
    if approach != "all":
        raise ValueError(f"{'; '.join(notes)}, not approach {approach}")
    return set_options, notes


def fit_request(request: FitRequest) -> FitReport:
    """Read the runs, fit them by the approach(es) asked, and report the optima at the budgets."""
    source = request.source
    options, notes = applicable_options(request.approach, request.options)
    results, skipped = fit_runs(source, request.approach, columns=dict(request.columns), where=tuple(request.where),
                                drop_invalid=request.drop_invalid, bootstrap=request.bootstrap, level=request.level,
                                seed=request.seed, n_jobs=request.n_jobs, params_column=request.params_column,
                                **options)
    budgets = list(request.flops) or default_budgets(results)
    report = summary(results, budgets)
    notes += extrapolation_notes(results, budgets) + disagreement_notes(report)
    return FitReport(results, skipped, notes, report)


def largest_run(results: Mapping[str, FitResult]) -> float | None:
    """The largest FLOPs among the runs the fits saw (None when no fit records it)."""
    tops = [r.data_range["flops"][1] for r in results.values() if "flops" in r.data_range]
    return max(tops) if tops else None


def default_budgets(results: Mapping[str, FitResult]) -> list[float]:
    """The largest run's FLOPs (rounded down to 2 significant figures, so inside the data) and
    `SHOWN_DECADES` past it."""
    top = largest_run(results)
    if top is None:
        return [1e21, 1e24]
    unit = 10.0 ** (math.floor(math.log10(top)) - 1)
    top = float(f"{math.floor(top / unit * (1 + 1e-12)) * unit:.2g}")
    return [top, float(f"{top * 10**SHOWN_DECADES:.2g}")]


def extrapolation_notes(results: Mapping[str, FitResult], budgets: Sequence[float]) -> list[str]:
    """A note for each budget more than `EXTRAPOLATION_DECADES` past the largest run fitted."""
    top = largest_run(results)
    if top is None:
        return []
    return [note for note in (extrapolation_note(c, top) for c in budgets) if note]


def disagreement_notes(report: Mapping[str, Any]) -> list[str]:
    """A note where the approaches' N_opt at a budget differ by more than `DISAGREEMENT` and
    their intervals (where drawn) do not overlap."""
    notes = []
    rows = {key: {row["flops"]: row for row in fit["at_budgets"] if "params" in row} for key, fit in report.items()}
    budgets = sorted({c for by_budget in rows.values() for c in by_budget})
    for budget in budgets:
        found = {key: by_budget[budget] for key, by_budget in rows.items() if budget in by_budget}
        if len(found) < 2:
            continue
        low_key = min(found, key=lambda k: found[k]["params"])
        high_key = max(found, key=lambda k: found[k]["params"])
        low, high = found[low_key], found[high_key]
        ratio = high["params"] / low["params"]
        if ratio <= DISAGREEMENT:
            continue
        intervals = "params_interval" in low and "params_interval" in high
        if intervals and low["params_interval"][1] >= high["params_interval"][0]:
            continue
        why = ("their intervals do not overlap" if intervals
               else "no intervals to say whether that is noise (--bootstrap K)")
        notes.append(f"approaches disagree at C {budget:.3g}: N_opt {low['params']:.3g} ({low_key}) to "
                     f"{high['params']:.3g} ({high_key}), {ratio:.1f}x apart; {why} "
                     "(their assumptions differ: Hoffmann et al. 2022, Sec. 3)")
    return notes

