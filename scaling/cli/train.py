"""`scaling train`: one run, with a progress bar. torch is imported inside the command only."""

from __future__ import annotations

import json
import math
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scaling.cli._app import app, positive_finite, positive_int

if TYPE_CHECKING:
    from scaling.train import Progress

BAR_WIDTH = 24
REDRAW_S = 0.5


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Schedule(str, Enum):
    cosine = "cosine"
    wsd = "wsd"


@app.command("train")
def train_command(
    tokens: Annotated[float, typer.Option(help="Token budget D (the LR cycle ends there).", callback=positive_finite)],
    params: Annotated[float | None, typer.Option(help="Target total parameters N; the shape rule picks the model.",
                                                 callback=positive_finite)] = None,
    shape: Annotated[str | None, typer.Option(help="Explicit shape 'n_layer,d_model,n_head' instead of --params.")] = None,
    data: Annotated[str, typer.Option(help="'stdlib', a text file/folder, 'tokens:PATH:vocab=V' or "
                                           "'synthetic:markov:seed=0'.")] = "stdlib",
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/train/<run_id>).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of init and data order.", min=0)] = 0,
    seq_len: Annotated[int, typer.Option(help="Context length.", callback=positive_int)] = 256,
    lr: Annotated[float | None, typer.Option(help="Peak LR (default: 0.05/sqrt(d_model)).",
                                             callback=positive_finite)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per step (default: DeepSeek rule, "
                                                        ">= 1000 steps).", callback=positive_int)] = None,
    schedule: Annotated[Schedule, typer.Option(help="LR schedule after warmup.")] = Schedule.cosine,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.", callback=positive_int)] = None,
    rules: Annotated[str | None, typer.Option(help="LR and batch from fitted laws: 'rules:FILE' (from scaling "
                                                   "tune) or 'deepseek'.")] = None,
    mup_base_width: Annotated[int | None, typer.Option(help="Train in muP relative to this base width "
                                                            "(scaling.mup).", callback=positive_int)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the run record as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Train one GPT and write its loss curve (parquet) and run record (JSON)."""
    from scaling.train_presets import from_size
    from scaling.records import run_id
    from scaling.train import train_exclusive

    cfg = from_size(tokens, params=params, shape=shape, seq_len=seq_len, data=data, device=device.value,
                    seed=seed, lr=lr, batch_size=batch_size, schedule=schedule.value, threads=threads, rules=rules,
                    mup_base_width=mup_base_width)
    run_dir = out if out is not None else Path("runs") / "train" / run_id(cfg)
    record = train_exclusive(cfg, run_dir, progress=None if quiet else _ProgressBar())
    if not quiet:
        sys.stderr.write("\n")
    if json_output:
        typer.echo(json.dumps(record.to_dict(), indent=2))
        return
    loss = f"{record.loss:.4f}" if record.loss is not None else "n/a"
    typer.echo(f"{record.status}: loss {loss} nats/token, {record.params:,} params, {record.tokens:,} tokens, "
               f"{record.flops:.3g} FLOPs ({record.flops_method}), {record.wall_s:.1f} s on {record.device}\n"
               f"run {record.run_id} in {run_dir}")
    if record.error:
        typer.echo(f"{record.status}: {record.error}")
    if record.status != "ok":
        raise typer.Exit(1)


class _ProgressBar:
    """Redraws one stderr line at most every REDRAW_S seconds (and at the end) on a terminal;
    elsewhere (a log file) prints one line per 10% of the run."""

    def __init__(self) -> None:
        self.last = -math.inf
        self.tty = sys.stderr.isatty()
        self.tenths = -1

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        done = p.tokens_seen / p.tokens
        if self.tty and now - self.last < REDRAW_S and p.tokens_seen < p.tokens:
            return
        if not self.tty and int(10 * done) == self.tenths:  # a log file gets a line per 10%
            return
        self.last, self.tenths = now, int(10 * done)
        bar = "#" * int(BAR_WIDTH * done) + "." * (BAR_WIDTH - int(BAR_WIDTH * done))
        eta = "?" if not math.isfinite(p.eta_s) else f"{int(p.eta_s) // 60}:{int(p.eta_s) % 60:02d}"
        val = f" val {p.val_loss:.3f}" if p.val_loss is not None else ""
        sys.stderr.write(("\r" if self.tty else "") + f"[{bar}] {done:4.0%} {p.tokens_seen / 1e6:.2f}M/{p.tokens / 1e6:.2f}M tok  "
                         f"loss {p.loss:.3f}{val}  {p.tokens_per_s / 1e3:.1f}k tok/s  ETA {eta} "
                         + ("" if self.tty else "\n"))
        sys.stderr.flush()
