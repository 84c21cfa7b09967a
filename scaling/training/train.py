"""One training run: `train(cfg, run_dir) -> RunRecord`. The contract sweeps build on:

    from scaling.config import ModelConfig, TrainConfig
    from scaling.rundir.record import read_record, RunRecord
    from scaling.training.hyperparams import run_id
    from scaling.training.train import train

    record = train(cfg, run_dir, progress=None)   # progress(Progress) after each logged row

- `estimator` (scaling.training.estimate.FinalLossEstimator), optional: the run's estimated
  final loss, refreshed on its budget, reaches `progress` as `Progress.estimate`.

- `cfg` is resolved first (scaling.training.hyperparams.resolve fills lr, batch_size, warmup_steps,
  micro_batch_size, log_every); `run_id(cfg)` (scaling.training.hyperparams) hashes the resolved config.
- run_dir/config.json: {"run_id", "schema_version", "config": resolved cfg.to_dict()}. A
  run_dir whose config.json holds another run_id raises ValueError.
- run_dir/curve.parquet: rewritten atomically at each checkpoint and at the end
  (schema: scaling.rundir.curve.CURVE_COLUMNS).
- run_dir/checkpoint.pt: written atomically every `checkpoint_every` steps (or every
  `checkpoint_every_s` seconds), at log boundaries; a later call resumes from it, and on CPU
  the resumed run's curve and final loss equal an uninterrupted run's bit for bit (same
  threads). Deleted once the run ends.
- run_dir/record.json: written last. status "ok" = finished; "diverged" = a non-finite loss
  stopped the run before its optimizer step; "failed" = an exception (recorded with `error`,
  then re-raised). Calling train() again on an "ok" or "diverged" run returns its record
  without training; a "failed" run is retried from its checkpoint.
- `read_record(run_dir)` returns the RunRecord or None (not finished).
The run directory's files, lock and protocol (claim, final record, quarantine) are scaling.rundir's.

Loop: AdamW (fused on CUDA), linear warmup then cosine to min_lr_ratio at the last step (or
WSD), global-norm clipping, bf16 autocast and torch.compile on CUDA only by default, float32
eager on CPU. Held-out loss at log-spaced steps and at the end on fixed windows.

References: Hoffmann et al. 2022 (Chinchilla), Sec. 3.1; Loshchilov & Hutter 2019 (AdamW);
torchtitan `train_step` (stop on a non-finite loss before stepping); nanoGPT `train.py`.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from scaling.training.bounds import check_run, eval_pass_sequences, fit_to_device
from scaling.config import TrainConfig, branch_parent
from scaling.training.data.corpus import BatchSampler, Corpus, eval_windows, load_corpus
from scaling.flops import count_params, flops_per_token, mfu_flops_per_token
from scaling.training.model import GPT
from scaling.atomic import write_atomic
from scaling.rundir.files import CorruptFile, open_read, quarantine
from scaling.rundir.lock import lock_holder, run_lock
from scaling.rundir.protocol import (
    branch_ready,
    branch_state_path,
    branch_states,
    checkpoint_path,
    final_record,
    open_run,
    parent_dir,
)
from scaling.rundir.record import RunRecord, RunSink, read_config_json
from scaling.training.runtime import peak_flops, resolve_device, versions
from scaling.training.hyperparams import count_steps, eval_steps, lr_at, run_id, schedule_of
from scaling.errors import RunBusy

if TYPE_CHECKING:
    from scaling.training.estimate import FinalEstimate, FinalLossEstimator

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = {"cpu": 60.0, "cuda": 1800.0}
"""Default seconds between checkpoints by device type (TrainConfig.checkpoint_every_s None)."""
TRAJECTORY_FIELDS = ("model", "data", "seed", "lr", "batch_size", "warmup_steps", "weight_decay", "beta1", "beta2",
                     "grad_clip", "val_fraction", "eval_tokens")
"""What a cooldown branch shares with its parent (its path up to the branch step); the LR of every
step before it is compared too."""
SYNC_FREE_ON_CPU = False
"""Use the GPU's sync-free step (non-finite guard on the device, fused AdamW skipping the step)
on CPU too: for tests of that path; a CPU run pays nothing for `.item()`, so it stays off."""


@dataclass(frozen=True)
class Progress:
    """What a progress callback receives after each logged row."""

    step: int
    steps: int
    tokens_seen: int
    tokens: int
    loss: float
    val_loss: float | None
    tokens_per_s: float
    """Over the last log interval."""
    wall_s: float
    estimate: FinalEstimate | None = None
    """The run's estimated final loss (scaling.training.estimate), when an estimator is given and has one."""

    @property
    def eta_s(self) -> float:
        """Seconds left at the run's average speed so far."""
        return (self.tokens - self.tokens_seen) * self.wall_s / self.tokens_seen if self.tokens_seen else math.inf


def train(cfg: TrainConfig, run_dir: Path, *, progress: Callable[[Progress], None] | None = None,
          estimator: FinalLossEstimator | None = None) -> RunRecord:
    """Train one run into `run_dir` (created), resuming from its checkpoint; see the module doc."""
    run_dir = Path(run_dir)
    cfg = fit_to_device(cfg)  # the micro batch (and the batch in whole micro batches) is part of the run id
    rid = run_id(cfg)
    previous = final_record(run_dir)
    if previous is not None:
        if previous.run_id != rid:
            raise ValueError(f"{run_dir} holds run {previous.run_id}, not {rid}")
        return previous
    check_run(cfg, label=f"run {rid}")  # before any allocation: refuse what cannot fit
    sink = open_run(run_dir, rid, cfg)  # a failed attempt's record is dropped: it is retried
    trainer = _Trainer(cfg, sink, progress, estimator)
    try:
        return trainer.run()
    except Exception as exc:
        sink.write_record(trainer.record("failed", error=f"{type(exc).__name__}: {exc}"))
        raise


def train_exclusive(cfg: TrainConfig, run_dir: Path, *, progress: Callable[[Progress], None] | None = None,
                    estimator: FinalLossEstimator | None = None) -> RunRecord:
    """`train` holding the run directory's lock, the one sweep workers take (scaling.rundir.lock), so
    two processes never train one run; RunBusy when another process holds it."""
    run_dir = Path(run_dir)
    cfg = fit_to_device(cfg)
    check_run(cfg, label=f"run {run_id(cfg)}")  # refuse before creating the directory
    with run_lock(run_dir) as taken:
        if not taken:
            holder = lock_holder(run_dir) or "another process"
            raise RunBusy(f"{run_dir} is being trained by {holder} (host pid); wait for it, or use another --out")
        return train(cfg, run_dir, progress=progress, estimator=estimator)


def divergence(rows: list[dict[str, Any]], final_loss: float | None, vocab_size: int) -> str | None:
    """Why a run that ran to its end still failed to learn, or None.

    A final held-out loss above ln V is worse than guessing uniformly over the vocabulary, and
    one not below the run's first evaluation (or first logged train loss) means training made
    no progress: both are divergence that no non-finite value announced (e.g. too high an LR).
    """
    if final_loss is None:
        return None
    uniform = math.log(vocab_size)
    if final_loss > uniform:
        return (f"final loss {final_loss:.4f} nats/token is above ln {vocab_size} = {uniform:.4f}, "
                "the loss of a uniform guess")
    early = [r for r in rows if r["split"] == "val"] or [r for r in rows if r["split"] == "train"]
    first = min(early, key=lambda r: r["step"], default=None)
    if first is not None and len(early) > 1 and final_loss >= first["loss"]:
        return (f"final loss {final_loss:.4f} nats/token is not below the loss at step {first['step']} "
                f"({first['loss']:.4f})")
    return None


def _to_host(state: Any) -> Any:
    """A copy of a state_dict in host memory that training can no longer change."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {key: _to_host(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_host(value) for value in state)
    return state


class _Trainer:
    """State of one run; `run()` trains it, `record()` describes it at any point."""

    def __init__(self, cfg: TrainConfig, sink: RunSink, progress: Callable[[Progress], None] | None,
                 estimator: FinalLossEstimator | None = None) -> None:
        assert cfg.batch_size is not None and cfg.micro_batch_size is not None and cfg.log_every is not None
        self.cfg, self.sink, self.progress, self.estimator = cfg, sink, progress, estimator
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.device = resolve_device(cfg.device)
        self.steps = count_steps(cfg)
        self.batch_tokens = cfg.batch_size * cfg.model.seq_len
        self.counts = count_params(cfg.model)
        self.flops_per_token = {m: flops_per_token(cfg.model, m) for m in ("6ND", "chinchilla_appF", cfg.flops_method)}
        self.mfu_flops_per_token = mfu_flops_per_token(cfg.model)
        self.compiled_graphs: int | None = None
        self.mfu_sum, self.mfu_rows = 0.0, 0
        self.writer: threading.Thread | None = None
        self.writer_error: BaseException | None = None
        self.step = 0
        self.wall_s = 0.0
        self.train_loss: float | None = None
        self.val_loss: float | None = None
        self.corpus: Corpus | None = None
        self.sampler: BatchSampler | None = None
        self.branched_at: tuple[str, int, float] | None = None

    # -- setup -------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        self.corpus = load_corpus(cfg.data, val_fraction=cfg.val_fraction)
        if self.corpus.vocab_size > cfg.model.vocab_size:
            raise ValueError(f"data {cfg.data!r} has vocabulary {self.corpus.vocab_size}, "
                             f"more than the model's {cfg.model.vocab_size}")
        self.sampler = BatchSampler(self.corpus.train, seq_len=cfg.model.seq_len, batch_size=cfg.batch_size,
                                    seed=cfg.seed)
        if self.sampler.epochs(self.steps) > 1:
            log.warning("run %s repeats its data: %.2f epochs of %s", self.sink.run_id,
                        self.sampler.epochs(self.steps), cfg.data)
        self.val = torch.from_numpy(eval_windows(self.corpus.val, seq_len=cfg.model.seq_len,
                                                 eval_tokens=cfg.eval_tokens)).to(self.device)
        self.eval_at = set(eval_steps(self.steps, cfg.eval_points))
        cuda = self.device.type == "cuda"
        if cuda:  # TF32 for any float32 matmul left outside autocast (nanoGPT does the same)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.bf16 = cfg.bf16 if cfg.bf16 is not None else cuda
        generator = torch.Generator().manual_seed(cfg.seed)
        self.model = GPT(cfg.model, generator=generator).to(self.device)
        self.sync_free = cuda or SYNC_FREE_ON_CPU
        self.optimizer = torch.optim.AdamW(self.model.param_groups(cfg.weight_decay), lr=cfg.lr,
                                           betas=(cfg.beta1, cfg.beta2),
                                           **({"fused": True} if self.sync_free else {}))
        use_compile = cfg.compile if cfg.compile is not None else cuda
        self.forward: Callable[..., torch.Tensor] = self.model
        if use_compile:
            from torch._dynamo.utils import counters  # lazy: dynamo loads only where a run compiles

            # Each run compiles its own GPT; without a reset a worker's earlier shapes count
            # toward dynamo's recompile limit (8) and later runs silently train eager.
            torch._dynamo.reset()
            self.graphs_before = counters["stats"]["unique_graphs"]
            self.forward = torch.compile(self.model)
        self.peak = peak_flops(self.device)
        if self.peak is None and cuda:
            log.warning("run %s: %s is not in the GPU peak table (scaling.hardware.GPU_SPECS): no MFU logged",
                        self.sink.run_id, torch.cuda.get_device_name(self.device))
        self._resume()

    def _resume(self) -> None:
        """Continue from the most advanced state this run kept (its checkpoint, or a state it kept
        for its branches after a later step); a cooldown branch's first start, from its parent's."""
        run_dir = self.sink.run_dir
        state, path = self._read_state(checkpoint_path(run_dir)), checkpoint_path(run_dir)
        later = [(step, kept) for step, kept in branch_states(run_dir).items()
                 if state is None or step > int(state["step"])]
        if later:  # a stable run killed after keeping a branch state its last checkpoint predates
            kept_state = self._read_state(later[-1][1])
            if kept_state is not None:
                state, path = kept_state, later[-1][1]
        if state is None:
            if self.cfg.branch_from is not None:
                self._start_branch()
            return
        if state["run_id"] != self.sink.run_id:
            raise ValueError(f"{path} belongs to run {state['run_id']}, not {self.sink.run_id}")
        self._check_digest(state, path)
        try:
            self.sink.load(up_to_step=int(state["step"]))
        except CorruptFile as exc:  # the rows before the checkpoint are lost: start over
            quarantine(self.sink.curve_path, str(exc))
            quarantine(path, "its curve.parquet was corrupt")
            if self.cfg.branch_from is not None:
                self._start_branch()
            return
        self._restore(state)
        log.info("run %s resumes at step %d of %d", self.sink.run_id, self.step, self.steps)

    def _read_state(self, path: Path) -> dict[str, Any] | None:
        """A training state this run wrote (None when absent; a corrupt one is moved aside)."""
        try:
            stream = open_read(path)  # a link is refused (LinkRefused), never loaded
        except FileNotFoundError:
            return None
        try:
            with stream:
                state = torch.load(stream, map_location=self.device, weights_only=True)
            if not isinstance(state, dict) or not {"run_id", "step", "model", "optimizer"} <= set(state):
                raise ValueError("not a training checkpoint")
        except Exception as exc:  # truncated or corrupt (zip, pickle, EOF errors): start over
            quarantine(path, f"{type(exc).__name__}: {exc}")
            return None
        return state

    def _check_digest(self, state: dict[str, Any], path: Path) -> None:
        assert self.corpus is not None
        started_on = state.get("data_digest")  # None in checkpoints written before it was kept
        if started_on is not None and started_on != self.corpus.digest:
            raise ValueError(f"{path}: run {state['run_id']} started on data {self.cfg.data!r} with digest "
                             f"{started_on[:16]}, which now has digest {self.corpus.digest[:16]} (the corpus was "
                             "replaced); restore it, or train into a fresh directory")

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.wall_s = int(state["step"]), float(state["wall_s"])
        self.val_loss, self.train_loss = state["val_loss"], state["train_loss"]
        if self.cfg.branch_from is not None and state.get("parent_wall_s") is not None:
            parent_id, step = branch_parent(self.cfg.branch_from)
            self.branched_at = (parent_id, step, float(state["parent_wall_s"]))

    def _start_branch(self) -> None:
        """A cooldown branch's start: its parent's state after the branch step, and the parent's
        curve up to it (the branch's curve is whole from step 0). The parent must have trained
        exactly the branch's path so far: same shape, data, seed, optimiser and LR at every step."""
        assert self.cfg.branch_from is not None
        parent_id, step = branch_parent(self.cfg.branch_from)
        parent = parent_dir(self.sink.run_dir, parent_id)
        path = branch_state_path(parent, step)
        if not branch_ready(parent, step):
            raise ValueError(f"run {self.sink.run_id} branches from run {parent_id} after {step} steps, but "
                             f"{path} is not there (the parent has not reached that step, or its kept states "
                             "were removed once its branches had finished)")
        try:
            with open_read(path) as stream:
                state = torch.load(stream, map_location=self.device, weights_only=True)
        except Exception as exc:
            raise ValueError(f"{path}: the parent's kept state does not load ({type(exc).__name__}: {exc}); "
                             "retrain the parent (move its record.json aside and rerun the sweep)") from None
        if not isinstance(state, dict) or state.get("run_id") != parent_id or state.get("step") != step:
            raise ValueError(f"{path} is not run {parent_id}'s state after {step} steps")
        self._check_digest(state, path)
        self._check_parent(parent, parent_id, step)
        try:
            self.sink.adopt(parent, up_to_step=step)
        except CorruptFile as exc:
            raise ValueError(f"run {self.sink.run_id}: its parent's curve does not read ({exc})") from None
        self._restore(state)
        self.branched_at = (parent_id, step, self.wall_s)
        log.info("run %s branches from run %s at step %d of %d", self.sink.run_id, parent_id, step, self.steps)

    def _check_parent(self, parent: Path, parent_id: str, step: int) -> None:
        """ValueError unless the parent's config trains the same path as this branch up to `step`."""
        try:
            claimed = read_config_json(parent) or {}
            parent_cfg = TrainConfig.from_dict(claimed.get("config", {}))
        except (CorruptFile, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{parent}: the parent's config.json does not read ({exc})") from None
        for name in TRAJECTORY_FIELDS:
            if getattr(parent_cfg, name) != getattr(self.cfg, name):
                raise ValueError(f"run {self.sink.run_id} cannot branch from run {parent_id}: their {name} differ "
                                 f"({getattr(self.cfg, name)!r} here, {getattr(parent_cfg, name)!r} there)")
        steps = np.arange(step)
        ours = schedule_of(self.cfg, self.steps).lr_at(steps)
        theirs = schedule_of(parent_cfg, count_steps(parent_cfg)).lr_at(steps)
        apart = np.flatnonzero(~np.isclose(ours, theirs, rtol=1e-12, atol=0.0))
        if apart.size:
            raise ValueError(f"run {self.sink.run_id} cannot branch from run {parent_id} after {step} steps: their "
                             f"learning rates differ from step {int(apart[0])} (the cooldown must start at or "
                             "after the branch step)")

    def _checkpoint(self, keep: bool = False) -> None:
        """Flush the curve, snapshot the state to host memory and hand it to a writer thread
        (serialising and fsyncing a large state would stall training). One write at a time;
        the curve is flushed first, so it never lags the checkpoint a resume reads. `keep`: also
        keep the state for the branches starting at this step (written after the checkpoint)."""
        self._wait_for_writer()
        self.sink.flush()
        assert self.corpus is not None
        state = {"run_id": self.sink.run_id, "step": self.step, "wall_s": self.wall_s,
                 "data_digest": self.corpus.digest,
                 "val_loss": self.val_loss, "train_loss": self.train_loss,
                 "parent_wall_s": self.branched_at[2] if self.branched_at is not None else None,
                 "model": _to_host(self.model.state_dict()), "optimizer": _to_host(self.optimizer.state_dict())}
        path = checkpoint_path(self.sink.run_dir)
        kept = branch_state_path(self.sink.run_dir, self.step) if keep else None

        def write() -> None:
            try:
                buffer = io.BytesIO()
                torch.save(state, buffer)
                write_atomic(path, buffer.getvalue())
                if kept is not None:  # a branch may start once this file is in place
                    write_atomic(kept, buffer.getvalue())
            except BaseException as exc:  # raised on the training thread by _wait_for_writer
                self.writer_error = exc

        self.writer = threading.Thread(target=write, name=f"checkpoint-{self.sink.run_id}", daemon=True)
        self.writer.start()

    def _wait_for_writer(self) -> None:
        if self.writer is not None:
            self.writer.join()
            self.writer = None
        if self.writer_error is not None:
            error, self.writer_error = self.writer_error, None
            raise error

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> RunRecord:
        self._setup()
        assert self.sampler is not None
        cfg, model, optimizer = self.cfg, self.model, self.optimizer
        params = list(model.parameters())
        clip = cfg.grad_clip if cfg.grad_clip is not None else math.inf
        n_micro = cfg.batch_size // cfg.micro_batch_size  # type: ignore[operator]
        # Sync-free on a GPU: losses summed and non-finite values flagged on the device, read
        # (.item(), a host sync) on log steps only; the flag is fused AdamW's found_inf, so a
        # step with a non-finite loss or gradient norm, and every step after it, changes nothing.
        loss_sum: torch.Tensor | float = torch.zeros((), device=self.device) if self.sync_free else 0.0
        nonfinite = torch.zeros((), device=self.device)
        interval_steps = 0
        last_checkpoint = tick = time.perf_counter()
        status = "ok"
        save_at = set(cfg.save_at)
        batch = self._batch(self.step)
        while self.step < self.steps:
            lr = lr_at(self.step, cfg, self.steps)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_mult", 1.0)  # muP's per-layer multiplier (1 otherwise)
            loss = self._forward_backward(batch, n_micro)
            if self.step + 1 < self.steps:  # prepared while the device works on this step
                batch = self._batch(self.step + 1)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
            if self.sync_free:
                torch.maximum(nonfinite, (~(torch.isfinite(loss) & torch.isfinite(grad_norm))).float(),
                              out=nonfinite)
                optimizer.found_inf = nonfinite  # type: ignore[attr-defined]
                loss_sum = loss_sum + loss
            else:
                loss_value, norm_value = loss.item(), float(grad_norm)
                if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                    status = "diverged"
                    log.warning("run %s: non-finite %s at step %d; stopping", self.sink.run_id,
                                "loss" if not math.isfinite(loss_value) else "gradient norm", self.step)
                    break
                loss_sum = loss_sum + loss_value
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            self.step += 1
            interval_steps += 1
            if self.compiled_graphs is None and hasattr(self, "graphs_before"):
                self._count_compiles()
            if self.step % cfg.log_every == 0 or self.step == self.steps:  # type: ignore[operator]
                if self._nonfinite_on_device(nonfinite, "no optimizer step taken from it on"):
                    status = "diverged"
                    break
                now = time.perf_counter()
                self.wall_s += now - tick
                self.train_loss = float(loss_sum) / interval_steps
                self._log_train(lr, float(grad_norm), interval_steps * self.batch_tokens / (now - tick))
                logged, interval_steps = interval_steps, 0
                loss_sum = torch.zeros((), device=self.device) if self.sync_free else 0.0
                if any(self.step - logged < e <= self.step for e in self.eval_at):
                    self._log_val(lr)
                tick = time.perf_counter()
                self.wall_s += tick - now
                if self.step < self.steps and self._checkpoint_due(tick - last_checkpoint):
                    self._checkpoint()
                    last_checkpoint = time.perf_counter()
                    self.wall_s += last_checkpoint - tick
                    tick = last_checkpoint
            if self.step in save_at:  # a branch point: its held-out loss, and the whole state kept
                if self._nonfinite_on_device(nonfinite, "no state kept for its branches"):
                    status = "diverged"
                    break
                now = time.perf_counter()
                self.wall_s += now - tick
                if not any(r["split"] == "val" and r["step"] == self.step for r in self.sink.rows[-2:]):
                    self._log_val(lr)
                self._checkpoint(keep=True)
                last_checkpoint = tick = time.perf_counter()
                self.wall_s += tick - now
        self._wait_for_writer()
        reason = None
        if status == "ok":
            assert self.corpus is not None
            reason = divergence(self.sink.rows, self.val_loss, self.corpus.vocab_size)
            if reason is not None:
                status = "diverged"
                log.warning("run %s diverged: %s", self.sink.run_id, reason)
        record = self.record(status, error=reason)
        self.sink.flush()
        self.sink.write_record(record)
        checkpoint_path(self.sink.run_dir).unlink(missing_ok=True)
        return record

    def _nonfinite_on_device(self, nonfinite: torch.Tensor, consequence: str) -> bool:
        """Whether the sync-free step flagged a non-finite loss or gradient norm by now (a host
        sync, so read on log steps and branch points only); logged, with `consequence`."""
        if not (self.sync_free and nonfinite.item()):
            return False
        log.warning("run %s: non-finite loss or gradient norm by step %d (%s); stopping", self.sink.run_id,
                    self.step, consequence)
        return True

    def _count_compiles(self) -> None:
        """Graphs dynamo compiled for this run (after its first step); none means the run trains
        eager although compile was asked for, which is logged and recorded, never silent."""
        from torch._dynamo.utils import counters  # lazy: dynamo loads only where a run compiles

        self.compiled_graphs = counters["stats"]["unique_graphs"] - self.graphs_before
        if self.compiled_graphs == 0:
            log.warning("run %s: torch.compile compiled nothing; this run trains eager", self.sink.run_id)

    def _batch(self, step: int) -> torch.Tensor:
        assert self.sampler is not None
        return self._to_device(torch.from_numpy(self.sampler.batch(step)))

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            return batch.pin_memory().to(self.device, non_blocking=True)
        return batch

    def _forward_backward(self, batch: torch.Tensor, n_micro: int) -> torch.Tensor:
        """Forward and backward over the batch in `n_micro` pieces; the batch's mean loss."""
        if n_micro == 1 and not self.bf16:  # the CPU path: no accumulator, no autocast context
            loss = self.forward(batch[:, :-1], batch[:, 1:])
            loss.backward()
            return loss.detach()
        total = torch.zeros((), device=self.device)
        for chunk in batch.chunk(n_micro):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                loss = self.forward(chunk[:, :-1], chunk[:, 1:])
            (loss / n_micro).backward()
            total += loss.detach()
        return total / n_micro

    def _checkpoint_due(self, since_s: float) -> bool:
        if self.cfg.checkpoint_every is not None:
            return self.step % self.cfg.checkpoint_every < self.cfg.log_every  # type: ignore[operator]
        every = self.cfg.checkpoint_every_s
        return since_s >= (every if every is not None else CHECKPOINT_EVERY_S.get(self.device.type, 60.0))

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean held-out loss (nats/token) over the fixed validation windows."""
        self.model.eval()
        per_pass = eval_pass_sequences(self.cfg)
        total = torch.zeros((), device=self.device, dtype=torch.float64)
        for chunk in self.val.split(per_pass):
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                total += self.model(chunk[:, :-1], chunk[:, 1:]).double() * chunk.shape[0]
        self.model.train()
        return float(total) / self.val.shape[0]

    def _row(self, split: str, loss: float, lr: float) -> dict[str, Any]:
        tokens = self.step * self.batch_tokens
        return {"step": self.step, "tokens_seen": tokens, "split": split, "loss": loss, "lr": lr,
                "flops_seen": self.flops_per_token[self.cfg.flops_method] * tokens,
                "flops_seen_6nd": self.flops_per_token["6ND"] * tokens,
                "flops_seen_appf": self.flops_per_token["chinchilla_appF"] * tokens, "wall_s": self.wall_s}

    def _log_train(self, lr: float, grad_norm: float, tokens_per_s: float) -> None:
        assert self.train_loss is not None
        mfu = self.mfu_flops_per_token * tokens_per_s / self.peak if self.peak else None  # nanoGPT/PaLM units
        if mfu is not None:
            self.mfu_sum, self.mfu_rows = self.mfu_sum + mfu, self.mfu_rows + 1
        self.sink.append(**self._row("train", self.train_loss, lr), grad_norm=grad_norm,
                         tokens_per_s=tokens_per_s, mfu=mfu)
        estimate = None
        if self.estimator is not None:  # its refits are rationed (a share of the wall time)
            estimate = self.estimator.after_row(self.sink.run_dir, self.step, self.steps, self.wall_s, self.sink.flush)
        if self.progress is not None:
            self.progress(Progress(step=self.step, steps=self.steps, tokens_seen=self.step * self.batch_tokens,
                                   tokens=self.steps * self.batch_tokens, loss=self.train_loss,
                                   val_loss=self.val_loss, tokens_per_s=tokens_per_s, wall_s=self.wall_s,
                                   estimate=estimate))

    def _log_val(self, lr: float) -> None:
        loss = self.evaluate()
        if math.isfinite(loss):
            self.val_loss = loss
            self.sink.append(**self._row("val", loss, lr))

    def record(self, status: str, error: str | None = None) -> RunRecord:
        """The run as it stands, with `status`."""
        cfg, tokens = self.cfg, self.step * self.batch_tokens
        epochs = self.sampler.epochs(self.step) if self.sampler is not None else 0.0
        return RunRecord(
            run_id=self.sink.run_id, status=status, error=error,
            loss=self.val_loss if status == "ok" else None, train_loss=self.train_loss, val_loss=self.val_loss,
            params=self.counts.total, params_nonembedding=self.counts.non_embedding, tokens=tokens,
            flops=self.flops_per_token[cfg.flops_method] * tokens, flops_method=cfg.flops_method,
            flops_6nd=self.flops_per_token["6ND"] * tokens, flops_appf=self.flops_per_token["chinchilla_appF"] * tokens,
            lr=float(cfg.lr),  # type: ignore[arg-type]
            batch_size=cfg.batch_size, batch_tokens=self.batch_tokens,  # type: ignore[arg-type]
            steps=self.step, warmup_steps=cfg.warmup_steps, epochs=epochs,  # type: ignore[arg-type]
            seed=cfg.seed, data=cfg.data, data_digest=self.corpus.digest if self.corpus else "",
            device=str(self.device) if self.device.type == "cpu" else torch.cuda.get_device_name(self.device),
            started_at=self.started_at, finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            wall_s=self.wall_s, versions=versions(), config=cfg.to_dict(),
            extra={**(self.corpus.facts if self.corpus else {}), "threads": torch.get_num_threads(),
                   **self._execution(), **self._branch_facts()})

    def _branch_facts(self) -> dict[str, Any]:
        """A cooldown branch's provenance: its parent's id, the step it branched at and the wall
        time the parent had spent by then (included in this run's wall_s)."""
        if self.cfg.branch_from is None:
            return {}
        parent_id, step = branch_parent(self.cfg.branch_from)
        wall = self.branched_at[2] if self.branched_at is not None else None
        return {"parent_run_id": parent_id, "branch_step": step, "parent_wall_s": wall}

    def _execution(self) -> dict[str, Any]:
        """How the run executed: micro batch and accumulation (and the batch asked, where whole
        micro batches changed it), compiled graphs, mean MFU in both units."""
        cfg = self.cfg
        facts: dict[str, Any] = {"micro_batch_size": cfg.micro_batch_size,
                                 "accumulation_steps": cfg.batch_size // cfg.micro_batch_size}  # type: ignore[operator]
        if cfg.batch_size_asked is not None:
            facts["batch_size_asked"] = cfg.batch_size_asked
        if hasattr(self, "graphs_before"):
            facts["compiled_graphs"] = self.compiled_graphs
        if self.mfu_rows:
            mfu = self.mfu_sum / self.mfu_rows
            facts["mfu"] = mfu  # 6N + 12 L H Q T (nanoGPT, PaLM App. B)
            facts["mfu_appf"] = mfu * self.flops_per_token["chinchilla_appF"] / self.mfu_flops_per_token
        return facts
