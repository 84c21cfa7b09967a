"""`scaling train`: one run, with a progress bar. torch is imported inside the command only."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scaling.cli._app import Format, app, examples, positive_finite, positive_int, seed_option
from scaling.cli import progress
from scaling.cli.progress import ProgressView
from scaling.cli.render import Output, Table, duration, flops, loss, quantity, show
from scaling.cli.tracking import TrackerOption, TrackingUri, open_tracker
from scaling.config import MAX_BASE_WIDTH, MAX_THREADS

if TYPE_CHECKING:
    from scaling.rundir.record import RunRecord
    from scaling.training.train import Progress


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@app.command("train", epilog=examples(
    "scaling train --params 1e5 --tokens 2e6",
    "scaling train --shape 3,32,4 --tokens 1e6 --data synthetic:markov:seed=0,vocab=16",
))
def train_command(
    tokens: Annotated[float, typer.Option(help="Token budget D (the LR cycle ends there).", callback=positive_finite)],
    params: Annotated[float | None, typer.Option(help="Target total parameters N; the shape rule picks the model.",
                                                 callback=positive_finite)] = None,
    shape: Annotated[str | None, typer.Option(help="Explicit shape 'n_layer,d_model,n_head' instead of --params.")] = None,
    data: Annotated[str, typer.Option(help="'stdlib', a text file/folder, 'tokens:PATH:vocab=V' or "
                                           "'synthetic:markov:seed=0'.")] = "stdlib",
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.auto,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/train/<run_id>).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of init and data order.", callback=seed_option)] = 0,
    seq_len: Annotated[int, typer.Option(help="Context length.", callback=positive_int)] = 256,
    lr: Annotated[float | None, typer.Option(help="Peak LR (default: 0.05/sqrt(d_model)).",
                                             callback=positive_finite)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per step (default: DeepSeek rule, "
                                                        ">= 1000 steps).", callback=positive_int)] = None,
    micro_batch_size: Annotated[int | None, typer.Option(help="Sequences per forward pass (the batch is rounded to "
                                                              "whole micro batches); default: the largest that fits "
                                                              "the device's memory.", callback=positive_int)] = None,
    schedule: Annotated[str, typer.Option(help="LR schedule after warmup: cosine, wsd, stepped or constant, with "
                                               "shape fields after a colon, e.g. "
                                               "'wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt'.")] = "cosine",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.", min=1, max=MAX_THREADS)] = None,
    rules: Annotated[str | None, typer.Option(help="LR and batch from fitted laws: 'rules:FILE' (from scaling "
                                                   "tune) or 'deepseek'.")] = None,
    mup_base_width: Annotated[int | None, typer.Option(help="Train in muP relative to this base width "
                                                            "(scaling.training.mup).", min=1,
                                                       max=MAX_BASE_WIDTH)] = None,
    format: Annotated[Format, typer.Option("--format", help="Output format (json: the run record).")] = Format.table,
    json_output: Annotated[bool, typer.Option("--json", hidden=True, help="Deprecated: --format json.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    curve_fit: Annotated[Path | None, typer.Option(help="A loss-curve fit .json (scaling fit-curve --out): the "
                                                        "progress line's final-loss estimate comes from it along this "
                                                        "run's schedule, and flags a run drifting from it (default: "
                                                        "the law fitted to the run's own curve, from 25% of the "
                                                        "steps once the LR decays).")] = None,
    tracker: TrackerOption = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Train one GPT and write its loss curve (parquet) and run record (JSON)."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.sweep.placement import run_threads
    from scaling.training.bounds import fit_to_device
    from scaling.training.presets import from_size
    from scaling.training.hyperparams import run_id
    from scaling.training.train import train_exclusive
    from scaling.fit.curves import read_curve_fit
    from scaling.training.estimate import FinalLossEstimator

    fit = None if curve_fit is None else read_curve_fit(curve_fit)  # refused before training
    estimator = None if quiet else FinalLossEstimator(fit)
    cfg = from_size(tokens, params=params, shape=shape, seq_len=seq_len, data=data, device=device.value,
                    seed=seed, lr=lr, batch_size=batch_size, schedule=schedule, threads=threads, rules=rules,
                    mup_base_width=mup_base_width)
    with open_tracker(tracker, tracking_uri, "train") as log_run:  # opened first: a bad URI fails before training
        cfg = fit_to_device(dataclasses.replace(cfg, micro_batch_size=micro_batch_size))  # the micro batch is part of the run id
        chosen, note = run_threads(cfg.device) if threads is None else (threads, None)
        cfg = dataclasses.replace(cfg, threads=chosen)  # operational: the run id does not change
        run_dir = out if out is not None else Path("runs") / "train" / run_id(cfg)
        with ProgressView(run_id(cfg), cfg.tokens, unit="tokens", enabled=not quiet) as view:
            record = train_exclusive(cfg, run_dir, estimator=estimator,
                                     progress=lambda p: view.update(p.tokens_seen, _train_status(p), total=p.tokens))
        if estimator is not None and estimator.rows:  # not for a run finished before
            progress.say(estimator.closing_line(record.train_loss))
        if note:  # said once the run has trained: a refusal before it stays one line
            progress.say(note)
        if log_run is not None:
            # lazy: start-up speed (each command loads only its own library)
            from scaling.rundir.summary import summary_row

            log_run(summary_row(run_dir, "train"), run_dir)
    show(_render(record, run_dir), Format.json if json_output else format)
    if record.error:
        progress.say(f"{record.status}: {record.error}")
    if record.status != "ok":
        raise typer.Exit(1)


def _train_status(p: Progress) -> str:
    val = f" val {p.val_loss:.3f}" if p.val_loss is not None else ""
    eta = duration(p.eta_s) if p.eta_s != float("inf") else "?"
    return (f"{quantity(p.tokens_seen)}/{quantity(p.tokens)} tokens, loss {p.loss:.3f}{val}{_estimate(p)}, "
            f"{quantity(p.tokens_per_s)} tokens/s, ETA {eta}")


def _estimate(p: Progress) -> str:
    """`, final ~ 2.345 [2.31, 2.38]` (own curve), with a DRIFTING flag past the curve fit's tolerance."""
    e = p.estimate
    if e is None:
        return ""
    span = f" [{e.interval[0]:.3f}, {e.interval[1]:.3f}]" if e.interval else ""
    drift = f" DRIFTING {100 * e.drift:+.1f}% from the fit" if e.drifting and e.drift is not None else ""
    return f", final ~ {e.loss:.3f}{span}{' (own curve)' if e.source == 'own curve' else ''}{drift}"


def _render(record: RunRecord, run_dir: Path) -> Output:
    body = record.to_dict()
    row = [record.run_id, record.status, loss(record.loss, 4), quantity(record.params), quantity(record.tokens),
           flops(record.flops), record.flops_method, f"{record.wall_s:.1f}", record.device]
    table = Table(["run_id", "status", "loss", "params", "tokens", "flops", "flops_method", "wall_s", "device"], [row])
    summary = {k: body[k] for k in ("run_id", "status", "loss", "params", "tokens", "flops", "flops_method",
                                     "wall_s", "device")}
    return Output([table], [f"loss in nats/token (held-out); run directory {run_dir}"], [summary], record.to_json())
