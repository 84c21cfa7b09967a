"""GPU throughput and MFU of `scaling.training.train.train` on GPT-2 small (124M parameters).

On CUDA: trains presets.gpt2_small (bf16 autocast, torch.compile, fused AdamW: the CUDA
defaults) for `--steps` steps and prints tokens/s and model FLOPs utilisation against the
GPU's dense bf16 peak (scaling.hardware.GPU_PEAK_FLOPS; H200 989 TFLOP/s). The goal is >= 45%.
MFU uses the exact App. F FLOP count (attention and logits included; Hoffmann et al. 2022) and
is also shown under 6N per token. The first `--skip` logged intervals (compilation) are left out.
Without a GPU it runs a tiny model on the CPU for a few steps, so CI exercises the script; no
MFU is printed then.

    python benchmarks/bench_gpu_mfu.py [--steps 300] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from scaling.config import ModelConfig
from scaling.flops import count_params, flops_per_token
from scaling.training.presets import gpt2_small
from scaling.rundir.curve import read_curve
from scaling.training.runtime import peak_flops, resolve_device
from scaling.training.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=64, help="sequences of 1024 per step (GPU)")
    parser.add_argument("--micro-batch-size", type=int, default=32)
    parser.add_argument("--skip", type=int, default=3, help="logged intervals left out (warm-up)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    cfg = gpt2_small(tokens=args.steps * args.batch_size * 1024)
    cfg = replace(cfg, batch_size=args.batch_size, micro_batch_size=args.micro_batch_size,
                  log_every=max(1, args.steps // 30), eval_points=1, checkpoint_every_s=1e9)
    if device.type == "cpu":  # CI path: a tiny model, a handful of steps
        cfg = replace(cfg, model=ModelConfig(n_layer=2, d_model=64, n_head=8, seq_len=128, vocab_size=256),
                      device="cpu", tokens=20 * 8 * 128, batch_size=8, micro_batch_size=4, log_every=2,
                      eval_tokens=4096, threads=1)
        args.skip = 1
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        record = train(cfg, Path(tmp) / "run")
        rows = read_curve(Path(tmp) / "run").to_pandas().query("split == 'train'").iloc[args.skip:]
    wall = time.perf_counter() - start
    tokens_per_s = float(np.median(rows.tokens_per_s))
    counts = count_params(cfg.model)
    print(f"device {record.device}: {counts.total:,} params, batch {record.batch_tokens:,} tokens, "
          f"{record.steps} steps, {wall:.1f} s in all (compilation included)")
    print(f"tokens/s (median of steady intervals): {tokens_per_s:,.0f}; final train loss {record.train_loss:.3f}")
    peak = peak_flops(device)
    if peak is None:
        print("MFU: n/a (" + ("no GPU: CPU smoke run" if device.type == "cpu" else "unknown GPU peak") + ")")
        return
    exact = flops_per_token(cfg.model, "chinchilla_appF") * tokens_per_s / peak
    six_n = flops_per_token(cfg.model, "6ND") * tokens_per_s / peak
    print(f"MFU vs {peak / 1e12:.0f} TFLOP/s peak: {exact:.1%} (App. F count), {six_n:.1%} (6N); goal >= 45%")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}")


if __name__ == "__main__":
    main()
