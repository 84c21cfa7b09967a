"""The run protocol: how a run directory is claimed, resumed, finished, failed and read back.

- A run is trained under its lock (`lock.run_lock`), in a directory that is not a link.
- `claim`: a directory whose config.json names another run is refused; an unreadable one is
  quarantined and rewritten.
- `final_record`: a record with status "ok" or "diverged" ends the run (train returns it); an
  unreadable one is quarantined and the run retrained; a "failed" one is retried.
- `attempt`: what a sweep worker does with one run: take the lock, clear stale temporary files,
  skip a finished run whose curve reads, retry a failed one, train, and record a failure
  ("failed" record.json) that `train` did not record itself; events.jsonl gets start and finish.
- `run_status`: what `scaling runs` shows for a run directory.
- Branch states: a stable run keeps its state after each branch step (`branch_state_path`,
  written like a checkpoint); a cooldown branch starts from its parent's, in the run directory
  beside its own (`parent_dir`); `drop_branch_states` removes them once every branch is done.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.errors import StoreFault
from scaling.rundir.curve import curve_path, read_curve
from scaling.rundir.events import append_event
from scaling.rundir.files import (
    BRANCH_STATE,
    CHECKPOINT,
    CorruptFile,
    check_folder,
    clear_stale_temps,
    make_run_dir,
    quarantine,
    run_path,
)
from scaling.rundir.lock import is_locked, run_lock
from scaling.rundir.record import (
    FINISHED,
    NewerSchema,
    RunRecord,
    RunSink,
    config_path,
    read_config_json,
    read_record_json,
    read_record_lenient,
    record_path,
    remove_record,
    write_failed_record,
)

if TYPE_CHECKING:
    from scaling.config import TrainConfig

logger = logging.getLogger(__name__)


def checkpoint_path(run_dir: Path) -> Path:
    return run_path(run_dir, CHECKPOINT)


def branch_state_path(run_dir: Path, step: int) -> Path:
    """Where a stable run keeps its state after `step` steps for the branches that start there."""
    return run_path(run_dir, BRANCH_STATE.format(step=int(step)))


def branch_states(run_dir: Path) -> dict[int, Path]:
    """A run's kept branch states by step (links left out: never read)."""
    prefix, suffix = BRANCH_STATE.split("{step}")
    found = {}
    for path in check_folder(run_dir).glob(BRANCH_STATE.format(step="*")):
        middle = path.name[len(prefix):-len(suffix)]
        if middle.isdigit() and not path.is_symlink():
            found[int(middle)] = path
    return dict(sorted(found.items()))


def parent_dir(run_dir: Path, parent_id: str) -> Path:
    """The run directory of a branch's parent: beside the branch's own, in its sweep directory."""
    return check_folder(Path(run_dir).parent / parent_id)


def branch_ready(parent: Path, step: int) -> bool:
    """Whether the parent run has kept its state after `step` steps (a branch may start)."""
    path = branch_state_path(parent, step)
    return path.is_file() and not path.is_symlink()


def drop_branch_states(run_dir: Path) -> int:
    """Delete a finished stable run's kept states (every branch from them has ended); how many."""
    states = branch_states(run_dir)
    for path in states.values():
        path.unlink(missing_ok=True)
    return len(states)


def final_record(run_dir: Path) -> RunRecord | None:
    """The run's record when it is final ("ok" or "diverged"); a failed attempt's record (ours,
    or the minimal one a sweep executor writes for a crashed process) is not. A corrupt record
    is moved aside (the run is trained again)."""
    try:
        record = read_record_json(run_dir)
    except CorruptFile as exc:
        quarantine(record_path(run_dir), str(exc))
        return None
    if record is None or record["status"] not in FINISHED:
        return None
    return RunRecord.from_dict(record)


def claim(run_dir: Path, rid: str) -> None:
    """Refuse a directory holding another run's config.json (ValueError); an unreadable one is
    moved aside (the caller rewrites it)."""
    try:
        claimed = read_config_json(run_dir)
    except CorruptFile as exc:
        quarantine(config_path(run_dir), str(exc))
        return
    if claimed is not None and claimed.get("run_id") != rid:
        raise ValueError(f"{run_dir} holds another run's config.json; use a fresh directory")


def open_run(run_dir: Path, rid: str, cfg: TrainConfig) -> RunSink:
    """Make the run directory (not a link), claim it for run `rid`, write its config.json, drop
    a failed attempt's record (it is being retried), and return the writer of its files."""
    make_run_dir(run_dir)
    claim(run_dir, rid)
    sink = RunSink(run_dir, rid)
    sink.write_config(cfg)
    remove_record(run_dir)
    return sink


def run_status(run_dir: Path) -> str:
    """"ok" | "diverged" | "failed" (a record says so), "corrupt" (an unreadable record),
    "running" (locked), "killed" (started, not running, no record) or "pending" (never started)."""
    run_dir = Path(run_dir)
    record = read_record_lenient(run_dir)
    if record is not None:
        return str(record.get("status", "failed"))
    if is_locked(run_dir):
        return "running"
    if config_path(run_dir).exists() or checkpoint_path(run_dir).exists():
        return "killed"
    return "pending"


@dataclass(frozen=True)
class Attempt:
    """What one attempt at a run did: "ok" | "diverged" | "failed" (trained now), "skipped"
    (finished before), "locked" (another process holds it)."""

    outcome: str
    error: str | None = None
    wall_s: float = 0.0


def attempt(run_dir: Path, sweep_dir: Path, rid: str, config: dict[str, Any], train: Callable[[], Any]) -> Attempt:
    """Train one run under its lock unless it is finished or held elsewhere (see the module doc).
    A failing run is data: its failure is written to record.json and returned. StoreFault (and
    other OSErrors of the store) propagate: nothing is recorded, a rerun resumes the run."""
    with run_lock(run_dir) as acquired:
        if not acquired:
            return Attempt("locked")
        clear_stale_temps(run_dir)
        try:
            record = _readable_record(run_dir)  # a corrupt one is named, kept aside, retrained
        except NewerSchema as exc:  # written by a newer scaling: neither finished nor ours to redo
            return Attempt("failed", str(exc))
        if record is not None and record.get("status") in FINISHED:
            if _curve_intact(run_dir):
                return Attempt("skipped")
            record = None
        if record is not None:  # a failed attempt: retrying, so its record no longer holds
            remove_record(run_dir)
        append_event(sweep_dir, "start", rid, resume=checkpoint_path(run_dir).exists())
        start = time.monotonic()
        error = None
        try:
            train()
            record = read_record_json(run_dir)
            status = record.get("status", "failed") if record else "failed"
            error = (record or {}).get("error") or (None if record else "train returned without a record")
        except Exception as exc:  # any run failure is data (recorded, retried); the sweep goes on
            if isinstance(exc, StoreFault):  # not the run's fault: nothing recorded, resumed later
                raise
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            logger.warning("run %s failed: %s", rid, error)
            if not record_path(run_dir).exists():  # train() records its own failures
                write_failed_record(run_dir, rid, config, error, traceback.format_exc())
        wall_s = time.monotonic() - start
        append_event(sweep_dir, "finish", rid, status=status, wall_s=wall_s)
        return Attempt(status, error, wall_s)


def record_crash(run_dir: Path, sweep_dir: Path, rid: str, config: dict[str, Any], error: str) -> None:
    """Record a run whose process died (killed, out of memory) as failed, if nobody holds it now."""
    with run_lock(run_dir) as acquired:
        if acquired and _readable_record(run_dir) is None:
            write_failed_record(run_dir, rid, config, error)
            append_event(sweep_dir, "finish", rid, status="failed", error=error)


def _readable_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's record; a corrupt one is moved aside (and None returned). Call under the lock."""
    try:
        return read_record_json(run_dir)
    except CorruptFile as exc:
        quarantine(record_path(run_dir), str(exc))
        return None


def _curve_intact(run_dir: Path) -> bool:
    """Whether a finished run's curve.parquet reads (or was never written); a corrupt one is
    moved aside with the run's record, so the run is trained again."""
    try:
        read_curve(run_dir)
    except FileNotFoundError:
        return True
    except CorruptFile as exc:
        quarantine(curve_path(run_dir), str(exc))
        quarantine(record_path(run_dir), "its curve.parquet was corrupt")
        return False
    except ValueError:  # another curve schema: the file reads, it is not corrupt
        pass
    return True
