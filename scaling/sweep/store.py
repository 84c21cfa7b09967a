"""The run store: `runs/<sweep>/<run_id>/` directories, their locks, and the sweep summary.

Layout (docs/ARCHITECTURE.md):
    runs/<sweep>/sweep.json        what was asked: the spec, the planned runs, command, git sha, machine
    runs/<sweep>/events.jsonl      append-only log: one line per run start / finish (provenance)
    runs/<sweep>/summary.parquet   one row per run dir, derived from them (never edited by hand)
    runs/<sweep>/<run_id>/         config.json, curve.parquet, checkpoint.pt, record.json, lock
A run is finished when its record.json (written last, atomically, by `scaling.training.train.train`)
says "ok" or "diverged"; "failed" runs are retried. Two processes never train one run: the
trainer holds `fcntl.flock` on `<run_id>/lock`, which the kernel releases when a process dies,
so `kill -9` never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from scaling.atomic import make_dirs, write_atomic, write_json
from scaling.provenance import git_commit
from scaling.records import CorruptFile, NewerSchema, read_record_json

logger = logging.getLogger(__name__)

SUMMARY_SCHEMA_VERSION = 1
"""Version of summary.parquet's columns (scaling.records); bump on any column change."""

FINISHED = ("ok", "diverged")
"""Record statuses that end a run for good; "failed" is retried on the next attempt."""

SUMMARY_COLUMNS: dict[str, str] = {
    "run_id": "string", "schema_version": "int64", "sweep": "string", "seed": "int64",
    "git_sha": "string", "started_at": "string", "wall_s": "float64", "device": "string",
    "n_layer": "int64", "d_model": "int64", "n_head": "int64", "seq_len": "int64",
    "vocab_size": "int64", "params": "int64", "params_nonembedding": "int64", "tokens": "int64",
    "flops": "float64", "flops_method": "string", "budget_flops": "float64", "lr": "float64",
    "batch_tokens": "int64", "status": "string", "loss": "float64", "train_loss": "float64",
}
"""summary.parquet columns and pandas dtypes: the run record's fields (scaling.records), plus `budget_flops` (the
IsoFLOP budget a run belongs to, null on N x D grids) and `train_loss` (final training loss)."""


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[bool]:
    """Try to take the run's exclusive lock without waiting; yields whether it was taken.

    The lock file holds the owner's host and pid for `scaling runs`; the lock itself is the
    flock, released by the kernel when the holder exits or is killed.
    """
    run_dir = Path(run_dir)
    make_dirs(run_dir)
    fd = os.open(run_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked(run_dir: Path) -> bool:
    """Whether some process holds the run's lock now (it is being trained)."""
    lock_path = Path(run_dir) / "lock"
    if not lock_path.exists():
        return False
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
    return False


def read_record_lenient(run_dir: Path) -> dict[str, Any] | None:
    """read_record_json, with a corrupt record read as {"status": "corrupt"} (readers report it;
    only a sweep, under the run's lock, moves it aside and retrains)."""
    try:
        return read_record_json(run_dir)
    except CorruptFile as exc:
        logger.warning("%s", exc)
        return {"status": "corrupt", "error": str(exc)}


def run_status(run_dir: Path) -> str:
    """"ok" | "diverged" | "failed" (a record says so), "corrupt" (an unreadable record),
    "running" (locked), "killed" (started, not running, no record) or "pending" (never started)."""
    run_dir = Path(run_dir)
    record = read_record_lenient(run_dir)
    if record is not None:
        return str(record.get("status", "failed"))
    if is_locked(run_dir):
        return "running"
    if (run_dir / "config.json").exists() or (run_dir / "checkpoint.pt").exists():
        return "killed"
    return "pending"


def is_finished(run_dir: Path) -> bool:
    record = read_record_lenient(run_dir)
    return record is not None and record.get("status") in FINISHED


def append_event(sweep_dir: Path, event: str, run_id: str, **fields: Any) -> None:
    """Append one JSON line to events.jsonl (O_APPEND, one write: lines never interleave)."""
    line = json.dumps({"time": time.time(), "event": event, "run_id": run_id,
                       "host": socket.gethostname(), "pid": os.getpid(), **fields}, default=str)
    fd = os.open(Path(sweep_dir) / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_events(sweep_dir: Path) -> list[dict[str, Any]]:
    path = Path(sweep_dir) / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by a crash mid-write
            events.append(json.loads(line))
    return events


def read_sweep_meta(sweep_dir: Path) -> dict[str, Any]:
    path = Path(sweep_dir) / "sweep.json"
    if not path.exists():
        raise FileNotFoundError(f"no sweep.json in {sweep_dir}: not a sweep directory")
    return dict(json.loads(path.read_text()))


def run_dirs(sweep_dir: Path) -> list[Path]:
    """Run directories under a sweep directory (those holding a config.json or a record)."""
    return sorted(p for p in Path(sweep_dir).iterdir()
                  if p.is_dir() and ((p / "config.json").exists() or (p / "record.json").exists()))


def summary_row(run_dir: Path, sweep: str, planned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One summary row (SUMMARY_COLUMNS) from a run directory's config.json and record.json."""
    run_dir = Path(run_dir)
    record = read_record_lenient(run_dir) or {}
    config = record.get("config")
    if config is None:
        config_path = run_dir / "config.json"
        config = json.loads(config_path.read_text()).get("config", {}) if config_path.exists() else {}
    model = dict(config.get("model", {}))
    status = record["status"] if record else run_status(run_dir)
    row: dict[str, Any] = {
        "run_id": run_dir.name, "schema_version": SUMMARY_SCHEMA_VERSION, "sweep": sweep,
        "seed": config.get("seed"), "status": status, "flops_method": config.get("flops_method"),
        "budget_flops": (planned or {}).get("budget_flops"), "git_sha": _git_sha(record),
    }
    for key in ("n_layer", "d_model", "n_head", "seq_len", "vocab_size"):
        row[key] = model.get(key)
    for key in ("started_at", "wall_s", "device", "params", "params_nonembedding", "tokens", "flops",
                "flops_method", "lr", "batch_tokens", "train_loss"):
        if record.get(key) is not None:
            row[key] = record[key]
    loss = record.get("loss")
    row["loss"] = loss if status == "ok" and loss is not None else None  # null, never NaN
    return row


def _git_sha(record: Mapping[str, Any]) -> str | None:
    versions = record.get("versions") or {}
    sha = record.get("git_sha") or versions.get("git_sha") or versions.get("git")
    return str(sha) if sha else None


def build_summary(sweep_dir: Path) -> Any:
    """The sweep summary as a pandas DataFrame (one row per run dir, SUMMARY_COLUMNS)."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    try:
        meta = read_sweep_meta(sweep_dir)
    except FileNotFoundError:
        meta = {}
    name = meta.get("name", sweep_dir.name)
    planned = {run["run_id"]: run for run in meta.get("runs", [])}
    rows = [summary_row(d, name, planned.get(d.name)) for d in run_dirs(sweep_dir)]
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return frame.astype({col: _nullable(dtype) for col, dtype in SUMMARY_COLUMNS.items()})


def _nullable(dtype: str) -> str:
    return {"int64": "Int64", "float64": "Float64", "string": "string"}[dtype]


def write_summary(sweep_dir: Path) -> Path:
    """Derive summary.parquet from the run dirs and write it atomically; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sweep_dir = Path(sweep_dir)
    frame = build_summary(sweep_dir)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"scaling.summary_schema": str(SUMMARY_SCHEMA_VERSION).encode()})
    path = sweep_dir / "summary.parquet"
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    write_atomic(path, buffer.getvalue().to_pybytes())
    return path


def read_summary(path: Path) -> Any:
    """Read a sweep summary (a sweep directory or its summary.parquet) as a DataFrame.

    A sweep directory is summarised from its run records, so the table is never stale (a
    sweep killed before it wrote summary.parquet, a run finished since); summary.parquet is
    rewritten when it disagrees, where the store can be written. A directory without run
    directories (a summary shipped alone) is read from its summary.parquet.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        summary = path / "summary.parquet"
        if run_dirs(path):
            frame = build_summary(path)
            if _disagrees(frame, summary):
                try:
                    write_summary(path)
                except OSError as exc:  # a read-only store: the records are read all the same
                    logger.info("summary of %s not rewritten (%s); read from the run records", path, exc)
            return _check_summary_version(frame, summary)
        path = summary
    return _check_summary_version(pd.read_parquet(path), path)


def _check_summary_version(frame: Any, path: Path) -> Any:
    if "schema_version" not in frame.columns or not len(frame):
        return frame
    version = int(frame["schema_version"].max())
    if version > SUMMARY_SCHEMA_VERSION:
        raise NewerSchema(f"{path} has summary schema {version}; this scaling reads up to {SUMMARY_SCHEMA_VERSION}")
    return frame


def _disagrees(frame: Any, summary: Path) -> bool:
    """Whether summary.parquet is missing, unreadable, or lists other runs, statuses or losses."""
    import pandas as pd

    try:
        written = pd.read_parquet(summary, columns=["run_id", "status", "loss"])
    except (OSError, ValueError, KeyError):
        return True
    def rows(table: Any) -> set[tuple[str, str, float | None]]:
        return {(str(r), str(s), None if pd.isna(v) else round(float(v), 12))
                for r, s, v in zip(table["run_id"], table["status"], table["loss"])}
    return rows(written) != rows(frame)


def provenance(command: str | None = None) -> dict[str, Any]:
    """Who ran what where: command line, code version (git sha, dirty flag), machine."""
    import platform
    from importlib import metadata

    sha, dirty = git_commit()
    versions = {}
    for package in ("scaling", "torch", "numpy", "ray"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {"command": command, "git_sha": sha, "git_dirty": dirty, "versions": versions,
            "machine": {"hostname": socket.gethostname(), "platform": platform.platform(),
                        "processor": platform.processor() or platform.machine(),
                        "cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "gpus": _gpu_names()},
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _gpu_names() -> list[str]:
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def update_sweep_meta(sweep_dir: Path, *, name: str, spec: Mapping[str, Any], runs: list[dict[str, Any]],
                      invocation: Mapping[str, Any]) -> dict[str, Any]:
    """Merge this invocation into sweep.json (spec, planned runs, provenance history), atomically.

    The latest invocation's command, git sha and machine sit at the top level; earlier ones stay
    in `history`. Runs an earlier invocation planned stay while they have a run directory, so
    runs of an edited spec keep their budget labels; those never started that this invocation no
    longer plans drop out (else `scaling runs` would list them as pending forever).
    A sweep-level flock serialises concurrent sweeps' read-modify-write.
    """
    sweep_dir = Path(sweep_dir)
    make_dirs(sweep_dir)
    fd = os.open(sweep_dir / ".sweep.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            meta = read_sweep_meta(sweep_dir)
        except FileNotFoundError:
            meta = {"history": [], "runs": []}
        planned = {run["run_id"] for run in runs}
        kept = [run for run in meta["runs"] if run["run_id"] in planned or (sweep_dir / run["run_id"]).exists()]
        known = {run["run_id"] for run in kept}
        meta.update({"name": name, "spec": dict(spec), **dict(invocation)})
        meta["runs"] = kept + [run for run in runs if run["run_id"] not in known]
        meta["history"] = meta["history"] + [dict(invocation)]
        write_json(sweep_dir / "sweep.json", meta)
        return meta
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def status_table(sweep_dir: Path) -> Any:
    """Every planned or started run with its status, counts, loss and wall time (a DataFrame);
    planned runs not yet started show as "pending"."""
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"no sweep directory {sweep_dir}")
    frame = build_summary(sweep_dir)
    try:
        planned = read_sweep_meta(sweep_dir).get("runs", [])
    except FileNotFoundError:
        planned = []
    started = set(frame["run_id"])
    missing = [{"run_id": run["run_id"], "status": "pending", "budget_flops": run.get("budget_flops"),
                "n_layer": run.get("n_layer"), "d_model": run.get("d_model"), "params": run.get("params"),
                "tokens": run.get("tokens"), "seed": run.get("seed")} for run in planned
               if run["run_id"] not in started]
    if missing:
        frame = pd.concat([frame, pd.DataFrame(missing).astype({"run_id": "string", "status": "string"})],
                          ignore_index=True)
    columns = ["run_id", "status", "budget_flops", "n_layer", "d_model", "params", "tokens", "seed",
               "loss", "wall_s", "device"]
    return frame[columns].sort_values(["budget_flops", "params", "seed"], na_position="last").reset_index(drop=True)
