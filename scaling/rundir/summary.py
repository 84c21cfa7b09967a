"""summary.parquet and the status table: derived from the run directories, never edited by hand.

`SUMMARY_COLUMNS` is the one column list: a summary row has these columns, the status table
(`scaling runs`) shows the `STATUS_COLUMNS` among them, and the CLI's runs table renders those.
Adding a column is one entry here (plus where the record holds its value).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaling.atomic import write_atomic
from scaling.config import family_role
from scaling.rundir.files import SUMMARY, SWEEP_META, read_bytes, run_dirs
from scaling.rundir.meta import planned_runs, read_sweep_meta
from scaling.rundir.protocol import run_status
from scaling.rundir.record import NewerSchema, read_record_lenient, run_config

logger = logging.getLogger(__name__)

SUMMARY_SCHEMA_VERSION = 2
"""Version of summary.parquet's columns; bump on any column change."""

SUMMARY_COLUMNS: dict[str, str] = {
    "run_id": "string", "schema_version": "int64", "sweep": "string", "seed": "int64",
    "git_sha": "string", "started_at": "string", "wall_s": "float64", "device": "string",
    "n_layer": "int64", "d_model": "int64", "n_head": "int64", "seq_len": "int64",
    "vocab_size": "int64", "params": "int64", "params_nonembedding": "int64", "tokens": "int64",
    "flops": "float64", "flops_method": "string", "budget_flops": "float64", "lr": "float64",
    "batch_tokens": "int64", "status": "string", "loss": "float64", "train_loss": "float64",
    "schedule": "string", "role": "string", "parent_run_id": "string", "branch_step": "int64",
}
"""summary.parquet columns and pandas dtypes: the run record's fields (scaling.rundir.record), plus `budget_flops` (the
IsoFLOP budget a run belongs to, null on N x D grids), `train_loss` (final training loss), `schedule`
(the LR schedule's text form) and a WSD sweep's families: `role` ("stable": a constant-LR run
kept for branching, not a fit point; "branch": a cooldown from `parent_run_id` after
`branch_step` steps; "run": any other), from the run's config."""

SHAPE_COLUMNS = ("n_layer", "d_model", "n_head", "seq_len", "vocab_size")
"""Summary columns read from the run's model config."""

RECORD_COLUMNS = ("started_at", "wall_s", "device", "params", "params_nonembedding", "tokens", "flops",
                  "flops_method", "lr", "batch_tokens", "train_loss")
"""Summary columns copied from the run's record when it has them."""

STATUS_COLUMNS = ("run_id", "status", "budget_flops", "n_layer", "d_model", "params", "tokens", "seed", "loss",
                  "wall_s", "device")
"""The summary columns of the status table (`scaling runs`), in its order."""

PLANNED_COLUMNS = ("budget_flops", "n_layer", "d_model", "params", "tokens", "seed")
"""Status columns a planned run not yet started shows, from its sweep.json entry."""

assert set(SHAPE_COLUMNS) | set(RECORD_COLUMNS) | set(STATUS_COLUMNS) <= set(SUMMARY_COLUMNS)
assert set(PLANNED_COLUMNS) <= set(STATUS_COLUMNS)


def summary_row(run_dir: Path, sweep: str, planned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One summary row (SUMMARY_COLUMNS) from a run directory's config.json and record.json."""
    run_dir = Path(run_dir)
    record = read_record_lenient(run_dir) or {}
    config = run_config(run_dir)
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    status = record["status"] if record else run_status(run_dir)
    row: dict[str, Any] = {
        "run_id": run_dir.name, "schema_version": SUMMARY_SCHEMA_VERSION, "sweep": sweep,
        "seed": config.get("seed"), "status": status, "flops_method": config.get("flops_method"),
        "budget_flops": (planned or {}).get("budget_flops"), "git_sha": _git_sha(record),
    }
    for key in SHAPE_COLUMNS:
        row[key] = model.get(key)
    row.update(_family(config))
    for key in RECORD_COLUMNS:
        if record.get(key) is not None:
            row[key] = record[key]
    loss = record.get("loss")
    row["loss"] = loss if status == "ok" and loss is not None else None  # null, never NaN
    return _typed(row, run_dir)


def _family(config: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's schedule and WSD family columns of a run's config."""
    return {"schedule": config.get("schedule", "cosine") if config else None, **family_role(config)}


def _typed(row: dict[str, Any], where: Path) -> dict[str, Any]:
    """`row` with every value of the wrong JSON type for its column (a damaged config.json or
    sweep.json entry) named in a warning and left empty."""
    for key, value in row.items():
        dtype = SUMMARY_COLUMNS[key]
        if value is None or (isinstance(value, str) if dtype == "string" else _number(value, dtype)):
            continue
        logger.warning("%s: %s = %r is not a%s; left empty", where, key, value,
                       {"string": " string", "int64": "n integer", "float64": " number"}[dtype])
        row[key] = None
    return row


def _number(value: Any, dtype: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or (dtype == "float64" and math.isfinite(value))


def _git_sha(record: Mapping[str, Any]) -> str | None:
    versions = record.get("versions") or {}
    sha = record.get("git_sha") or versions.get("git_sha") or versions.get("git")
    return str(sha) if sha else None


def build_summary(sweep_dir: Path) -> Any:
    """The sweep summary as a pandas DataFrame (one row per run dir, SUMMARY_COLUMNS)."""
    # lazy: pandas loads only when a table is built
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


def summary_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / SUMMARY


def write_summary(sweep_dir: Path) -> Path:
    """Derive summary.parquet from the run dirs and write it atomically; returns its path."""
    # lazy: pyarrow loads only when a parquet file is read or written
    import pyarrow as pa
    import pyarrow.parquet as pq

    sweep_dir = Path(sweep_dir)
    frame = build_summary(sweep_dir)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"scaling.summary_schema": str(SUMMARY_SCHEMA_VERSION).encode()})
    path = summary_path(sweep_dir)
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
    path = Path(path)
    if path.is_dir():
        summary = summary_path(path)
        if run_dirs(path):
            frame = build_summary(path)
            if _disagrees(frame, summary):
                try:
                    write_summary(path)
                except OSError as exc:  # a read-only store: the records are read all the same
                    logger.info("summary of %s not rewritten (%s); read from the run records", path, exc)
            return _check_summary_version(frame, summary)
        path = summary
    return _check_summary_version(_read_parquet(path), path)


def _read_parquet(path: Path, columns: list[str] | None = None) -> Any:
    # lazy: pandas loads only when a table is built
    import pandas as pd

    return pd.read_parquet(io.BytesIO(read_bytes(path)), columns=columns)


def _check_summary_version(frame: Any, path: Path) -> Any:
    if "schema_version" not in frame.columns or not len(frame):
        return frame
    version = int(frame["schema_version"].max())
    if version > SUMMARY_SCHEMA_VERSION:
        raise NewerSchema(f"{path} has summary schema {version}; this scaling reads up to {SUMMARY_SCHEMA_VERSION}")
    return frame


def _disagrees(frame: Any, summary: Path) -> bool:
    """Whether summary.parquet is missing, unreadable, or lists other runs, statuses or losses."""
    # lazy: pandas loads only when a table is built
    import pandas as pd

    try:
        written = _read_parquet(summary, columns=["run_id", "status", "loss"])
    except (OSError, ValueError, KeyError):
        return True

    def rows(table: Any) -> set[tuple[str, str, float | None]]:
        return {(str(r), str(s), None if pd.isna(v) else round(float(v), 12))
                for r, s, v in zip(table["run_id"], table["status"], table["loss"])}
    return rows(written) != rows(frame)


def status_table(sweep_dir: Path) -> Any:
    """Every planned or started run with its STATUS_COLUMNS (a DataFrame); planned runs not yet
    started show as "pending"."""
    # lazy: pandas loads only when a table is built
    import pandas as pd

    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"no sweep directory {sweep_dir}")
    frame = build_summary(sweep_dir)
    started = set(frame["run_id"])
    missing = [_typed({"run_id": run["run_id"], "status": "pending", **{c: run.get(c) for c in PLANNED_COLUMNS}},
                      sweep_dir / SWEEP_META)
               for run in planned_runs(sweep_dir) if run["run_id"] not in started]
    if missing:
        frame = pd.concat([frame, pd.DataFrame(missing).astype({"run_id": "string", "status": "string"})],
                          ignore_index=True)
    return frame[list(STATUS_COLUMNS)].sort_values(["budget_flops", "params", "seed"],
                                                   na_position="last").reset_index(drop=True)
