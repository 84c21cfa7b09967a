"""Run records: the curve parquet schema, the run record JSON, `run_id`, atomic writes.

A run directory holds `config.json` (the resolved TrainConfig), `curve.parquet` (one row per
logged step or evaluation), `checkpoint.pt` while training, and `record.json`, written last:
a record with status "ok" means the run finished. Every file is written to a temporary name,
fsynced and renamed into place, so a killed process never leaves a half-written file.

References: llm.c file headers (a schema version); docs/ARCHITECTURE.md (where each file is written).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from scaling.atomic import write_atomic, write_json
from scaling.config import OPERATIONAL_FIELDS, TrainConfig
from scaling.document import Document

SCHEMA_VERSION = 1
"""Version of the curve columns and record keys; bump on any change and keep a reader."""

STATUSES = ("ok", "diverged", "failed")

TRACEBACK_CHARS = 4000
"""A failed record keeps the last this many characters of the traceback."""

MEASURED = ("params", "params_nonembedding", "tokens", "flops", "flops_method", "flops_6nd", "flops_appf", "lr",
            "batch_size", "batch_tokens", "steps", "warmup_steps", "epochs", "seed", "data", "data_digest", "device",
            "started_at", "finished_at", "wall_s", "versions")
"""RunRecord fields every record `train` writes has; only a "failed" record may leave them None."""

CURVE_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "step": "int64",           # optimizer steps done when the row was logged
    "tokens_seen": "int64",
    "flops_seen": "float64",   # under the run's flops_method
    "flops_seen_6nd": "float64",
    "flops_seen_appf": "float64",  # exact count, Hoffmann et al. 2022 App. F (embeddings counted)
    "split": "string",         # "train" (mean over the log interval) or "val"
    "loss": "float64",         # nats/token, always finite
    "lr": "float64",
    "grad_norm": "float64",    # before clipping; null for val rows
    "tokens_per_s": "float64",  # over the log interval; null for val rows
    "mfu": "float64",          # model FLOPs utilisation (App. F count / peak); null off GPU
    "wall_s": "float64",       # training wall time so far, resumed time included
}
"""The curve.parquet schema (column -> arrow type), in file order."""


class CorruptFile(ValueError):
    """A run file that cannot be read (truncated, not JSON/parquet/a checkpoint); names it."""


class NewerSchema(ValueError):
    """A record written by a newer scaling (a higher schema_version): refused, never taken as finished."""


def quarantine(path: Path, reason: str) -> Path:
    """Move a corrupt run file aside (kept for inspection as `<name>.corrupt-<UTC time>`) and
    log where; the run is then retrained as if the file had never been written."""
    import logging
    import time

    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}")
    os.replace(path, target)
    logging.getLogger(__name__).warning("%s is corrupt (%s); moved to %s and the run will be retrained",
                                        path, reason, target.name)
    return target


def parse_record_json(path: Path, text: str | bytes) -> dict[str, Any]:
    """A record.json's content as a dict: CorruptFile if it is not a run record, NewerSchema if
    a newer scaling wrote it. Records without a schema_version (the "failed" record of a crashed
    run, as earlier versions wrote it) read as the current version."""
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"{path}: not valid JSON ({exc}); truncated?") from None
    if not isinstance(record, dict) or record.get("status") not in STATUSES:
        status = record.get("status") if isinstance(record, dict) else None
        raise CorruptFile(f"{path}: not a run record (status {status!r})")
    version = record.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CorruptFile(f"{path}: schema_version {version!r} is not an integer")
    if version > SCHEMA_VERSION:
        raise NewerSchema(f"{path}: run record schema_version {version}; this scaling reads up to "
                          f"{SCHEMA_VERSION}: upgrade scaling to use this store")
    return record


def run_id(cfg: TrainConfig) -> str:
    """Stable 12-hex-digit id: sha256 of the canonical resolved config (seed included).

    Resolution fills None hyperparameters by the rules in scaling.training.hyperparams, so a rule change
    gives new ids; operational fields (threads, checkpoint intervals) are left out.
    """
    from scaling.training.hyperparams import resolve

    d = resolve(cfg).to_dict()
    for name in OPERATIONAL_FIELDS:
        d.pop(name)
    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


@dataclass(frozen=True, kw_only=True)
class RunRecord(Document):
    """The outcome of one run, as record.json holds it. Losses in nats/token.

    A run that ended ("ok", "diverged", or "failed" inside `train`) has every measurement; the
    "failed" record of a run whose process raised outside `train` or died (`write_failed_record`)
    has only its id, config, error and traceback, the rest None.

    record.json is `to_dict()` (versioned by its `schema_version` key); `to_json()` is the same
    body under the schema tag, what `scaling train --format json` prints.
    """

    SCHEMA: ClassVar[str] = f"scaling.RunRecord/{SCHEMA_VERSION}"

    run_id: str
    status: str
    """"ok" (finished), "diverged" (non-finite loss; stopped before the optimizer step) or "failed"."""
    loss: float | None
    """Final validation loss when status is "ok" (what fits read); None otherwise, never NaN."""
    train_loss: float | None = None
    """Mean train loss over the last log interval."""
    val_loss: float | None = None
    """Last validation loss measured (also for diverged runs, when one was)."""
    params: int | None = None
    params_nonembedding: int | None = None
    tokens: int | None = None
    """Tokens trained on (steps done x batch tokens)."""
    flops: float | None = None
    """Training FLOPs of the tokens trained, under `flops_method`."""
    flops_method: str | None = None
    flops_6nd: float | None = None
    flops_appf: float | None = None
    lr: float | None = None
    batch_size: int | None = None
    batch_tokens: int | None = None
    steps: int | None = None
    """Optimizer steps done."""
    warmup_steps: int | None = None
    epochs: float | None = None
    """Passes over the training split (above 1 means repeated data)."""
    seed: int | None = None
    data: str | None = None
    data_digest: str | None = None
    """sha256 of the corpus tokens (for stdlib, of the interpreter's source files)."""
    device: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_s: float | None = None
    versions: dict[str, str] | None = None
    config: dict[str, Any]
    """The resolved TrainConfig (`TrainConfig.from_dict` rebuilds it); {} when the executor had none."""
    error: str | None = None
    """Why the run failed ("RuntimeError: ..."); None unless status is "failed"."""
    traceback: str | None = None
    """The end (TRACEBACK_CHARS characters at most) of the traceback of an exception the sweep
    executor caught; "" when the run's process died; None in the records `train` writes."""
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """Data facts (entropy rate of a synthetic source, corpus sizes)."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if self.status != "failed":
            missing = [name for name in MEASURED if getattr(self, name) is None]
            if missing:
                raise ValueError(f"a {self.status!r} run record needs {', '.join(missing)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        """Read `to_dict` output; a record without schema_version (an earlier failed record)
        reads as the current version, fields it lacks as None."""
        known = {f.name for f in fields(cls)}
        if d.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise ValueError(f"unsupported run record schema {d.get('schema_version')!r}")
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config)


def read_record(run_dir: Path) -> RunRecord | None:
    """The run's record.json as a RunRecord (any status, failed ones too), or None when the run
    has not ended (or never started)."""
    record = read_record_json(run_dir)
    return None if record is None else RunRecord.from_dict(record)


def read_record_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's record.json as a dict (any status), or None when the run has not ended. The one
    reader of record.json; `read_record` types it."""
    path = Path(run_dir) / "record.json"
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_record_json(path, text)


def write_failed_record(run_dir: Path, run_id: str, config: dict[str, Any], error: str, trace: str = "") -> None:
    """record.json of a run that raised or whose process died: a RunRecord with status "failed",
    no loss or measurements, the error and the end of its traceback, written as `train` writes
    its own (RunSink.write_record)."""
    record = RunRecord(run_id=run_id, status="failed", loss=None, config=config, error=error,
                       traceback=trace[-TRACEBACK_CHARS:])
    RunSink(run_dir, run_id).write_record(record)


class RunSink:
    """Writer of one run's files: config.json, curve.parquet (rows kept in memory and rewritten
    whole, atomically, at each flush) and record.json."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.rows: list[dict[str, Any]] = []

    @property
    def curve_path(self) -> Path:
        return self.run_dir / "curve.parquet"

    def append(self, **row: Any) -> None:
        """Add one curve row (missing columns are null)."""
        self.rows.append({"run_id": self.run_id, **row})

    def load(self, up_to_step: int) -> None:
        """Keep the rows already on disk up to `up_to_step` (the checkpoint a resume starts from)."""
        if self.curve_path.exists():
            table = read_curve(self.run_dir)
            self.rows = [r for r in table.to_pylist() if r["step"] <= up_to_step]

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(self.rows, schema=curve_schema())
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        write_atomic(self.curve_path, buffer.getvalue().to_pybytes())

    def write_config(self, cfg: TrainConfig) -> None:
        write_json(self.run_dir / "config.json", {"run_id": self.run_id, "schema_version": SCHEMA_VERSION,
                                                  "config": cfg.to_dict()})

    def write_record(self, record: RunRecord) -> None:
        write_json(self.run_dir / "record.json", record.to_dict())


def curve_schema() -> Any:
    """The pyarrow schema of curve.parquet, with the schema version in its metadata."""
    import pyarrow as pa

    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in CURVE_COLUMNS.items()],
                     metadata={"scaling.schema_version": str(SCHEMA_VERSION)})


def read_curve(run_dir: Path) -> Any:
    """A run's curve as a pyarrow Table, checked against the schema (ValueError if it differs)."""
    import pyarrow.parquet as pq

    path = Path(run_dir) / "curve.parquet"
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow: ArrowInvalid (a ValueError) or an IOError
        if isinstance(exc, PermissionError):
            raise
        raise CorruptFile(f"{path}: not a readable parquet file ({exc})") from None
    expected = curve_schema()
    if table.schema.remove_metadata() != expected.remove_metadata():
        raise ValueError(f"{run_dir}/curve.parquet does not match curve schema v{SCHEMA_VERSION}")
    return table
