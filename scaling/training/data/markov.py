"""A random first-order Markov source with an exactly known entropy rate.

Fits can be checked against it: the best any model can do on its tokens is the entropy rate,
so the irreducible loss E of a fitted law should land there.
Spec options (scaling.training.data.corpus): seed (0), vocab (16), tokens (4,194,304), alpha (0.5: the
Dirichlet concentration of each transition row; smaller is more predictable), chains (1024:
independent chains, each a document).

References: Cover & Thomas 2006, "Elements of Information Theory", Thm. 4.2.4 (entropy rate
of a stationary Markov chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class MarkovSource:
    """Transition table P (rows sum to one) of a first-order chain over `vocab_size` tokens."""

    transition: FloatArray

    @classmethod
    def random(cls, vocab_size: int, *, alpha: float, rng: np.random.Generator) -> MarkovSource:
        """Rows drawn from a symmetric Dirichlet(alpha)."""
        if vocab_size < 2 or not alpha > 0:
            raise ValueError(f"need vocab >= 2 and alpha > 0, got vocab={vocab_size}, alpha={alpha}")
        # Floor at 1e-12 so every transition stays possible (finite log-probabilities).
        rows = np.maximum(rng.dirichlet(np.full(vocab_size, alpha), size=vocab_size), 1e-12)
        return cls(rows / rows.sum(axis=1, keepdims=True))

    @property
    def vocab_size(self) -> int:
        return int(self.transition.shape[0])

    def stationary(self) -> FloatArray:
        """pi with pi P = pi (left eigenvector for eigenvalue 1)."""
        values, vectors = np.linalg.eig(self.transition.T)
        pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
        return pi / pi.sum()

    def entropy_rate(self) -> float:
        """H = -sum_i pi_i sum_j P_ij ln P_ij, nats/token (Cover & Thomas 2006, Thm. 4.2.4)."""
        p = self.transition
        return float(-(self.stationary() * (p * np.log(p)).sum(axis=1)).sum())

    def sample(self, n_chains: int, length: int, rng: np.random.Generator) -> npt.NDArray[np.uint16]:
        """`n_chains` independent chains of `length` tokens, started from pi; shape (n_chains, length)."""
        cdf = np.cumsum(self.transition, axis=1)
        cdf[:, -1] = 1.0
        out = np.empty((n_chains, length), dtype=np.uint16)
        state = rng.choice(self.vocab_size, size=n_chains, p=self.stationary())
        out[:, 0] = state
        for t in range(1, length):
            u = rng.random(n_chains)[:, None]
            state = (u > cdf[state]).sum(axis=1)
            out[:, t] = state
        return out

    def cross_entropy(self, chains: npt.NDArray[np.integer[Any]]) -> float:
        """Mean -ln P(x_t+1 | x_t) over every transition inside the chains (rows), nats/token."""
        return float(-np.log(self.transition[chains[:, :-1], chains[:, 1:]]).mean())
