"""Hyperparameter rules and learning-rate schedules: pure functions, no torch.

`resolve(cfg)` fills every None in a TrainConfig by a documented rule, so the resolved config
(and its `run_id`) says exactly what a run did. Legend: N = parameters, D = tokens,
C = training FLOPs, B = tokens per optimizer step, s = seq_len.

References:
    Hoffmann et al. 2022 (Chinchilla), arXiv:2203.15556, Sec. 3.1 (cosine cycle = run length,
        decay to 10% of the peak).
    DeepSeek-AI 2024, "DeepSeek LLM", arXiv:2401.02954, Sec. 3.1 (eta_opt(C), B_opt(C), M).
    Porian et al. 2024, arXiv:2406.19146 (short warmup and per-size tuning for small models).
    Hu et al. 2024, "MiniCPM", arXiv:2404.06395 (warmup-stable-decay schedule).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import replace

from scaling.config import OPERATIONAL_FIELDS, TrainConfig, count_steps
from scaling.flops import count_params, training_flops
from scaling.schedules import Schedule, run_schedule
from scaling.training.rules import DEEPSEEK_RULES, load_rules

log = logging.getLogger(__name__)

WIDTH_LR_SCALE = 0.05
"""Peak LR = WIDTH_LR_SCALE / sqrt(d_model). The 1/sqrt(width) form is the pilot's rule in
the CPU study's LR check, runs/cpu-isoflop-tuning (and muP's Adam scaling for hidden matrices, Yang et al. 2022); the constant gives
1.25e-2 at d_model 16, 5.1e-3 at 96 and 1.8e-3 at 768 (GPT-2 small; nanoGPT uses 6e-4 at
batch 0.5M, llm.c runs 1.8e-3 stably). Checked here on stdlib bytes, cpu_tiny(32, 1e6 tokens),
7 x 128 tokens per step, 1,116 steps: val loss 2.438 / 2.320 / 2.418 / 2.442 at peak LR
3e-3 / 8.8e-3 (this rule) / 2e-2 / 4e-2. Tune it per study; pass `lr` to override."""

ROWS_PER_RUN = 500
"""Target number of train-loss rows per curve when `log_every` is None."""


def deepseek_budget(cfg: TrainConfig) -> float:
    """Compute C = M D in DeepSeek's convention (scaling.flops, "deepseek_md"), the input of its
    hyperparameter laws."""
    return training_flops(cfg.model, cfg.tokens, "deepseek_md")


def deepseek_lr(flops: float) -> float:
    """Peak LR, DeepSeek-AI 2024, Sec. 3.1, Fig. 3: eta_opt = 0.3118 C^-0.1250 (the built-in
    preset, scaling.training.rules.DEEPSEEK_RULES)."""
    return DEEPSEEK_RULES.lr(flops)


def deepseek_batch_tokens(flops: float) -> float:
    """Tokens per step, DeepSeek-AI 2024, Sec. 3.1, Fig. 3: B_opt = 0.2920 C^0.3271 (the
    built-in preset, scaling.training.rules.DEEPSEEK_RULES)."""
    return DEEPSEEK_RULES.batch_tokens(flops)


def rules_budget(cfg: TrainConfig, convention: str) -> float:
    """The run's compute C as a rules file counts it (a scaling.flops method)."""
    return training_flops(cfg.model, cfg.tokens, convention)


def rule_lr(cfg: TrainConfig) -> float:
    """Peak learning rate by `cfg.lr_rule` ("width": WIDTH_LR_SCALE / sqrt(d_model)), times `cfg.lr_scale`.

    Under muP the width rule reads the base width instead of d_model: the per-layer multipliers
    (scaling.training.mup) do the width scaling, so the global LR is the one tuned at the base width.
    With `cfg.rules` set, eta_opt(C) of those rules at the run's C (scaling.training.rules)."""
    return cfg.lr_scale * _peak_lr_rule(cfg)[1]


def _peak_lr_rule(cfg: TrainConfig) -> tuple[str, float]:
    """The one choice of the peak-LR rule: (the rule in words, its LR before `lr_scale`)."""
    if cfg.rules is not None:
        rules = load_rules(cfg.rules)
        return f"{cfg.rules} eta_opt(C)", rules.lr(rules_budget(cfg, rules.flops_convention))
    if cfg.lr_rule == "deepseek":
        return "deepseek eta_opt(C)", deepseek_lr(deepseek_budget(cfg))
    width = "base_width" if cfg.model.parametrization == "mup" else "d_model"
    return f"{WIDTH_LR_SCALE:g}/sqrt({width})", WIDTH_LR_SCALE / math.sqrt(getattr(cfg.model, width))


def rule_batch_size(cfg: TrainConfig) -> int:
    """Sequences per step: DeepSeek's B_opt(C) (or `cfg.rules`' B_opt(C)) in whole sequences,
    shrunk (never below 1) until the run has at least `cfg.min_steps` optimizer steps."""
    batch_size, floored = _batch_rule(cfg)
    if floored and cfg.tokens // (cfg.min_steps * cfg.model.seq_len) < 1:
        log.warning("%d tokens allow fewer than %d steps even at one sequence per step", cfg.tokens, cfg.min_steps)
    return batch_size


def _batch_rule(cfg: TrainConfig) -> tuple[int, bool]:
    """(sequences per step by the batch rule, whether the min_steps floor shrank it)."""
    seq_len = cfg.model.seq_len
    batch_size = max(1, round(rule_batch_tokens(cfg) / seq_len))
    floor_batch = cfg.tokens // (cfg.min_steps * seq_len)  # largest batch that keeps min_steps
    if batch_size > floor_batch:
        return max(1, floor_batch), True
    return batch_size, False


def rule_batch_tokens(cfg: TrainConfig) -> float:
    """B_opt(C) in tokens before rounding and the step floor: `cfg.rules`' law, else DeepSeek's."""
    if cfg.rules is not None:
        rules = load_rules(cfg.rules)
        return rules.batch_tokens(rules_budget(cfg, rules.flops_convention))
    return deepseek_batch_tokens(deepseek_budget(cfg))


def hyperparameter_sources(cfg: TrainConfig) -> dict[str, str]:
    """Where an unresolved config's peak LR and batch come from, in words (for dry runs): the
    words the rules themselves give (_peak_lr_rule, _batch_rule)."""
    scale = f" x {cfg.lr_scale:g}" if cfg.lr_scale != 1.0 else ""
    lr = "given" if cfg.lr is not None else _peak_lr_rule(cfg)[0] + scale
    if cfg.model.parametrization == "mup":
        lr += ", muP per-layer"
    if cfg.batch_size is not None:
        batch = "given"
    else:
        batch = f"{cfg.rules or 'deepseek'} B_opt(C)"
        if _batch_rule(cfg)[1]:
            batch += f", floored to {cfg.min_steps} steps"
    return {"lr": lr, "batch": batch}


def rule_warmup_steps(cfg: TrainConfig) -> int:
    """Warmup of about N tokens (Porian et al. 2024: Kaplan's long warmup hurts small models),
    at least one step and at most a quarter of the run."""
    assert cfg.batch_size is not None
    batch_tokens = cfg.batch_size * cfg.model.seq_len
    warmup = math.ceil(count_params(cfg.model).total / batch_tokens)
    return max(1, min(warmup, count_steps(cfg) // 4))


def resolve(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with lr, batch_size, warmup_steps, micro_batch_size and log_every filled by the rules.

    A given `micro_batch_size` with the rule's batch rounds the batch to the nearest multiple
    of it (at least one micro batch) and keeps the rule's in `batch_size_asked`; without one
    the micro batch is the whole batch (scaling.training.bounds.fit_batch picks one from memory)."""
    lr = cfg.lr if cfg.lr is not None else rule_lr(cfg)
    asked = cfg.batch_size_asked
    if cfg.batch_size is not None:
        batch_size = cfg.batch_size
    else:  # the rule's batch, in whole micro batches when a micro batch is given
        batch_size = rule_batch_size(cfg)
        if cfg.micro_batch_size is not None and batch_size % cfg.micro_batch_size:
            asked = batch_size
            batch_size = max(1, round(batch_size / cfg.micro_batch_size)) * cfg.micro_batch_size
    cfg = replace(cfg, lr=lr, batch_size=batch_size, batch_size_asked=asked)
    micro = cfg.micro_batch_size if cfg.micro_batch_size is not None else batch_size
    if batch_size % micro:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of micro_batch_size ({micro})")
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else rule_warmup_steps(cfg)
    log_every = cfg.log_every if cfg.log_every is not None else max(1, count_steps(cfg) // ROWS_PER_RUN)
    return replace(cfg, micro_batch_size=micro, warmup_steps=warmup, log_every=log_every)


def schedule_of(cfg: TrainConfig, steps: int) -> Schedule:
    """The LR schedule of resolved `cfg` over `steps` optimizer steps (scaling.schedules.run_schedule)."""
    assert cfg.lr is not None and cfg.warmup_steps is not None
    return run_schedule(cfg.schedule, peak_lr=cfg.lr, steps=steps, warmup_steps=cfg.warmup_steps,
                        min_lr_ratio=cfg.min_lr_ratio, decay_fraction=cfg.decay_fraction)


def lr_at(step: int, cfg: TrainConfig, steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based) of `steps`, resolved `cfg`: its
    `schedule_of` (linear warmup, then cosine, WSD, stepped or constant; scaling.schedules)."""
    return float(schedule_of(cfg, steps).lr_at(step))


def run_id(cfg: TrainConfig) -> str:
    """Stable 12-hex-digit id: sha256 of the canonical resolved config (seed included).

    Resolution (`resolve`) fills None hyperparameters by the rules above, so a rule change gives
    new ids; operational fields (threads, checkpoint intervals) are left out.
    """
    d = resolve(cfg).to_dict()
    for name in OPERATIONAL_FIELDS:
        d.pop(name, None)
    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def eval_steps(steps: int, points: int) -> list[int]:
    """Steps (1-based counts of optimizer steps done) after which held-out loss is measured:
    `points` log-spaced between 1 and `steps`, plus `steps` itself."""
    marks = {max(1, round(steps ** (i / points))) for i in range(1, points + 1)}
    return sorted(marks | {steps})
