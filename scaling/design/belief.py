"""What the designer believes before the next runs: draws of the law, and the run-to-run noise.

The world the designer simulates is Chinchilla's L(N, D) = E + A / N^alpha + B / D^beta
(Hoffmann et al. 2022, Eq. 2) with multiplicative noise: one run's log loss scatters around the
law with standard deviation sd(C) = sd_ref (C / C_ref)^slope, the seed scatter of one
configuration. Small runs are noisier (runs/cpu-isoflop: 2.9% of the loss at 3e11 FLOPs, 0.8%
at 1e13), so the noise is a power law in the budget, fitted to the pooled seed scatter of each
budget where repeated seeds exist.

Where the draws come from:

- a prior (no runs yet): a published law, or a user's Approach 3 fit file, with a stated spread:
  the exponents alpha and beta each move by `exponent_sd`, and the scale A moves so that N_opt at
  the reference budget lies within x/`spread` of the law's with 90% probability (Chaloner &
  Verdinelli 1995, Sec. 2: a Bayesian design averages its criterion over a prior);
- runs: the Approach 3 fit of those runs and its bootstrap draws (scaling.fit.engine), the
  posterior the next runs are designed against.

References:
    Hoffmann et al. 2022, Eq. 2 and 4; Chaloner & Verdinelli 1995, "Bayesian Experimental
    Design: A Review", Statistical Science 10(3).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from scaling.laws.base import Array, LawEstimate
from scaling.laws.registry import get_law
from scaling.fit.engine import fit_law
from scaling.fit.isoflop import budget_labels
from scaling.fit.result import FitWarning
from scaling.runs import replicate_labels

logger = logging.getLogger(__name__)

PARAMS = ("E", "A", "B", "alpha", "beta")
"""Columns of `Belief.draws`: Chinchilla's coefficients (Hoffmann et al. 2022, Eq. 2)."""
DEFAULT_NOISE = 0.01
"""Seed scatter of one run's log loss assumed when the runs have no repeated seeds and no fit
(1%: between runs/cpu-isoflop's 0.8% at 1e13 FLOPs and 2.9% at 3e11)."""
Z90 = 1.6448536269514722
"""Standard normal 95th percentile: a 90% interval spans +-Z90 standard deviations."""


@dataclass(frozen=True, kw_only=True)
class Noise:
    """Standard deviation of one run's log loss as a power law in its budget."""

    sd: float
    """At `reference_flops`."""
    reference_flops: float
    slope: float = 0.0
    """d log sd / d log C (runs/cpu-isoflop: about -0.37)."""
    source: str = f"assumed ({DEFAULT_NOISE:.0%})"

    def at(self, flops: npt.ArrayLike) -> Array:
        return self.sd * (np.asarray(flops, dtype=float) / self.reference_flops) ** self.slope


@dataclass(frozen=True, kw_only=True)
class Belief:
    """Draws of Chinchilla's coefficients (S, 5) in `PARAMS` order, and the run noise."""

    draws: Array
    noise: Noise
    source: str
    """Where the draws came from (prior preset and spread, or the fit of N runs)."""

    def coefficients(self) -> dict[str, Array]:
        """{name: (S, 1)}: broadcasts against (n,) inputs to (S, n)."""
        return {name: self.draws[:, [i]] for i, name in enumerate(PARAMS)}

    def optimal(self, flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Each draw's compute-optimal (params, tokens) at `flops`, (S, n) each (C = 6 N D)."""
        return get_law("chinchilla").optimal(self.coefficients(), np.atleast_1d(np.asarray(flops, dtype=float)))

    def loss(self, params: npt.ArrayLike, tokens: npt.ArrayLike) -> Array:
        """Each draw's loss at (params, tokens), (S, n)."""
        c = self.coefficients()
        N, D = np.atleast_1d(np.asarray(params, dtype=float)), np.atleast_1d(np.asarray(tokens, dtype=float))
        return c["E"] + c["A"] / N ** c["alpha"] + c["B"] / D ** c["beta"]

    def centre(self, flops: npt.ArrayLike) -> Array:
        """The median draw's N_opt at each budget (geometric): where sizes are centred."""
        params, _ = self.optimal(flops)
        return np.exp(np.median(np.log(params), axis=0))


def prior(law: LawEstimate, *, reference_flops: float, spread: float = 3.0, exponent_sd: float = 0.05,
          noise: Noise | None = None, draws: int = 256, seed: int = 0) -> Belief:
    """A prior belief around `law` (a chinchilla-form preset or fit; see the module docstring).

    A fit with bootstrap draws (`scaling fit --approach 3 --bootstrap K`) is used as it is; a
    point law gets the stated spread: N_opt at `reference_flops` within x/`spread` of the law's
    with 90% probability, alpha and beta each with standard deviation `exponent_sd`.
    """
    if law.law != "chinchilla":
        raise ValueError(f"the prior must be a law of Chinchilla's form L(N, D) (a chinchilla preset or an "
                         f"Approach 3 fit file); {law.label} is {law.law!r}")
    if not spread >= 1 or not exponent_sd >= 0:
        raise ValueError(f"prior spread must be >= 1 and exponent_sd >= 0, got {spread}, {exponent_sd}")
    noise = noise or Noise(sd=DEFAULT_NOISE, reference_flops=reference_flops)
    samples = getattr(law, "samples", None)
    if samples:
        table = np.column_stack([np.asarray(samples[name], dtype=float) for name in PARAMS])
        return Belief(draws=table, noise=noise, source=f"{law.label} and its {len(table)} bootstrap draws")
    rng = np.random.default_rng(seed)
    c = {name: float(law.coefficients[name]) for name in PARAMS}
    alpha = np.clip(c["alpha"] + exponent_sd * rng.standard_normal(draws), 0.05, 2.0)
    beta = np.clip(c["beta"] + exponent_sd * rng.standard_normal(draws), 0.05, 2.0)
    # Hoffmann et al. 2022, Eq. 4: N_opt = G (C/6)^a, G = (alpha A / (beta B))^(1/(alpha+beta)),
    # a = beta / (alpha + beta). Solve for the A that puts N_opt at the drawn target.
    base = float(get_law("chinchilla").optimal(c, np.array([reference_flops]))[0][0])
    wanted = base * np.exp(math.log(spread) / Z90 * rng.standard_normal(draws))
    G = wanted / (reference_flops / 6.0) ** (beta / (alpha + beta))
    A = G ** (alpha + beta) * beta * c["B"] / alpha
    table = np.column_stack([np.full(draws, c["E"]), A, np.full(draws, c["B"]), alpha, beta])
    return Belief(draws=table, noise=noise,
                  source=f"prior {law.label}: N_opt x/{spread:g} (90%) at {reference_flops:.3g} FLOPs, "
                         f"exponents +-{exponent_sd:g}")


def from_runs(runs: pd.DataFrame, all_runs: pd.DataFrame, *, fallback: Belief, draws: int = 64,
              seed: int = 0) -> tuple[Belief, list[str]]:
    """The posterior after `runs` (seeds averaged; `all_runs` keeps them apart for the noise):
    the Approach 3 fit's bootstrap draws, or `fallback` (the prior) where that fit fails or is
    not identifiable from these runs. Returns the belief and notes on what was decided."""
    notes: list[str] = []
    noise = seed_noise(all_runs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)  # the flags below say what matters
            fit = fit_law("chinchilla", runs, bootstrap=draws, level=0.9, seed=seed, n_jobs=1)
    except ValueError as exc:
        notes.append(f"Approach 3 could not be fitted to the {len(runs)} runs ({exc}); designing from the prior")
        return _with_noise(fallback, noise), notes
    if fit.not_identifiable or not fit.samples:
        notes.append(f"the {len(runs)} runs do not identify Approach 3 ({', '.join(fit.not_identifiable) or 'no draws'}); "
                     "designing from the prior")
        return _with_noise(fallback, noise), notes
    if noise is None:
        residuals = np.log(runs["loss"].to_numpy(float)) - np.log(fit.predict(runs["params"], runs["tokens"]))
        mad = float(np.median(np.abs(residuals - np.median(residuals)))) * 1.4826  # normal-consistent MAD
        noise = Noise(sd=max(mad, 1e-4), reference_flops=float(np.exp(np.log(runs["flops"]).mean())),
                      source="residuals of the Approach 3 fit (no repeated seeds)")
        notes.append(f"no repeated seeds: run noise {noise.sd:.2%} taken from the fit's residuals (an upper bound)")
    table = np.column_stack([np.asarray(fit.samples[name], dtype=float) for name in PARAMS])
    usable = np.isfinite(table).all(axis=1) & (table > 0).all(axis=1)
    if usable.sum() < len(table):
        notes.append(f"{len(table) - usable.sum()} of {len(table)} bootstrap draws of the fit are degenerate "
                     "(a zero or infinite coefficient) and left out of the belief")
    if usable.sum() < 8:
        notes.append("too few usable bootstrap draws; designing from the prior")
        return _with_noise(fallback, noise), notes
    return Belief(draws=table[usable], noise=noise, source=f"Approach 3 fit of {len(runs)} configurations, "
                                                           f"{int(usable.sum())} bootstrap draws"), notes


def seed_noise(all_runs: pd.DataFrame) -> Noise | None:
    """Run noise from repeated seeds: the pooled standard deviation of log loss between seeds of
    one configuration, per budget, then log sd = log sd_ref + slope log(C / C_ref) by least
    squares over budgets (slope 0 with one budget). None without repeated seeds."""
    if len(all_runs) < 2:
        return None
    frame = all_runs.assign(log_loss=np.log(all_runs["loss"].to_numpy(float)),
                            config=replicate_labels(all_runs).to_numpy(), budget=budget_labels(all_runs))
    rows = []
    for _, group in frame.groupby("budget"):
        spread = group.groupby("config")["log_loss"].agg(["var", "count"]).dropna()
        spread = spread[spread["count"] > 1]
        if spread.empty:
            continue
        pooled = float(np.sqrt((spread["var"] * (spread["count"] - 1)).sum() / (spread["count"] - 1).sum()))
        rows.append((float(np.exp(np.log(group["flops"].to_numpy(float)).mean())), max(pooled, 1e-4)))
    if not rows:
        return None
    flops, sd = (np.array(v) for v in zip(*rows))
    reference = float(np.exp(np.log(flops).mean()))
    slope = float(np.polyfit(np.log(flops / reference), np.log(sd), 1)[0]) if len(rows) > 1 else 0.0
    slope = float(np.clip(slope, -1.0, 0.5))  # two noisy budgets must not extrapolate wildly
    sd_ref = float(np.exp(np.mean(np.log(sd) - slope * np.log(flops / reference))))
    return Noise(sd=sd_ref, reference_flops=reference, slope=slope,
                 source=f"seed scatter at {len(rows)} budget{'s' if len(rows) > 1 else ''}")


def _with_noise(belief: Belief, noise: Noise | None) -> Belief:
    return belief if noise is None else Belief(draws=belief.draws, noise=noise, source=belief.source)


def as_mapping(belief: Belief) -> Mapping[str, object]:
    """What a proposal records of its belief."""
    n = belief.noise
    return {"source": belief.source, "draws": int(len(belief.draws)),
            "noise": {"sd": n.sd, "reference_flops": n.reference_flops, "slope": n.slope, "source": n.source}}
