"""A synthetic trainer for designed studies: follows scaling.training.train.train's contract (config.json,
then record.json last) without torch, and reports the loss a known Chinchilla law gives the
run's (params, tokens), with seeded multiplicative noise, so the loop's fits have a truth."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

from scaling.atomic import write_json
from scaling.flops import count_params
from scaling.laws.registry import get_law

TRUTH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}
"""Besiroglu et al. 2024's refit of Chinchilla (the `epoch2024` preset): the synthetic world."""
NOISE = 0.01


def truth_loss(params: float, tokens: float) -> float:
    return float(get_law("chinchilla").predict(TRUTH, params=params, tokens=tokens))


def synthetic_train(cfg, run_dir):
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", {"run_id": run_dir.name, "config": cfg.to_dict()})
    time.sleep(float(os.environ.get("DESIGN_WORLD_RUN_S", "0")))  # lets a test kill a sweep mid-round
    counts = count_params(cfg.model)
    rng = np.random.default_rng(int(hashlib.sha256(run_dir.name.encode()).hexdigest()[:8], 16))
    loss = truth_loss(counts.total, cfg.tokens) * float(np.exp(NOISE * rng.standard_normal()))
    record = {"run_id": run_dir.name, "status": "ok", "loss": loss, "train_loss": loss,
              "params": counts.total, "params_nonembedding": counts.non_embedding, "tokens": cfg.tokens,
              "flops": 6.0 * counts.total * cfg.tokens, "flops_method": "6ND", "lr": 1e-3, "batch_tokens": 512,
              "wall_s": 0.01, "device": "cpu", "started_at": "now", "versions": {"git_sha": "abc"},
              "config": cfg.to_dict()}
    write_json(run_dir / "record.json", record)
    return record
