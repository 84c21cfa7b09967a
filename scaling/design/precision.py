"""How wide the interval at the target will be after a set of runs: the designer's criterion.

A design is a set of configurations (`Points`: budget, params, seeds). Its predicted width is
the relative width (high - low) / estimate of the `level` interval of the target quantity
(N_opt, or the loss at the optimum) at the target budget, averaged over the belief's draws:

- Approach 3 (a smooth parametric fit): the delta method on the Fisher information of the
  design, the classical criterion of locally optimal design for nonlinear regression (Chernoff
  1953; Atkinson, Donev & Tobias 2007, Ch. 17 "c-optimum designs" for one function of the
  parameters), evaluated at every draw (pseudo-Bayesian, Chaloner & Verdinelli 1995, Sec. 2.2)
  and the median taken. The fit minimises Huber terms with delta = 1e-3, far below the noise
  (~1%), so it behaves as least absolute deviations, whose variance under normal noise is pi/2
  times that of least squares (Koenker & Bassett 1978, Theorem 4.1).
- Approach 2 (per-budget parabolas, then a power law: not smooth in the data, with edge
  optima dropped): simulated refits. Losses are drawn from the belief's worlds with the run
  noise, the estimator itself (`scaling.fit.isoflop.allocation`) refits them, and the spread of
  its error against each world's truth is the width; designs that fail to identify the law in
  more than `MAX_FAILED` of the simulations (profiles whose minimum falls at an edge) get an
  infinite width.

References:
    Chernoff 1953, "Locally optimal designs for estimating parameters", Ann. Math. Stat. 24;
    Atkinson, Donev & Tobias 2007, "Optimum Experimental Designs, with SAS", Ch. 17;
    Chaloner & Verdinelli 1995, Statistical Science 10(3); Koenker & Bassett 1978,
    "Regression Quantiles", Econometrica 46(1); Hoffmann et al. 2022, Sec. 3.2-3.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from scaling.design.belief import Belief
from scaling.laws.base import Array
from scaling.fit.isoflop import allocation

LAD_VARIANCE = math.pi / 2
"""Variance of least absolute deviations over least squares under normal noise (Koenker &
Bassett 1978): the Huber fit with delta << noise is an LAD fit."""
MAX_FAILED = 0.1
"""Share of simulated refits that may fail (edge optima, too few budgets) before a design's
width is counted infinite."""
FISHER_DRAWS = 64
"""Draws the delta method averages over (an even subset of the belief's): its median is stable
to a few percent at this many, and the screen scores every candidate design."""


@dataclass(frozen=True)
class Points:
    """Configurations of a design: one entry per (budget, size), with its number of seeds."""

    flops: Array
    params: Array
    seeds: Array

    @classmethod
    def empty(cls) -> Points:
        return cls(np.empty(0), np.empty(0), np.empty(0))

    @property
    def tokens(self) -> Array:
        return self.flops / (6.0 * self.params)

    @property
    def cost(self) -> float:
        return float((self.flops * self.seeds).sum())

    def __add__(self, other: Points) -> Points:
        return Points(*(np.concatenate([a, b]) for a, b in
                        ((self.flops, other.flops), (self.params, other.params), (self.seeds, other.seeds))))


@dataclass(frozen=True)
class Precision:
    """A design's predicted interval at the target."""

    width: float
    """Relative width (high - low) / estimate of the level interval; inf when not identified."""
    method: str
    failed: float = 0.0
    """Share of simulated refits that failed (Approach 2)."""


def relative_width(sd: Array | float, level: float) -> Array:
    """(high - low) / estimate of a log-normal interval with log standard deviation `sd`."""
    z = stats.norm.ppf(0.5 + level / 2)
    return np.exp(z * np.asarray(sd)) - np.exp(-z * np.asarray(sd))


def target_value(belief: Belief, target: float, quantity: str) -> Array:
    """log N_opt (quantity "params") or log L at the optimum ("loss") at `target`, per draw (S,)."""
    params, tokens = belief.optimal(target)
    if quantity == "params":
        return np.log(params[:, 0])
    return np.log(_loss_at(belief.draws, params[:, 0], tokens[:, 0]))


def _loss_at(draws: Array, params: Array, tokens: Array) -> Array:
    E, A, B, alpha, beta = draws.T
    return E + A / params**alpha + B / tokens**beta


def fisher_width(belief: Belief, points: Points, target: float, quantity: str, level: float) -> Precision:
    """Approach 3: the delta-method width (see the module docstring), median over draws."""
    if points.flops.size < 5:
        return Precision(math.inf, "delta method: fewer configurations than the law's 5 coefficients")
    theta = _theta(belief.draws[::max(1, len(belief.draws) // FISHER_DRAWS)])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # extreme draws: non-finite, dropped below
        jac = _jacobian(theta, points.params, points.tokens)  # (S, n, 5) d log L / d theta
    weights = points.seeds / belief.noise.at(points.flops) ** 2  # seeds average: variance sd^2 / seeds
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        info = np.einsum("sni,n,snj->sij", jac, weights, jac)
        grad = _gradient(theta, target, quantity)  # (S, 5)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        var = np.full(len(theta), np.inf)
        finite = np.isfinite(info).all(axis=(1, 2)) & np.isfinite(grad).all(axis=1)
        conditioned = finite.copy()
        conditioned[finite] = np.linalg.cond(info[finite]) < 1e12
        if conditioned.any():
            solved = np.linalg.solve(info[conditioned], grad[conditioned][..., None])[..., 0]
            var[conditioned] = LAD_VARIANCE * np.einsum("si,si->s", grad[conditioned], solved)
    sd = np.sqrt(np.where(var > 0, var, np.inf))
    return Precision(float(np.median(relative_width(sd, level))), "delta method (Fisher information, LAD)")


def simulated_width(belief: Belief, points: Points, target: float, level: float, *,
                    replicates: int = 160, seed: int = 0) -> Precision:
    """Approach 2: the spread of refits on simulated losses (see the module docstring)."""
    truth = target_value(belief, target, "params")
    labels = np.unique(points.flops, return_inverse=True)[1].ravel()
    mean_loss = belief.loss(points.params, points.tokens)  # (S, n)
    sd = belief.noise.at(points.flops) / np.sqrt(points.seeds)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((replicates, points.flops.size))
    errors = []
    for j in range(replicates):
        world = j % len(truth)
        loss = mean_loss[world] * np.exp(sd * noise[j])
        try:
            fitted = allocation(points.flops, points.params, points.tokens, loss, labels)
        except ValueError:  # fewer than 2 interior budgets: this simulation identifies nothing
            continue
        errors.append(math.log(fitted["k"]) + fitted["a"] * math.log(target) - truth[world])
    failed = 1.0 - len(errors) / replicates
    if failed > MAX_FAILED or len(errors) < 10:
        return Precision(math.inf, "simulated Approach 2 refits", failed)
    low, high = np.quantile(errors, [0.5 - level / 2, 0.5 + level / 2])
    return Precision(float(np.exp(high - np.median(errors)) - np.exp(low - np.median(errors))),
                     "simulated Approach 2 refits", failed)


def _theta(draws: Array) -> Array:
    """Draws in the fit's coordinates: log E, log A, log B, alpha, beta (scaling.fit.objective)."""
    return np.column_stack([np.log(draws[:, 0]), np.log(draws[:, 1]), np.log(draws[:, 2]), draws[:, 3], draws[:, 4]])


def _jacobian(theta: Array, params: Array, tokens: Array) -> Array:
    """d log L / d (log E, log A, log B, alpha, beta) at every point, (S, n, 5)."""
    E, A, B = (np.exp(theta[:, [i]]) for i in range(3))
    alpha, beta = theta[:, [3]], theta[:, [4]]
    model = A * params ** -alpha
    data = B * tokens ** -beta
    L = E + model + data
    return np.stack([E / L, model / L, data / L, -model * np.log(params) / L,
                     -data * np.log(tokens) / L], axis=-1)


def _gradient(theta: Array, target: float, quantity: str, step: float = 1e-5) -> Array:
    """d g / d theta by central differences, g = log N_opt or log L_opt at `target`, (S, 5)."""
    grad = np.empty_like(theta)
    for i in range(theta.shape[1]):
        shift = np.zeros(theta.shape[1])
        shift[i] = step
        grad[:, i] = (_g(theta + shift, target, quantity) - _g(theta - shift, target, quantity)) / (2 * step)
    return grad


def _g(theta: Array, target: float, quantity: str) -> Array:
    E, A, B = (np.exp(theta[:, i]) for i in range(3))
    alpha, beta = theta[:, 3], theta[:, 4]
    # Hoffmann et al. 2022, Eq. 4
    a = beta / (alpha + beta)
    log_G = (np.log(alpha * A) - np.log(beta * B)) / (alpha + beta)
    log_n = log_G + a * math.log(target / 6.0)
    if quantity == "params":
        return log_n
    log_d = math.log(target / 6.0) - log_n
    return np.log(E + A * np.exp(-alpha * log_n) + B * np.exp(-beta * log_d))
