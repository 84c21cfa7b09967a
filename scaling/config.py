"""Model shapes as frozen, validated dataclasses.

`ModelConfig` is the one description of a GPT-style Transformer's shape. Parameter and FLOP
counts (`scaling.flops`) and the PyTorch model (`scaling.training.model`) both read it, so the counted
and the built model cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from scaling.schedules import check_text


FLOPS_METHODS = ("6ND", "kaplan", "chinchilla_appF", "chinchilla_appF_noembed", "deepseek_md")
"""FLOP-counting methods (`scaling.flops.flops_per_token`), recorded as `flops_method`."""


MAX_BASE_WIDTH = 2**20
"""Largest muP base width (GPT-3 175B's d_model is 12,288; Brown et al. 2020, Table 2.1)."""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Shape of a decoder-only, pre-norm Transformer (nanoGPT layout, no bias terms)."""

    n_layer: int
    """Transformer blocks."""
    d_model: int
    """Residual stream width."""
    n_head: int
    """Attention heads; d_model must be divisible by n_head."""
    d_ff: int | None = None
    """MLP hidden width; None means 4 * d_model."""
    seq_len: int = 256
    """Context length (learned position embeddings of this length are counted)."""
    vocab_size: int = 256
    """Vocabulary size (256 for the byte-level tokenizer)."""
    tied_embeddings: bool = True
    """Share the token embedding with the output (logit) layer."""
    parametrization: str = "standard"
    """"standard" (GPT-2: init N(0, 0.02), one LR) or "mup" (Yang et al. 2022, Tensor Programs V,
    Table 8: per-layer init and LR multipliers for width; scaling.training.mup)."""
    base_width: int = 64
    """muP only: the width at which muP equals the standard parametrization (an LR tuned there
    carries to other widths)."""

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head", "seq_len", "vocab_size", "base_width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.base_width > MAX_BASE_WIDTH:
            raise ValueError(f"base_width must be at most {MAX_BASE_WIDTH}, got {self.base_width!r}")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or self.d_ff < 1):
            raise ValueError(f"d_ff must be a positive integer or None, got {self.d_ff!r}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        _check_choice("parametrization", self.parametrization, PARAMETRIZATIONS)

    @property
    def ff_width(self) -> int:
        """The MLP hidden width actually used (d_ff, or 4 * d_model by default)."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; the muP fields only under muP, so standard shapes (and the run ids that
        hash them) read as they did before muP existed."""
        d = asdict(self)
        if self.parametrization == "standard":
            del d["parametrization"], d["base_width"]
        return d


MAX_SEED = 2**32 - 1
"""Largest seed: the range numpy's legacy seeding and every RNG seeded from a run's seed accept."""
MAX_THREADS = 1024
"""Most torch threads a run may ask for (torch takes a C int; more than any machine's cores)."""
MAX_EVAL_POINTS = 1000
"""Most evaluations a run may ask for: each one reads `eval_tokens` held-out tokens, and the
evaluation steps are listed up front."""

PARAMETRIZATIONS = ("standard", "mup")
DEVICES = ("auto", "cpu", "cuda")
LR_RULES = ("width", "deepseek")
RULES_DEEPSEEK = "deepseek"
"""TrainConfig.rules naming the built-in DeepSeek rules (scaling.training.rules.DEEPSEEK_RULES)."""
RULES_PREFIX = "rules:"
"""TrainConfig.rules = "rules:PATH" names a rules file (scaling.training.rules, read when resolved)."""
OPERATIONAL_FIELDS = ("threads", "checkpoint_every", "checkpoint_every_s", "batch_size_asked")
"""TrainConfig fields that change how a run executes but not what it computes; `run_id` ignores
them so a run may be resumed with other settings."""


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One training run: shape, token budget, data, optimiser and logging settings.

    Fields left None are filled by documented rules in `scaling.training.hyperparams.resolve`
    (learning rate, batch size, warmup, log interval); `compile`/`bf16` None means "on CUDA
    only". `run_id` (scaling.training.hyperparams) hashes the resolved config, seed included.
    """

    model: ModelConfig
    """The shape trained (scaling.training.model.GPT builds it; scaling.flops counts it)."""
    tokens: int
    """Token budget D: training stops, and the LR cycle ends, after about this many tokens
    (a whole number of optimizer steps; the record gives the exact count)."""
    data: str = "stdlib"
    """Data spec (scaling.training.data.load_corpus): "stdlib", "synthetic:markov:seed=0,vocab=16",
    a text file or folder, "tokens:PATH:vocab=50257"."""
    seed: int = 0
    """Seeds the initialisation and the data order."""
    device: str = "auto"
    """"auto" (CUDA when present), "cpu" or "cuda"."""
    lr: float | None = None
    """Peak learning rate; None = `lr_rule`."""
    lr_rule: str = "width"
    """"width": 0.05 / sqrt(d_model); "deepseek": 0.3118 C^-0.125 (scaling.training.hyperparams)."""
    lr_scale: float = 1.0
    """Multiplier on the rule's peak LR when `lr` is None (tuned per study, e.g. cpu-isoflop)."""
    rules: str | None = None
    """Hyperparameter rules replacing `lr_rule` and the default batch rule: "deepseek" (the
    built-in preset) or "rules:PATH" (a file `scaling tune` wrote; scaling.training.rules)."""
    batch_size: int | None = None
    """Sequences per optimizer step; None = DeepSeek's B_opt(C), shrunk to give `min_steps`."""
    min_steps: int = 1000
    """Floor on optimizer steps when the batch size comes from the rule: short runs sit on the
    unigram plateau and fake the scaling (the CPU study's pilot, runs/cpu-isoflop)."""
    micro_batch_size: int | None = None
    """Sequences per forward pass (gradient accumulation); None = the largest that fits this
    device's memory (scaling.training.bounds.fit_batch), the whole batch when it fits. The batch
    is then trained as a whole number of micro batches (rounded to the nearest multiple)."""
    batch_size_asked: int | None = None
    """The batch the rule or spec asked for, where rounding to whole micro batches changed it
    (a note for the record, not part of the run's id); None when `batch_size` is the asked one."""
    warmup_steps: int | None = None
    """Linear warmup steps; None = params / batch_tokens (Porian et al. 2024), at most 1/4 of the run."""
    schedule: str = "cosine"
    """The LR schedule's text form (scaling.schedules): "cosine" (to min_lr_ratio at the last step;
    Hoffmann et al. 2022 Sec. 3.1), "wsd" (warmup-stable-decay, cooling down over the final
    `decay_fraction`), "stepped" (DeepSeek LLM) or "constant", with shape fields after a colon
    ("wsd:cooldown_fraction=0.1,cooldown_shape=1-sqrt") overriding min_lr_ratio and decay_fraction."""
    min_lr_ratio: float = 0.1
    """Final LR as a fraction of the peak (Hoffmann et al. 2022: decay by 10x)."""
    decay_fraction: float = 0.2
    """WSD only: fraction of the steps spent decaying."""
    weight_decay: float = 0.1
    """AdamW decoupled weight decay on matrices and embeddings (not norms)."""
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float | None = 1.0
    """Clip the global gradient norm to this; None = no clipping."""
    eval_tokens: int = 65536
    """Held-out tokens per evaluation (the same fixed windows every time)."""
    eval_points: int = 8
    """Log-spaced evaluations during the run, plus one at the end."""
    log_every: int | None = None
    """Steps per train-loss row (the row holds the interval's mean loss); None = about 500 rows."""
    val_fraction: float = 0.01
    """Share of the corpus held out for validation (by document where there are documents)."""
    checkpoint_every: int | None = None
    """Steps between checkpoints; None = every `checkpoint_every_s` seconds of wall time."""
    checkpoint_every_s: float | None = None
    """Seconds of wall time between checkpoints; None = 60 on CPU, 1800 on a GPU (a 124M run's
    state is 1.5 GB: written every minute it would cost more than it saves)."""
    flops_method: str = "6ND"
    """How `flops` is counted (scaling.flops.FLOPS_METHODS); the exact App. F count is logged too."""
    threads: int | None = None
    """torch.set_num_threads for this run (sweeps use 1-thread workers on CPU); None = leave it."""
    compile: bool | None = None
    """torch.compile the model; None = on CUDA only."""
    bf16: bool | None = None
    """bf16 autocast; None = on CUDA only (slower on CPU below ~1M parameters)."""
    save_at: tuple[int, ...] = ()
    """Steps (optimizer steps done) after which the run keeps its whole training state for cooldown
    branches (a WSD sweep's stable run; scaling.sweep.branches): increasing, within the run."""
    branch_from: str | None = None
    """"PARENT_RUN_ID@STEP": a cooldown branch, starting from the state its parent (a run directory
    beside this one) kept after STEP steps, and training on from there (Hagele et al. 2024,
    arXiv:2405.18392, Sec. 3: cooldowns branched from one constant-LR run)."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, ModelConfig):
            raise ValueError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        for name in ("tokens", "min_steps", "eval_tokens", "eval_points"):
            _check_int(name, getattr(self, name), optional=False)
        for name in ("batch_size", "micro_batch_size", "warmup_steps", "log_every", "checkpoint_every", "threads",
                     "batch_size_asked"):
            _check_int(name, getattr(self, name), optional=True, minimum=0 if name == "warmup_steps" else 1)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.eval_points > MAX_EVAL_POINTS:
            raise ValueError(f"eval_points must be at most {MAX_EVAL_POINTS}, got {self.eval_points!r}")
        if self.threads is not None and self.threads > MAX_THREADS:
            raise ValueError(f"threads must be at most {MAX_THREADS}, got {self.threads!r}")
        for name in ("compile", "bf16"):
            if not (getattr(self, name) is None or isinstance(getattr(self, name), bool)):  # "no" and 1 are not booleans
                raise ValueError(f"{name} must be true, false or None, got {getattr(self, name)!r}")
        _check_choice("device", self.device, DEVICES)
        check_text(self.schedule)  # its errors name schedule and the field
        _check_choice("lr_rule", self.lr_rule, LR_RULES)
        _check_rules_spec(self.rules)
        if not (isinstance(self.lr_scale, (int, float)) and math.isfinite(self.lr_scale) and self.lr_scale > 0):
            raise ValueError(f"lr_scale must be a positive finite number, got {self.lr_scale!r}")
        _check_choice("flops_method", self.flops_method, FLOPS_METHODS)
        for name in ("lr", "grad_clip"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and 0 < value < float("inf")):
                raise ValueError(f"{name} must be a positive finite number or None, got {value!r}")
        for name in ("min_lr_ratio", "weight_decay", "beta1", "beta2"):
            value = getattr(self, name)
            if not (_is_number(value) and 0 <= value < 1):
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        for name in ("decay_fraction", "val_fraction"):
            value = getattr(self, name)
            if not (_is_number(value) and 0 < value < 1):
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if self.checkpoint_every_s is not None and not (_is_number(self.checkpoint_every_s)
                                                        and self.checkpoint_every_s > 0):
            raise ValueError(f"checkpoint_every_s must be positive or None, got {self.checkpoint_every_s!r}")
        if not isinstance(self.data, str) or not self.data or "\x00" in self.data:
            raise ValueError(f"data must be a non-empty spec string without NUL bytes, got {self.data!r}")
        _check_branching(self.save_at, self.branch_from)
        if self.micro_batch_size is not None and self.batch_size is not None and self.batch_size % self.micro_batch_size:
            raise ValueError(f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size "
                             f"({self.micro_batch_size})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; `TrainConfig.from_dict(cfg.to_dict()) == cfg`. `rules` only when
        set, so configs without rules (and their run ids) read as before rules existed; likewise
        `batch_size_asked` only when rounding changed the batch, `save_at` and `branch_from` only
        in a branched sweep."""
        d = {**asdict(self), "model": self.model.to_dict(), "save_at": list(self.save_at)}
        for name in ("rules", "batch_size_asked", "branch_from"):
            if d[name] is None:
                del d[name]
        if not self.save_at:
            del d["save_at"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys: {', '.join(unknown)}")
        model = d["model"] if isinstance(d["model"], ModelConfig) else ModelConfig(**d["model"])
        extra = {"save_at": tuple(d["save_at"])} if isinstance(d.get("save_at"), list) else {}
        return cls(**{**d, "model": model, **extra})


def count_steps(cfg: TrainConfig) -> int:
    """Optimizer steps: the token budget in whole batches (at least one). `batch_size` must be set."""
    assert cfg.batch_size is not None
    return max(1, round(cfg.tokens / (cfg.batch_size * cfg.model.seq_len)))


def branch_parent(branch_from: str) -> tuple[str, int]:
    """(parent run id, step) of a `branch_from` value."""
    parent, _, step = branch_from.partition("@")
    return parent, int(step)


def family_role(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's place in a WSD family, from its config as a dict (`to_dict`, or as read back from a
    store, where a damaged value reads as best it can): `role` "branch" (a cooldown from
    `parent_run_id` after `branch_step` steps), "stable" (a run keeping states for branches) or
    "run"; the parent and step None where they do not apply."""
    branch = config.get("branch_from")
    parent, _, step = branch.partition("@") if isinstance(branch, str) else ("", "", "")
    role = "branch" if parent else "stable" if config.get("save_at") else "run"
    return {"role": role, "parent_run_id": parent or None, "branch_step": int(step) if step.isdigit() else None}


def _check_branching(save_at: Any, branch_from: Any) -> None:
    if (not isinstance(save_at, tuple) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                                                 for s in save_at)
            or any(a >= b for a, b in zip(save_at, save_at[1:]))):
        raise ValueError(f"save_at must be increasing step counts >= 1, got {save_at!r}")
    if branch_from is None:
        return
    parent, at, step = branch_from.partition("@") if isinstance(branch_from, str) else ("", "", "")
    if not (len(parent) == 12 and all(c in "0123456789abcdef" for c in parent) and at and step.isdigit()
            and int(step) >= 1):
        raise ValueError(f"branch_from must be 'PARENT_RUN_ID@STEP' (12 hex digits, a step >= 1), got {branch_from!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value: Any, *, optional: bool, minimum: int = 1) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' or None' if optional else ''}, got {value!r}")


def _check_rules_spec(spec: str | None) -> None:
    """ValueError unless `spec` is None, "deepseek" or "rules:PATH" (the file is read later)."""
    if spec is not None and spec != RULES_DEEPSEEK and not (
            isinstance(spec, str) and spec.startswith(RULES_PREFIX) and len(spec) > len(RULES_PREFIX)):
        raise ValueError(f"rules must be {RULES_DEEPSEEK!r} or 'rules:PATH' (a file `scaling tune` wrote), "
                         f"got {spec!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
