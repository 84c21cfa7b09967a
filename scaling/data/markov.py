"""A random first-order Markov source with an exactly known entropy rate.

Fits can be checked against it: the best any model can do on its tokens is the entropy rate,
so the irreducible loss E of a fitted law should land there.
Spec options (scaling.data.corpus): seed (0), vocab (16), tokens (4,194,304), alpha (0.5: the
Dirichlet concentration of each transition row; smaller is more predictable), chains (1024:
independent chains, each a document).

References: Cover & Thomas 2006, "Elements of Information Theory", Thm. 4.2.4 (entropy rate
of a stationary Markov chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scaling.data.corpus import Corpus

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


def markov_corpus(spec: str, options: dict[str, str], val_fraction: float) -> Corpus:
    """The corpus of a "synthetic:markov" spec: chains concatenated, the last ones held out."""
    from scaling.data.corpus import Corpus, token_digest

    known = {"seed", "vocab", "tokens", "alpha", "chains"}
    if set(options) - known:
        raise ValueError(f"unknown markov options {sorted(set(options) - known)} in {spec!r}")
    seed, vocab = int(options.get("seed", 0)), int(options.get("vocab", 16))
    n_chains, tokens = int(options.get("chains", 1024)), int(options.get("tokens", 2**22))
    rng = np.random.default_rng([seed, 0x6D61726B])  # a stream of its own, apart from run seeds
    source = MarkovSource.random(vocab, alpha=float(options.get("alpha", 0.5)), rng=rng)
    length = max(2, tokens // n_chains)
    chains = source.sample(n_chains, length, rng)
    n_val = max(1, round(val_fraction * n_chains))
    train, val = chains[:-n_val].reshape(-1), chains[-n_val:].reshape(-1)
    entropy = source.entropy_rate()
    # One transition in `length` crosses into a fresh chain (drawn from pi, not from the
    # current row), so the best achievable loss exceeds the entropy rate by O(1/length).
    facts = {"entropy_rate": entropy, "boundary_share": 1.0 / length, "documents": n_chains, "val_documents": n_val,
             "train_tokens": int(train.size), "val_tokens": int(val.size)}
    return Corpus(spec=spec, train=train, val=val, vocab_size=vocab, digest=token_digest(train, val), facts=facts)
