"""Muennighoff et al. 2023 data-constrained law: Chinchilla's form on effective data and params.

Repeated tokens are worth less than fresh ones and parameters beyond what the unique data can
use are worth less than useful ones; both decay exponentially with the repetition.
Legend: N = parameters (total), D = tokens trained on (repeats included), U = unique tokens
available, U_D = min(U, D) unique tokens seen, R_D = D / U_D - 1 repetitions,
U_N = min(N, N_opt(U_D)) "unique" parameters, R_N = N / U_N - 1 excess parameters,
D', N' effective data and parameters, R*_D (R_D_star), R*_N (R_N_star) decay constants,
C = 6 N D training FLOPs.

References:
    Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", arXiv:2305.16264,
    Sec. 3.1 and Eq. 5-7 (form); huggingface/datablations README, "Parametric Fit" (fitted
    constants and the reference implementation `scaling_law(N, D, U)`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from scaling.laws.base import Array, Law, positive_array

SEARCH_HALF_WIDTH = 12.0
"""Half-width, in e-folds of N around sqrt(C/6), of the compute-optimum search (N/D from e^-24 to e^24)."""


def optimal_params_for_tokens(coefficients: Mapping[str, Any], tokens: npt.ArrayLike) -> Array:
    """N whose Chinchilla-optimal data is `tokens`: N = G (D G)^(beta/alpha).

    Inverse of Hoffmann et al. 2022 (Chinchilla), Eq. 4 (N_opt = G (C/6)^a, D_opt = (C/6)^b / G,
    G = (alpha A / (beta B))^(1/(alpha+beta))); datablations README `D_to_N`.
    """
    c = coefficients
    G = (c["alpha"] * c["A"] / (c["beta"] * c["B"])) ** (1.0 / (c["alpha"] + c["beta"]))
    return np.asarray(G * (np.asarray(tokens, dtype=float) * G) ** (c["beta"] / c["alpha"]), dtype=float)


def effective_tokens(coefficients: Mapping[str, Any], tokens: npt.ArrayLike, unique_tokens: npt.ArrayLike) -> Array:
    """D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D)), U_D = min(U, D), R_D = D / U_D - 1.

    Muennighoff et al. 2023, Eq. 5 (effective data). D' <= U_D (1 + R*_D): repeating a data set
    forever is worth at most 1 + R*_D fresh copies.
    """
    D = np.asarray(tokens, dtype=float)
    unique_seen = np.minimum(np.asarray(unique_tokens, dtype=float), D)
    R_D = np.maximum(D / unique_seen - 1.0, 0.0)
    R_D_star = coefficients["R_D_star"]
    return np.asarray(unique_seen + unique_seen * R_D_star * (1.0 - np.exp(-R_D / R_D_star)), dtype=float)


def effective_params(coefficients: Mapping[str, Any], params: npt.ArrayLike, unique_tokens_seen: npt.ArrayLike) -> Array:
    """N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N)), U_N = min(N, N_opt(U_D)), R_N = N / U_N - 1.

    Muennighoff et al. 2023, Eq. 6 (effective parameters); N_opt(U_D) is the Chinchilla-optimal
    size for U_D tokens (`optimal_params_for_tokens`).
    """
    N = np.asarray(params, dtype=float)
    U_N = np.minimum(N, optimal_params_for_tokens(coefficients, unique_tokens_seen))
    R_N = np.maximum(N / U_N - 1.0, 0.0)
    R_N_star = coefficients["R_N_star"]
    return np.asarray(U_N + U_N * R_N_star * (1.0 - np.exp(-R_N / R_N_star)), dtype=float)


def minimize_log(function: Callable[[Array], Array], low: npt.ArrayLike, high: npt.ArrayLike, n_grid: int = 241,
                 iterations: int = 80, slope: Callable[[Array], Array] | None = None) -> Array:
    """argmin of `function` over x in [low, high], elementwise over broadcast arrays.

    A grid scan locates the basin (robust to a kink or a flat stretch), then the bracket between
    the best point's neighbours shrinks: by bisection on the sign of `slope` (d function / dx)
    when given, else by golden-section search on values (x to about 1e-8 relative: a minimum is
    flat). `function` and `slope` map x of shape (..., k) to values of the same shape.
    """
    low, high = np.broadcast_arrays(np.asarray(low, dtype=float), np.asarray(high, dtype=float))
    steps = np.linspace(0.0, 1.0, n_grid)
    grid = low[..., None] + (high - low)[..., None] * steps
    best = np.argmin(function(grid), axis=-1)
    left = np.take_along_axis(grid, np.maximum(best - 1, 0)[..., None], axis=-1)[..., 0]
    right = np.take_along_axis(grid, np.minimum(best + 1, n_grid - 1)[..., None], axis=-1)[..., 0]
    if slope is not None:
        for _ in range(iterations):
            middle = (left + right) / 2.0
            rising = slope(middle[..., None])[..., 0] > 0
            left, right = np.where(rising, left, middle), np.where(rising, middle, right)
        return np.asarray((left + right) / 2.0, dtype=float)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(iterations):
        inner_left, inner_right = right - ratio * (right - left), left + ratio * (right - left)
        values = function(np.stack([inner_left, inner_right], axis=-1))
        keep_left = values[..., 0] <= values[..., 1]
        right = np.where(keep_left, inner_right, right)
        left = np.where(keep_left, left, inner_left)
    return np.asarray((left + right) / 2.0, dtype=float)


class DataConstrainedLaw(Law):
    name = "data_constrained"
    param_names = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    inputs = ("params", "tokens")
    reference = ("Muennighoff et al. 2023, Eq. 5-7: L = E + A / N'^alpha + B / D'^beta with effective "
                 "data D' and parameters N' (huggingface/datablations README)")

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None,
                unique_tokens: npt.ArrayLike | None = None) -> Array:
        """L(N, D, U) = E + A / N'^alpha + B / D'^beta   (Muennighoff et al. 2023, Eq. 7).

        `unique_tokens` None means unlimited data (U >= D: nothing repeats, U_D = D).
        """
        c = coefficients
        N = positive_array("params", params)
        D = positive_array("tokens", tokens)
        U = D if unique_tokens is None else positive_array("unique_tokens", unique_tokens)
        unique_seen = np.minimum(U, D)
        N_eff = effective_params(c, N, unique_seen)
        D_eff = effective_tokens(c, D, U)
        return np.asarray(c["E"] + c["A"] / N_eff ** c["alpha"] + c["B"] / D_eff ** c["beta"], dtype=float)

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike,
                unique_tokens: npt.ArrayLike | None = None) -> tuple[Array, Array]:
        """(N, D) minimising L(N, C / (6N), U) at C = 6 N D; numerical (the law has no closed form).

        Muennighoff et al. 2023, Sec. 3.2 (allocation under a data constraint); the datablations
        README grid-searches the same objective. Without `unique_tokens`, data is unlimited.
        """
        C = positive_array("flops", flops)
        U = None if unique_tokens is None else positive_array("unique_tokens", unique_tokens)
        # Coefficients may be bootstrap draws of shape (K, 1): search every (draw, budget) at once.
        shape = np.broadcast_shapes(C.shape, *(np.shape(v) for v in coefficients.values()),
                                    () if U is None else U.shape)
        C = np.broadcast_to(C, shape)
        center = 0.5 * np.log(C / 6.0)
        coefficients_k = {k: np.broadcast_to(np.asarray(v, dtype=float), shape)[..., None]
                          for k, v in coefficients.items()}
        C_k = C[..., None]
        U_k = None if U is None else np.broadcast_to(U, shape)[..., None]

        def loss_at(log_params: Array) -> Array:
            N = np.exp(log_params)
            return self.predict(coefficients_k, params=N, tokens=C_k / (6.0 * N), unique_tokens=U_k)  # type: ignore[arg-type]

        def slope_at(log_params: Array) -> Array:
            return isoflop_slope(coefficients_k, np.exp(log_params), C_k, U_k)

        # The grid locates the basin; the sign of the exact slope then pins the optimum to machine
        # precision (minimising by loss values alone resolves it only to about 1e-8).
        log_params = minimize_log(loss_at, center - SEARCH_HALF_WIDTH, center + SEARCH_HALF_WIDTH, n_grid=97,
                                  iterations=56, slope=slope_at)
        N = np.exp(log_params)
        return N, C / (6.0 * N)


def isoflop_slope(coefficients: Mapping[str, Any], params: Array, flops: Array, unique_tokens: Array | None) -> Array:
    """dL/d(log N) along C = 6 N D (D = C / (6N)), from Muennighoff et al. 2023, Eq. 5-7.

    d log D' / d log D = (D / D') exp(-R_D / R*_D) (1 while nothing repeats);
    N' = U_N (1 + R*_N (1 - exp(-R_N/R*_N))) with d log U_N / d log N = s = -(beta/alpha) while
    U_D = D (else 0), so dN'/d log N = U_N [s (1 + R*_N (1 - e_N)) + e_N (N / U_N)(1 - s)], e_N = exp(-R_N/R*_N).
    """
    c = coefficients
    N = np.asarray(params, dtype=float)
    D = flops / (6.0 * N)
    U = D if unique_tokens is None else np.asarray(unique_tokens, dtype=float)
    repeats = D > U
    unique_seen = np.minimum(U, D)
    D_eff = effective_tokens(c, D, U)
    R_D = np.maximum(D / unique_seen - 1.0, 0.0)
    dlog_D_eff = np.where(repeats, -(D / D_eff) * np.exp(-R_D / c["R_D_star"]), -1.0)
    U_N_opt = optimal_params_for_tokens(c, unique_seen)
    s = np.where(repeats, 0.0, -c["beta"] / c["alpha"])
    excess = N > U_N_opt
    U_N = np.minimum(N, U_N_opt)
    R_N = N / U_N - 1.0
    e_N = np.exp(-R_N / c["R_N_star"])
    N_eff = U_N * (1.0 + c["R_N_star"] * (1.0 - e_N))
    dN_eff = U_N * (s * (1.0 + c["R_N_star"] * (1.0 - e_N)) + e_N * (N / U_N) * (1.0 - s))
    dlog_N_eff = np.where(excess, dN_eff / N_eff, 1.0)
    return np.asarray(-c["alpha"] * c["A"] * N_eff ** -c["alpha"] * dlog_N_eff
                      - c["beta"] * c["B"] * D_eff ** -c["beta"] * dlog_D_eff, dtype=float)


DATA_CONSTRAINED = DataConstrainedLaw()
