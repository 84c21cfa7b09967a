"""Which runs to train next: search IsoFLOP designs under a FLOP budget for the narrowest interval.

A candidate design is a set of IsoFLOP profiles (`Block`s): k budgets on a quarter-decade
lattice below the largest affordable run, spaced 1/4 to 1 decade apart; at each budget m sizes
centred on the belief's median N_opt there, neighbours a factor g apart; seeds growing as the
budget falls (small runs are cheap and noisier: seeds buy precision where a run costs little). Each candidate is added to the runs already trained and scored by the predicted width of
the interval at the target (`scaling.design.precision`):

1. every affordable candidate is scored by the delta method (instant);
2. Approach 3 chooses from those scores; Approach 2 re-scores the 12 best (or, with a width
   goal, the 12 cheapest that the delta method puts within reach of it) by simulated refits of
   its own estimator, which knows what the delta method does not: only the sizes next to each
   minimum are used, and a minimum at the edge of a profile loses that budget.
3. With a width goal, the cheapest design predicted to reach it wins; otherwise the narrowest,
   with ties (within `TIE`) going to the cheaper.

What each approach needs is in the family: every block is a profile bracketing its predicted
minimum (Approach 2's parabolas), budgets spread over up to 1.5 decades with sizes spanning
5-40x at each (Approach 3's spread in N and D that pins the exponents and E), and repeated
seeds where the noise is largest.

References:
    Atkinson, Donev & Tobias 2007, Ch. 17 (c-optimum designs); Chaloner & Verdinelli 1995
    (Bayesian design); Hoffmann et al. 2022, Sec. 3.2-3.3 (IsoFLOP profiles, parametric fit).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from scaling.design.belief import Belief, as_mapping
from scaling.design.goal import Goal
from scaling.design.precision import Points, Precision, fisher_width, simulated_width
from scaling.document import Document

LATTICE = 4
"""Budgets per decade of the lattice every design's budgets sit on (10^(k/4): rounds share budgets)."""
SIZES = (5, 7)
"""Sizes per profile."""
RATIOS = (1.6, 2.2, 3.0)
"""Neighbouring sizes' ratio in a profile: spans 6.6x-11x (1.6), 23x-113x (2.2), 81x-729x (3.0)."""
MAX_SPAN = 120.0
"""Largest/smallest size of a profile at most this (7 sizes 3x apart would span 729x)."""
SEED_EXPONENTS = (0.0, 0.25, 0.5)
"""Seeds at budget C: (C_top / C)^s rounded, 1 to MAX_SEEDS. Run noise falls with the budget
(runs/cpu-isoflop: sd ~ C^-0.37) while a seed's cost rises with it, so small budgets buy their
precision with seeds and the top budget with its low noise."""
MAX_SEEDS = 8
TOP_LEVELS = 5
"""Top budgets tried: the largest affordable lattice budget and the 4 below it."""
SIMULATED = 12
"""Candidates Approach 2 re-scores by simulation."""
TIE = 0.02
"""Widths within 2% count as equal; the cheaper design wins."""


def lattice(max_run_flops: float, index: int) -> float:
    """Budget `index` quarter-decades below the largest quarter-decade point 10^(k/4) at or under
    `max_run_flops`, to 3 significant digits: every round of every study, and the TOML written for
    it, uses the same numbers (1e12, 1.78e12, 3.16e12, 5.62e12, ...)."""
    top = math.floor(math.log10(max_run_flops) * LATTICE + 0.01)  # 3.16e12 is 10^12.5 to 3 digits
    return float(f"{10 ** ((top - index) / LATTICE):.3g}")


@dataclass(frozen=True, kw_only=True)
class Block:
    """One IsoFLOP profile to train: a budget, its sizes, seeds per size."""

    flops: float
    params: tuple[float, ...]
    seeds: int

    @property
    def cost(self) -> float:
        return self.flops * len(self.params) * self.seeds

    def points(self) -> Points:
        n = len(self.params)
        return Points(np.full(n, self.flops), np.array(self.params, dtype=float), np.full(n, float(self.seeds)))


@dataclass(frozen=True, kw_only=True)
class Proposal(Document):
    """The runs to train next and what they are predicted to buy."""

    SCHEMA: ClassVar[str] = "scaling.DesignProposal/1"

    target: float
    approach: str
    quantity: str
    level: float
    blocks: tuple[Block, ...]
    flops: float
    """FLOPs of the proposed runs."""
    study_flops: float
    """The budget the proposal was made under."""
    width_now: float | None
    """Predicted relative width from the runs already trained (None: not identified)."""
    predicted_width: float | None
    """Predicted relative width after the proposed runs and `later` (None: not identified)."""
    method: str
    belief: dict[str, Any] = field(default_factory=dict)
    existing_runs: int = 0
    candidates: int = 0
    notes: tuple[str, ...] = ()
    later: tuple[Block, ...] = ()
    """Profiles of the plan left to later rounds of a study (planned again before they run)."""

    def runs(self) -> list[dict[str, float]]:
        """One row per proposed configuration: budget_flops, params, tokens, seeds."""
        return [{"budget_flops": b.flops, "params": p, "tokens": b.flops / (6.0 * p), "seeds": b.seeds}
                for b in self.blocks for p in b.params]


class NoDesign(ValueError):
    """No candidate design fits the FLOPs given."""


Realise = Callable[[float], float]
"""A target parameter count -> the count of the shape that will be trained (a sweep's shape rule)."""


def propose(belief: Belief, goal: Goal, existing: Points | None = None, *, seed: int = 0,
            notes: Sequence[str] = (), realise: Realise | None = None) -> Proposal:
    """The design to train next under `goal` (see the module docstring). With `realise`, sizes
    are the shapes that will actually be trained, so the designer scores what it proposes."""
    existing = existing if existing is not None else Points.empty()
    now = _score(belief, existing, goal, seed, simulate=goal.approach == "2")
    designs = [d for d in candidates(belief, goal, realise) if sum(b.cost for b in d) <= goal.study_flops * (1 + 1e-9)]
    if not designs:
        raise NoDesign(f"no design fits the study budget of {goal.study_flops:.3g} FLOPs: the cheapest profile "
                       f"(5 sizes at {goal.smallest_run:.3g} FLOPs) costs {5 * goal.smallest_run:.3g}; "
                       "raise --study-flops or lower --min-run-flops")
    if goal.span_decades:
        trained = list(existing.flops)
        designs = [d for d in designs if _span(trained + [b.flops for b in d]) >= goal.span_decades - 1e-9]
        if not designs:
            raise NoDesign(f"no design within {goal.study_flops:.3g} FLOPs spans {goal.span_decades:g} decades of "
                           "budgets: raise the study FLOPs or lower span_decades")
    costs = np.array([sum(b.cost for b in d) for d in designs])
    screen = np.array([fisher_width(belief, existing + _points(d), goal.target, goal.quantity, goal.level).width
                       for d in designs])
    method = "delta method over all candidates"
    if goal.approach == "2":
        widths = np.full(len(designs), math.inf)
        simulated: set[int] = set()

        def simulate(indices: np.ndarray) -> None:
            for i in indices:
                if i not in simulated:
                    simulated.add(i)
                    widths[i] = simulated_width(belief, existing + _points(designs[i]), goal.target, goal.level,
                                                seed=seed).width

        best_screened = np.argsort(screen, kind="stable")[:SIMULATED]
        if goal.until_width is not None:
            reachable = np.flatnonzero(screen <= 1.5 * goal.until_width)
            simulate(reachable[np.argsort(costs[reachable], kind="stable")][:SIMULATED])
        if goal.until_width is None or not np.any(widths <= goal.until_width):
            simulate(best_screened)
        method = (f"delta method over {len(designs)} candidates; simulated Approach 2 refits of the best "
                  f"{SIMULATED}" + (" and the cheapest within reach of the width goal" if goal.until_width else ""))
    else:
        widths = screen
    best = _choose(widths, costs, goal.until_width)
    chosen = designs[best]
    return Proposal(target=goal.target, approach=goal.approach, quantity=goal.quantity, level=goal.level,
                    blocks=tuple(chosen), flops=float(costs[best]), study_flops=goal.study_flops,
                    width_now=_finite(now.width), predicted_width=_finite(widths[best]), method=method,
                    belief=dict(as_mapping(belief)), existing_runs=int(existing.flops.size),
                    candidates=len(designs), notes=tuple(notes))


def candidates(belief: Belief, goal: Goal, realise: Realise | None = None) -> list[list[Block]]:
    """Every design of the family (module docstring) within the run-size limits."""
    levels = [lattice(goal.largest_run, i) for i in range(0, LATTICE * 6 + 1)]
    levels = [c for c in levels if c >= goal.smallest_run * (1 - 1e-9)]
    centres = dict(zip(levels, belief.centre(levels)))
    profiles = {(c, m, ratio): _sizes(centres[c], m, ratio, realise)
                for c, m, ratio in itertools.product(levels, SIZES, RATIOS)}
    designs = []
    for top, k, step in itertools.product(range(TOP_LEVELS), range(2, 7), range(1, LATTICE + 1)):
        indices = [top + j * step for j in range(k)]
        if indices[-1] >= len(levels):
            continue
        for m, ratio, exponent in itertools.product(SIZES, RATIOS, SEED_EXPONENTS):
            if ratio ** (m - 1) > MAX_SPAN:
                continue
            blocks = [Block(flops=levels[i], params=profiles[levels[i], m, ratio],
                            seeds=int(min(MAX_SEEDS, max(1, round((levels[top] / levels[i]) ** exponent)))))
                      for i in indices]
            if all(len(b.params) >= 3 for b in blocks):  # a profile needs 3 distinct sizes
                designs.append(blocks)
    return designs


def _sizes(centre: float, m: int, ratio: float, realise: Realise | None) -> tuple[float, ...]:
    """m sizes a factor `ratio` apart centred on `centre`, as trained (distinct, sorted)."""
    targets = centre * ratio ** (np.arange(m) - (m - 1) / 2)
    sizes = [realise(float(t)) for t in targets] if realise is not None else [float(f"{t:.4g}") for t in targets]
    return tuple(sorted(set(sizes)))


def _choose(widths: np.ndarray, costs: np.ndarray, until_width: float | None) -> int:
    if until_width is not None and np.any(widths <= until_width):
        reaching = np.flatnonzero(widths <= until_width)
        return int(reaching[np.argmin(costs[reaching])])
    if not np.isfinite(widths).any():
        return int(np.argmin(costs))
    near = np.flatnonzero(widths <= widths.min() * (1 + TIE))
    return int(near[np.argmin(costs[near])])


def _score(belief: Belief, points: Points, goal: Goal, seed: int, simulate: bool) -> Precision:
    if points.flops.size == 0:
        return Precision(math.inf, "no runs")
    if simulate:
        return simulated_width(belief, points, goal.target, goal.level, seed=seed)
    return fisher_width(belief, points, goal.target, goal.quantity, goal.level)


def _points(design: Sequence[Block]) -> Points:
    out = Points.empty()
    for block in design:
        out = out + block.points()
    return out


def _span(budgets: Sequence[float]) -> float:
    return math.log10(max(budgets) / min(budgets))


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
