"""The GPU check: one command that measures what the GPU path promises, on the card it runs on.

    python benchmarks/gpu_check.py              # on one H100/H200: about 5-8 minutes
    python benchmarks/gpu_check.py --cpu-smoke  # every code path, tiny sizes, on CPU (a minute or two)

It prints, in one run:
1. GPT-2 small (124M, context 1,024) trained by `scaling.training.train.train` at the micro batch
   the runner chooses for this card (scaling.training.bounds.fit_to_device): tokens/s and MFU in
   nanoGPT/PaLM units (6N + 12 L H Q T, embedding lookups excluded) and in Hoffmann et al.'s
   App. F count. nanoGPT reports ~40% MFU on an A100 in the first unit; the goal here is >= 40%.
2. Measured peak memory beside the estimate for three run sizes (scaling.training.probe, each in
   a fresh process); the goal is an estimate within 1.5x of the measured peak.
3. Compiles and wall time per run over 10 shapes trained one after another in one process
   (a sweep worker's life): every run must compile its graphs, none may fall back to eager.
4. gpu-small, shortened, packed (runs per GPU from memory: scaling.sweep.placement) against one
   run per GPU: the ratio of tokens/s of the whole sweep; the goal is >= 4x.
5. The share of wall time the GPU sits idle during the steps of a 1M-parameter run (torch
   profiler: CUDA kernel time over the profiled wall time).
Data: the stdlib byte corpus (vocabulary 256), and for GPT-2 small random tokens written to a
temporary file (throughput does not depend on them; those runs end "diverged", as random tokens
cannot be learned).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from scaling.config import ModelConfig, TrainConfig
from scaling.flops import count_params, flops_per_token, mfu_flops_per_token
from scaling.rundir.curve import read_curve
from scaling.training.bounds import fit_to_device
from scaling.training.runtime import peak_flops, resolve_device
from scaling.training.train import train

ROOT = Path(__file__).resolve().parents[1]


def token_file(folder: Path, vocab_size: int, tokens: int) -> str:
    """A data spec for `tokens` random tokens below `vocab_size` (a nanoGPT-style .bin)."""
    path = folder / f"random-{vocab_size}.bin"
    if not path.exists():
        dtype = np.uint16 if vocab_size <= 2**16 else np.uint32
        np.random.default_rng(0).integers(0, vocab_size, tokens, dtype=dtype).tofile(path)
    return f"tokens:{path}:vocab={vocab_size}"


def gpt2_throughput(folder: Path, smoke: bool) -> None:
    if smoke:
        model = ModelConfig(n_layer=2, d_model=64, n_head=4, seq_len=128, vocab_size=512)
        steps, batch = 12, 16
    else:
        model = ModelConfig(n_layer=12, d_model=768, n_head=12, seq_len=1024, vocab_size=50257)
        steps, batch = 40, 480  # nanoGPT's GPT-2 batch: ~0.5M tokens per step
    data = token_file(folder, model.vocab_size, max(2 * steps * batch * model.seq_len, 1 << 20))
    cfg = TrainConfig(model=model, tokens=steps * batch * model.seq_len, data=data, batch_size=batch, lr=6e-4,
                      warmup_steps=2, log_every=2, eval_points=1, eval_tokens=8 * model.seq_len,
                      device="cpu" if smoke else "cuda", checkpoint_every_s=1e9)  # compiled on the GPU only
    fitted = fit_to_device(cfg)
    start = time.perf_counter()
    record = train(fitted, folder / "gpt2")
    rows = read_curve(folder / "gpt2").to_pandas().query("split == 'train'").iloc[2:]  # compile intervals out
    tokens_per_s = float(np.median(rows.tokens_per_s))
    print(f"[1] {count_params(model).total:,} params, context {model.seq_len}: batch {fitted.batch_size} "
          f"(asked {cfg.batch_size}) = micro batch {fitted.micro_batch_size} x {record.extra['accumulation_steps']} "
          f"accumulation steps; {record.steps} steps in {time.perf_counter() - start:.0f} s (compile included)")
    peak = peak_flops(resolve_device(fitted.device))
    palm = mfu_flops_per_token(model) * tokens_per_s
    appf = flops_per_token(model, "chinchilla_appF") * tokens_per_s
    if peak is None:
        print(f"    {tokens_per_s:,.0f} tokens/s; MFU n/a (no known GPU peak; {palm / 1e12:.3g} TFLOP/s in "
              f"nanoGPT/PaLM units, {appf / 1e12:.3g} by App. F)")
    else:
        print(f"    {tokens_per_s:,.0f} tokens/s; MFU {palm / peak:.1%} (nanoGPT/PaLM 6N + 12 L H Q T), "
              f"{appf / peak:.1%} (App. F) of {peak / 1e12:.0f} TFLOP/s; goal >= 40% nanoGPT units")


PEAK_SCRIPT = """
import json, sys
from scaling.config import TrainConfig
from scaling.training.bounds import estimate_memory
from scaling.training.probe import measure_peak
cfg = TrainConfig.from_dict(json.loads(sys.argv[1]))
on_gpu = cfg.device == "cuda"
estimate = estimate_memory(cfg, on_gpu=on_gpu)
peak = measure_peak(cfg)
print(json.dumps([estimate.training - estimate.overhead, peak.allocated, peak.reserved]))
"""


def memory(smoke: bool) -> None:
    if smoke:
        shapes = [(2, 128, 4, 128, 1024), (4, 192, 4, 256, 2048), (6, 256, 4, 256, 4096)]
    else:
        shapes = [(6, 384, 6, 1024, 50257), (12, 768, 12, 1024, 50257), (24, 1024, 16, 1024, 50257)]
    print("[2] peak memory, estimate (tensors, CUDA context excluded) vs measured:")
    for n_layer, d_model, n_head, seq_len, vocab in shapes:
        model = ModelConfig(n_layer=n_layer, d_model=d_model, n_head=n_head, seq_len=seq_len, vocab_size=vocab)
        cfg = fit_to_device(TrainConfig(model=model, tokens=10**9, batch_size=64 if smoke else 256,
                                        device="cpu" if smoke else "cuda", lr=1e-4))
        done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, json.dumps(cfg.to_dict())], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode:
            print(f"    {n_layer}x{d_model}: failed: {done.stderr.strip().splitlines()[-1]}")
            continue
        estimate, allocated, reserved = json.loads(done.stdout.splitlines()[-1])
        print(f"    {count_params(model).total / 1e6:7.1f}M params, micro batch {cfg.micro_batch_size:3d}: "
              f"estimate {estimate / 2**30:6.2f} GiB, measured {allocated / 2**30:6.2f} GiB allocated "
              f"({reserved / 2**30:6.2f} reserved): estimate/measured {estimate / allocated:.2f}")


def compiles(folder: Path, smoke: bool) -> None:
    widths = [32, 48] if smoke else [64 * k for k in range(2, 12)]
    data = "stdlib"
    results = []
    for i, width in enumerate(widths):
        cfg = TrainConfig(model=ModelConfig(n_layer=2, d_model=width, n_head=4 if width % 4 == 0 else 2,
                                            seq_len=64 if smoke else 256, vocab_size=256),
                          tokens=(5 if smoke else 200) * 8 * (64 if smoke else 256), data=data, batch_size=8,
                          lr=1e-3, eval_points=1, eval_tokens=2048, device="cpu" if smoke else "cuda", compile=True,
                          log_every=5)
        record = train(cfg, folder / f"shape-{i}")
        results.append((width, record.extra.get("compiled_graphs"), record.wall_s))
    fell_back = [w for w, graphs, _ in results if not graphs]
    print(f"[3] {len(widths)} shapes in one process: compiled graphs per run "
          f"{[g for _, g, _ in results]}; wall s per run {[round(s, 1) for _, _, s in results]}; "
          + (f"FELL BACK TO EAGER at widths {fell_back}" if fell_back else "none fell back to eager"))


def packing(folder: Path, smoke: bool) -> None:
    from scaling.hardware import visible_gpus
    from scaling.sweep.scheduler import run_sweep
    from scaling.sweep.specfile import load_spec

    spec = load_spec("gpu-small")
    budgets = (1e9,) if smoke else (3e13, 1e14)
    spec = replace(spec, grid=replace(spec.grid, budgets=budgets), data="stdlib",
                   device="cpu" if smoke else "cuda",
                   train={**spec.train, "eval_points": 2, "eval_tokens": 4096, "min_steps": 10 if smoke else 50})
    gpus = visible_gpus()
    rates = {}
    for label, workers in (("packed", None), ("one per GPU", max(1, len(gpus)) if not smoke else 1)):
        out = folder / f"packing-{label.replace(' ', '-')}"
        start = time.perf_counter()
        run_sweep(replace(spec, name="gpu-small-check"), out, workers=workers)
        wall = time.perf_counter() - start
        tokens = sum(json.loads(p.read_text())["tokens"] for p in out.glob("*/*/record.json"))
        rates[label] = tokens / wall
        print(f"[4] {label}: {tokens:,} tokens in {wall:.0f} s ({rates[label]:,.0f} tokens/s)")
    print(f"    packed / one per GPU = {rates['packed'] / rates['one per GPU']:.2f}x; goal >= 4x on a GPU")


def idle_share(folder: Path, smoke: bool) -> None:
    model = ModelConfig(n_layer=2, d_model=192, n_head=4, seq_len=256, vocab_size=256)  # ~1M parameters
    cfg = TrainConfig(model=model, tokens=(10 if smoke else 600) * 32 * 256, data="stdlib",
                      batch_size=32, lr=1e-3, eval_points=1, eval_tokens=4096, log_every=50,
                      device="cpu" if smoke else "cuda", checkpoint_every_s=1e9)
    train(replace(cfg, tokens=cfg.tokens // 10), folder / "idle-warmup")  # compile and caches first
    profiled = torch.cuda.is_available() and not smoke
    start = time.perf_counter()
    profiler = (torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) if profiled
                else contextlib.nullcontext())
    with profiler as profile:
        record = train(cfg, folder / "idle")
    wall = time.perf_counter() - start
    if not profiled:
        print(f"[5] {count_params(model).total:,} params: {record.steps} steps in {wall:.1f} s; "
              "idle share n/a (no GPU to profile)")
        return
    busy = sum(event.self_device_time_total for event in profile.key_averages()) / 1e6
    print(f"[5] {count_params(model).total:,} params: {record.steps} steps in {wall:.1f} s; GPU busy {busy:.1f} s, "
          f"idle {1 - busy / wall:.0%} of the run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on CPU: exercise every code path")
    args = parser.parse_args()
    if not args.cpu_smoke and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run with --cpu-smoke to exercise it on CPU")
    if args.cpu_smoke:
        import scaling.training.train as trainer

        trainer.SYNC_FREE_ON_CPU = True  # the GPU's step (device-side guard, fused AdamW) on CPU
    device = "CPU (smoke: sizes tiny, numbers are not GPU figures)" if args.cpu_smoke else \
        torch.cuda.get_device_name(0)
    print(f"gpu_check on {device}; torch {torch.__version__}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for part in (gpt2_throughput, lambda f, s: memory(s), compiles, packing, idle_share):
            part(folder, args.cpu_smoke)
    print(f"gpu_check done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
