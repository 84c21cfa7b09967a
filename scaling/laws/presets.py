"""Published laws as named presets (`Preset`, a `LawEstimate`).

A preset is a registered functional form plus the coefficients a paper published, with where
they came from, which parameter count they use, the data and tokenizer their losses were
measured on, and how a user's FLOP budget maps onto the paper's compute variable.

References: see each preset's `source`; constants as the papers print them (Hoffmann et al. 2022; Besiroglu et al. 2024; Kaplan et al. 2020; Muennighoff et al. 2023).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from scaling.document import Document
from scaling.laws import datablations  # noqa: F401  (registers "data_constrained" for muennighoff2023)
from scaling.laws.base import Array
from scaling.laws.registry import get_law
from scaling.laws.kaplan import CRITICAL_BATCH_FACTOR, TABLE6

CONVENTIONS = ("total", "non-embedding")

PEARCE_SONG_EMBEDDING_SCALE = 47491.0
"""N_total = N_nonemb + 47491 N_nonemb^(1/3) for Chinchilla's shapes (Pearce & Song 2024,
"Reconciling Kaplan and Chinchilla Scaling Laws", arXiv:2406.12907)."""


@dataclass(frozen=True, kw_only=True)
class Preset:
    """A published law with its coefficients and provenance; implements `LawEstimate`."""

    label: str
    """Preset name, what tables print ("chinchilla", "kaplan2020", ...)."""
    law: str
    """Registry key of the functional form (`get_law`)."""
    coefficients: Mapping[str, float]
    """Coefficients, paper spelling."""
    params_convention: str
    """"total" (embeddings counted, Chinchilla) or "non-embedding" (Kaplan)."""
    source: str
    """Paper, equation or table the constants were read from."""
    dataset: str
    """Data the losses were measured on (losses across data sets are not comparable)."""
    tokenizer: str
    """Tokenizer and vocabulary size of those losses."""
    budget_factor: float = 1.0
    """User budget C divided by the law's compute variable (2 for Kaplan: C = 2 C_min)."""
    budget_convention: str = "C = 6 N D"
    """How a user's FLOP budget is read, stated in every output."""
    notes: tuple[str, ...] = field(default=())
    """Caveats printed by `scaling laws`."""

    def __post_init__(self) -> None:
        if self.params_convention not in CONVENTIONS:
            raise ValueError(f"params_convention must be one of {CONVENTIONS}, got {self.params_convention!r}")
        get_law(self.law).check(self.coefficients)

    @property
    def predicts_loss(self) -> bool:
        return get_law(self.law).predicts_loss

    def predict(self, params: npt.ArrayLike, tokens: npt.ArrayLike) -> Array:
        """Loss (nats/token on `dataset`); TypeError for allocation-only presets."""
        return get_law(self.law).predict(self.coefficients, params=params, tokens=tokens)

    def optimal(self, flops: npt.ArrayLike) -> tuple[Array, Array]:
        """Compute-optimal (params in `params_convention`, tokens) for a user budget `flops`."""
        return get_law(self.law).optimal(self.coefficients, np.asarray(flops, dtype=float) / self.budget_factor)

    def details(self, flops: npt.ArrayLike) -> dict[str, Array]:
        """Extra quantities some laws give at a budget (Kaplan: batch_tokens, steps_min)."""
        law = get_law(self.law)
        if not hasattr(law, "details"):
            return {}
        return law.details(self.coefficients, np.asarray(flops, dtype=float) / self.budget_factor)  # type: ignore[no-any-return]


_MASSIVETEXT = "MassiveText (Hoffmann et al. 2022)"
_SENTENCEPIECE = "SentencePiece, 32,000 tokens"
_HOFFMANN_TEX = "Hoffmann et al. 2022, Eq. 10 fit, unrounded (arXiv:2203.15556 TeX source)"

PRESETS: dict[str, Preset] = {p.label: p for p in (
    Preset(label="chinchilla", law="chinchilla",
           # Hoffmann et al. 2022, Eq. 10 (as printed): E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28.
           coefficients={"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
           params_convention="total", source="Hoffmann et al. 2022, Eq. 10 (printed, rounded)",
           dataset=_MASSIVETEXT, tokenizer=_SENTENCEPIECE,
           notes=("rounded constants: about 32B params at 5.76e23 FLOPs, not the paper's 40B",)),
    Preset(label="chinchilla-unrounded", law="chinchilla",
           # Hoffmann et al. 2022, TeX source: e = 0.5267228, a = 6.0073404, b = 6.0179186,
           # alpha = 0.33917084, beta = 0.2849083; E = exp(e), A = exp(a), B = exp(b).
           coefficients={"E": math.exp(0.5267228), "A": math.exp(6.0073404), "B": math.exp(6.0179186),
                         "alpha": 0.33917084, "beta": 0.2849083},
           params_convention="total", source=_HOFFMANN_TEX, dataset=_MASSIVETEXT, tokenizer=_SENTENCEPIECE,
           notes=("reproduces the paper's 40B params at Gopher's 5.76e23 FLOPs",)),
    Preset(label="epoch2024", law="chinchilla",
           # Besiroglu et al. 2024 (arXiv:2404.10102), refit of Chinchilla's Figure 4 runs:
           # E = 1.8172, A = 482.01, B = 2085.43, alpha = 0.3478, beta = 0.3658.
           coefficients={"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658},
           params_convention="total", source="Besiroglu et al. 2024 (Epoch AI replication), Approach 3 refit",
           dataset="Chinchilla Figure 4 runs (MassiveText), digitised by Epoch AI", tokenizer=_SENTENCEPIECE),
    Preset(label="chinchilla-approach1", law="power_allocation",
           # Hoffmann et al. 2022, Table 3 rows, least squares in log space.
           coefficients={"k": 0.09916, "a": 0.4981},
           params_convention="total", source="Hoffmann et al. 2022, Approach 1 (Table 3): N_opt = 0.09916 C^0.4981",
           dataset=_MASSIVETEXT, tokenizer=_SENTENCEPIECE, notes=("allocation only: predicts no loss",)),
    Preset(label="chinchilla-approach2", law="power_allocation",
           # Hoffmann et al. 2022, Table A3 rows, least squares in log space.
           coefficients={"k": 0.1449, "a": 0.4899},
           params_convention="total", source="Hoffmann et al. 2022, Approach 2 (Table A3): N_opt = 0.1449 C^0.4899",
           dataset=_MASSIVETEXT, tokenizer=_SENTENCEPIECE, notes=("allocation only: predicts no loss",)),
    Preset(label="kaplan2020", law="kaplan_allocation", coefficients=TABLE6,  # Kaplan et al. 2020, Table 6
           params_convention="non-embedding",
           source="Kaplan et al. 2020, Table 6: N_opt = 1.3e9 C_min^0.73, D_opt = 2e10 C_min^0.27 (PF-days)",
           dataset="WebText2 (Kaplan et al. 2020)", tokenizer="GPT-2 BPE, 50,257 tokens",
           budget_factor=CRITICAL_BATCH_FACTOR,
           budget_convention="C = 2 C_min: training at the critical batch (Kaplan et al. 2020, Eq. 5.5; "
                             "as Hoffmann et al. 2022, App. D.4)",
           notes=("N is non-embedding parameters", "6 N D is about 0.9 C: Table 6 gives D separately",
                  "allocation only: predicts no loss")),
    Preset(label="tokens-per-param-20", law="tokens_per_param",
           coefficients={"r": 20.0},  # Hoffmann et al. 2022, Table 3: about 20 tokens per parameter
           params_convention="total", source="rule of thumb D = 20 N (Hoffmann et al. 2022, Table 3)",
           dataset="n/a (rule of thumb)", tokenizer="n/a", notes=("allocation only: predicts no loss",)),
    Preset(label="muennighoff2023", law="data_constrained",
           # Muennighoff et al. 2023, huggingface/datablations README ("Parametric Fit"):
           # e, a, b = 0.6254804, 6.255414, 7.3049974 (E, A, B = exp), alpha = beta = 0.3526596,
           # R*_D = 15.387756, R*_N = 5.309743.
           coefficients={"E": math.exp(0.6254804), "A": math.exp(6.255414), "B": math.exp(7.3049974),
                         "alpha": 0.3526596, "beta": 0.3526596, "R_D_star": 15.387756, "R_N_star": 5.309743},
           params_convention="total",
           source="Muennighoff et al. 2023, data-constrained fit (huggingface/datablations README, Parametric Fit)",
           dataset="C4 (Muennighoff et al. 2023)", tokenizer="GPT-2 BPE, 50,257 tokens",
           notes=("without --unique-tokens, data is unlimited (nothing repeats)",
                  "with --unique-tokens U: repeated tokens and excess params decay (R*_D = 15.4, R*_N = 5.3)")),
)}
"""Every built-in preset by name; constants cited inline."""


def get_preset(name: str) -> Preset:
    """The preset called `name` (ValueError listing the known names otherwise)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown law {name!r}; known: {', '.join(PRESETS)} (or a fit .json file)") from None


LOSSES_NOT_COMPARABLE = ("losses are nats/token on each law's own data set and tokenizer: losses of laws fitted on "
                         "different data or tokenizers are not comparable, only their allocations are")
"""The caveat every listing of presets carries."""


@dataclass(frozen=True, kw_only=True)
class LawListing(Document):
    """The built-in presets with their form, conventions, provenance and coefficients: what
    `scaling laws` prints."""

    SCHEMA: ClassVar[str] = "scaling.Laws/1"
    _frame_rows = "laws"

    laws: list[dict[str, Any]]
    """One dict per preset: name, law (registry key), params_convention, budget_convention,
    predicts_loss, source, dataset, tokenizer, coefficients, reference (the form's equation), notes."""
    note: str = LOSSES_NOT_COMPARABLE


def listing() -> LawListing:
    """Every preset of PRESETS, in order, as a LawListing."""
    return LawListing(laws=[{"name": p.label, "law": p.law, "params_convention": p.params_convention,
                             "budget_convention": p.budget_convention, "predicts_loss": p.predicts_loss,
                             "source": p.source, "dataset": p.dataset, "tokenizer": p.tokenizer,
                             "coefficients": dict(p.coefficients), "reference": get_law(p.law).reference,
                             "notes": list(p.notes)} for p in PRESETS.values()])


def convert_params(params: npt.ArrayLike, *, source: str, target: str) -> Array:
    """Convert parameter counts between conventions (Pearce & Song 2024, for Chinchilla's shapes).

        N_total = N_nonemb + 47491 N_nonemb^(1/3)
    The inverse solves that cubic in x = N_nonemb^(1/3) by Newton's method (it is monotone).
    """
    for name, value in (("source", source), ("target", target)):
        if value not in CONVENTIONS:
            raise ValueError(f"{name} convention must be one of {CONVENTIONS}, got {value!r}")
    N = np.asarray(params, dtype=float)
    if source == target:
        return N
    k = PEARCE_SONG_EMBEDDING_SCALE
    if source == "non-embedding":
        return N + k * np.cbrt(N)
    x = np.cbrt(N)
    for _ in range(60):  # Newton on f(x) = x^3 + k x - N, f' > 0; converges in a few steps
        x = x - (x**3 + k * x - N) / (3 * x**2 + k)
    return x**3
