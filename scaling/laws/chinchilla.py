"""Hoffmann et al. 2022 (Chinchilla) parametric loss and its compute-optimal closed form.

Legend: N = parameters (all, embeddings included), D = tokens, C = training FLOPs = 6 N D,
E = irreducible loss, A/N^alpha and B/D^beta the finite-model and finite-data terms.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", arXiv:2203.15556,
    Eq. 2 (form), Eq. 4 (optimum), Eq. 10 (published fit).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from scaling.laws.base import Array, Law, positive_array


class ChinchillaLaw(Law):
    name = "chinchilla"
    param_names = ("E", "A", "B", "alpha", "beta")
    inputs = ("params", "tokens")
    reference = "Hoffmann et al. 2022 (Chinchilla), Eq. 2 and Eq. 4"
    log_coefficients = ("E", "A", "B")
    # Hoffmann et al. 2022, App. D.2: e in {-1, -.5, ..., 1}, a, b in {0, 5, ..., 25},
    # alpha, beta in {0, .5, ..., 2}: 4,500 starts.
    init_grid = {"E": (-1.0, -0.5, 0.0, 0.5, 1.0), "A": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
                 "B": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0), "alpha": (0.0, 0.5, 1.0, 1.5, 2.0),
                 "beta": (0.0, 0.5, 1.0, 1.5, 2.0)}

    def predict(self, coefficients: Mapping[str, float], params: npt.ArrayLike | None = None,
                tokens: npt.ArrayLike | None = None, flops: npt.ArrayLike | None = None) -> Array:
        """L(N, D) = E + A / N^alpha + B / D^beta   (Hoffmann et al. 2022, Eq. 2)."""
        c = coefficients
        N = positive_array("params", params)
        D = positive_array("tokens", tokens)
        return c["E"] + c["A"] / N ** c["alpha"] + c["B"] / D ** c["beta"]

    def optimal(self, coefficients: Mapping[str, float], flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Compute-optimal (params, tokens) for a FLOP budget, assuming C = 6 N D.

        Hoffmann et al. 2022 (Chinchilla), Eq. 4:
            N_opt = G (C/6)^a,  D_opt = (C/6)^b / G,
            G = (alpha A / (beta B))^(1/(alpha+beta)),  a = beta/(alpha+beta),  b = alpha/(alpha+beta)
        E does not move the optimum.
        """
        c = coefficients
        C = positive_array("flops", flops)
        a, b = exponents(c)
        G = _allocation_constant(c)
        return G * (C / 6.0) ** a, (C / 6.0) ** b / G

    def optimal_tokens(self, coefficients: Mapping[str, float], params: npt.ArrayLike) -> Array:
        """Loss-minimising D for a fixed N at the FLOPs 6 N D that D implies (inverse of Eq. 4)."""
        c = coefficients
        N = positive_array("params", params)
        a, _ = exponents(c)
        G = _allocation_constant(c)
        flops = 6.0 * (N / G) ** (1.0 / a)
        return flops / (6.0 * N)


def exponents(coefficients: Mapping[str, float]) -> tuple[float, float]:
    """(a, b) with N_opt ~ C^a, D_opt ~ C^b: a = beta/(alpha+beta), b = alpha/(alpha+beta) (Eq. 4)."""
    alpha, beta = coefficients["alpha"], coefficients["beta"]
    return beta / (alpha + beta), alpha / (alpha + beta)


CHINCHILLA = ChinchillaLaw()


def _allocation_constant(c: Mapping[str, float]) -> Array:
    """G = (alpha A / (beta B))^(1/(alpha+beta)) (Hoffmann et al. 2022, Eq. 4), in log space: extreme
    coefficients (an edited fit file) give inf or 0, which planners refuse as non-finite, never an
    OverflowError from Python's float power."""
    log_g = (np.log(c["alpha"] * c["A"]) - np.log(c["beta"] * c["B"])) / (c["alpha"] + c["beta"])
    with np.errstate(over="ignore"):  # overflow to inf is the answer here, checked by the caller
        return np.exp(np.float64(log_g))
