"""CPU training throughput: the shape rule's heads, and `scaling.training.train.train` against a plain loop.

Part "shapes": for about 10k, 100k and 1M parameters (scaling.flops.suggest_shape), tokens/s of
`train()` with the old rule's heads (head size 8 below d_model 256) and the current rule's
(`scaling.flops.heads_for`, heads of about 64) on the same shape, batch and steps, alternating,
best of `--repeats`; and the share of this machine's float32 matmul rate (square matmuls of
256-1024, measured in the same run, best of several) each reaches, counting 6 N FLOPs per token.

Part "loop": for models of about 10k, 100k and 1M parameters (shapes from scaling.flops.suggest_shape),
one thread, float32 eager: the same shape, batch and number of steps run through a minimal
nanoGPT-style loop written below and through `train()`; prints tokens/s of each and the ratio
(ours / reference; the goal is >= 1). Each side runs `--repeats` times, alternating, and the
best time counts, so load from other processes on the machine hurts both alike.

    python benchmarks/bench_train_cpu.py [--part shapes|loop|all] [--sizes 1e4,1e5,1e6] [--repeats 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scaling.config import TrainConfig
from scaling.training.data.corpus import load_corpus
from scaling.flops import count_params, suggest_shape
from scaling.rundir.curve import read_curve
from scaling.training.train import train

STEPS = {1e4: 300, 1e5: 60, 1e6: 20}
"""Steps per measurement by size (a few seconds each on one core)."""


class ReferenceBlock(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.h = h
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.q, self.k, self.v = (nn.Linear(d, d, bias=False) for _ in range(3))
        self.o = nn.Linear(d, d, bias=False)
        self.up, self.down = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        y = self.ln1(x)
        q, k, v = (m(y).view(b, t, self.h, d // self.h).transpose(1, 2) for m in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.o(y)
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class ReferenceGPT(nn.Module):
    def __init__(self, n_layer: int, d: int, h: int, seq_len: int, vocab: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq_len, d)
        self.blocks = nn.Sequential(*(ReferenceBlock(d, h) for _ in range(n_layer)))
        self.ln = nn.LayerNorm(d, bias=False)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        logits = self.ln(self.blocks(x)) @ self.wte.weight.T
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))


def reference_tokens_per_s(cfg: TrainConfig, tokens: np.ndarray, steps: int) -> float:
    m = cfg.model
    model = ReferenceGPT(m.n_layer, m.d_model, m.n_head, m.seq_len, m.vocab_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    rng = np.random.default_rng(0)
    batch, t = cfg.batch_size, m.seq_len
    assert batch is not None
    start = time.perf_counter()
    for _ in range(steps):
        ix = rng.integers(0, tokens.size - t - 1, batch)
        xy = torch.from_numpy(np.stack([tokens[i:i + t + 1] for i in ix]).astype(np.int64))
        loss = model(xy[:, :-1], xy[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        loss.item()
    return steps * batch * t / (time.perf_counter() - start)


def ours_tokens_per_s(cfg: TrainConfig, steps: int, run_dir: Path) -> tuple[float, float]:
    """(training-loop tokens/s from the curve, end-to-end tokens/s including setup and evals)."""
    start = time.perf_counter()
    record = train(cfg, run_dir)
    end_to_end = record.tokens / (time.perf_counter() - start)
    rows = read_curve(run_dir).to_pandas().query("split == 'train'")
    interval_tokens = np.diff(rows.tokens_seen.to_numpy(), prepend=0)
    loop = record.tokens / float((interval_tokens / rows.tokens_per_s.to_numpy()).sum())  # eval time excluded
    return loop, end_to_end


def matmul_flops_per_s(repeats: int = 3) -> float:
    """Best float32 square-matmul rate (FLOP/s) over sizes 256-1024 on the current threads."""
    best = 0.0
    for _ in range(repeats):
        for n in (256, 512, 1024):
            a, b = torch.randn(n, n), torch.randn(n, n)
            a @ b
            reps = max(3, round(2e9 / (2 * n**3)))
            start = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best


def old_rule_heads(d_model: int) -> int:
    """Heads of the previous shape rule: head size 64 from d_model 256 up, else 8."""
    return d_model // (64 if d_model >= 256 else 8)


def run_config(shape: object, steps: int, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(model=shape, tokens=steps * args.batch_size * args.seq_len, device="cpu",  # type: ignore[arg-type]
                       batch_size=args.batch_size, threads=args.threads, eval_points=1, eval_tokens=4096,
                       log_every=max(1, steps // 10), checkpoint_every_s=1e9)


def bench_shapes(args: argparse.Namespace) -> None:
    print(f"{'params':>10} {'shape':>8} {'heads old/new':>13} {'old tok/s':>10} {'new tok/s':>10} {'ratio':>6} "
          f"{'old %mm':>8} {'new %mm':>8}")
    rate = matmul_flops_per_s()
    for size in (float(s) for s in args.sizes.split(",")):
        new = suggest_shape(size, seq_len=args.seq_len)
        old = replace(new, n_head=old_rule_heads(new.d_model))
        steps = STEPS.get(size, max(10, round(300 * 1e4 / size)))
        best = {"old": 0.0, "new": 0.0}
        for _ in range(args.repeats):
            for label, shape in (("old", old), ("new", new)):
                with tempfile.TemporaryDirectory() as tmp:
                    best[label] = max(best[label], ours_tokens_per_s(run_config(shape, steps, args), steps,
                                                                     Path(tmp) / "run")[0])
        rate = max(rate, matmul_flops_per_s(1))
        n = count_params(new).total
        share = {k: 6 * n * v / rate for k, v in best.items()}
        print(f"{n:>10,} {f'{new.n_layer}x{new.d_model}':>8} {f'{old.n_head}/{new.n_head}':>13} {best['old']:>10,.0f} "
              f"{best['new']:>10,.0f} {best['new'] / best['old']:>6.2f} {share['old']:>8.1%} {share['new']:>8.1%}",
              flush=True)
    print(f"fp32 matmul rate here: {rate / 1e9:.1f} GFLOP/s on {args.threads} thread(s) (best square matmul, "
          f"256-1024); %mm = 6 N tokens/s over it; ratio = new / old heads; context {args.seq_len}, "
          f"batch {args.batch_size}")


def bench_loop(args: argparse.Namespace) -> None:
    corpus = load_corpus("stdlib")
    print(f"{'params':>10} {'shape':>12} {'reference tok/s':>16} {'ours tok/s':>11} {'ratio':>6} {'ours e2e':>9}")
    for size in (float(s) for s in args.sizes.split(",")):
        shape = suggest_shape(size, seq_len=args.seq_len)
        steps = STEPS.get(size, max(10, round(300 * 1e4 / size)))
        cfg = run_config(shape, steps, args)
        reference, loop, e2e = 0.0, 0.0, 0.0
        for repeat in range(args.repeats):
            reference = max(reference, reference_tokens_per_s(cfg, corpus.train, steps))
            with tempfile.TemporaryDirectory() as tmp:
                ours = ours_tokens_per_s(cfg, steps, Path(tmp) / "run")
            loop, e2e = max(loop, ours[0]), max(e2e, ours[1])
        label = f"{shape.n_layer}x{shape.d_model}/{shape.n_head}"
        print(f"{count_params(shape).total:>10,} {label:>12} {reference:>16,.0f} {loop:>11,.0f} "
              f"{loop / reference:>6.2f} {e2e:>9,.0f}", flush=True)
    print("ratio = ours (training loop) / reference; ours e2e includes corpus load, evals, records.")
    assert math.isfinite(loop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("shapes", "loop", "all"), default="all")
    parser.add_argument("--sizes", default="1e4,1e5,1e6")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.part in ("shapes", "all"):
        bench_shapes(args)
    if args.part in ("loop", "all"):
        bench_loop(args)


if __name__ == "__main__":
    main()
