"""record.json and config.json: a run's outcome and its resolved config.

record.json is written last (atomically): a record with status "ok" or "diverged" means the run
finished; "failed" runs are retried. One corruption policy for every reader: a record that is not
JSON or not a run record raises CorruptFile naming it; `read_record_lenient` reads it as status
"corrupt" (what `scaling runs` shows), and only the run's lock holder moves it aside
(`files.quarantine`) and retrains.

References: minGPT's config.json; llm.c file headers (a schema version).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from scaling.atomic import write_atomic, write_json
from scaling.config import TrainConfig
from scaling.document import Document
from scaling.rundir.curve import SCHEMA_VERSION, curve_bytes, curve_path, read_curve
from scaling.rundir.files import CONFIG, RECORD, CorruptFile, read_bytes, run_path

logger = logging.getLogger(__name__)

STATUSES = ("ok", "diverged", "failed")

FINISHED = ("ok", "diverged")
"""Record statuses that end a run for good; "failed" is retried on the next attempt."""

TRACEBACK_CHARS = 4000
"""A failed record keeps the last this many characters of the traceback."""



class NewerSchema(ValueError):
    """A record written by a newer scaling (a higher schema_version): refused, never taken as finished."""


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
    problem = _ill_shaped(record)
    if problem is not None:
        raise CorruptFile(f"{path}: not a run record ({problem})")
    return record


def _ill_shaped(record: dict[str, Any]) -> str | None:
    """What makes `record` unreadable as a RunRecord (a field without a default missing, a field
    of the wrong JSON type, a non-finite number), or None."""
    for name in ("run_id", "loss", "config"):  # RunRecord's fields without a default
        if name not in record:
            return f"no `{name}`"
    for f in fields(RunRecord):
        value = record.get(f.name)
        if value is None:
            continue
        kind = str(f.type).split(" | ")[0].split("[")[0]
        if kind == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, {"str": str, "dict": dict}[kind])
        if not ok:
            return f"`{f.name}` is {value!r:.60}, not a {'finite number' if kind == 'float' else kind}"
    return None


def measured() -> Any:
    """A RunRecord field every record `train` writes fills: only a "failed" record may leave it
    None (collected in MEASURED)."""
    return field(default=None, metadata={"measured": True})


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
    params: int | None = measured()
    params_nonembedding: int | None = measured()
    tokens: int | None = measured()
    """Tokens trained on (steps done x batch tokens)."""
    flops: float | None = measured()
    """Training FLOPs of the tokens trained, under `flops_method`."""
    flops_method: str | None = measured()
    flops_6nd: float | None = measured()
    flops_appf: float | None = measured()
    lr: float | None = measured()
    batch_size: int | None = measured()
    batch_tokens: int | None = measured()
    steps: int | None = measured()
    """Optimizer steps done."""
    warmup_steps: int | None = measured()
    epochs: float | None = measured()
    """Passes over the training split (above 1 means repeated data)."""
    seed: int | None = measured()
    data: str | None = measured()
    data_digest: str | None = measured()
    """sha256 of the corpus tokens (for stdlib, of the interpreter's source files)."""
    device: str | None = measured()
    started_at: str | None = measured()
    finished_at: str | None = measured()
    wall_s: float | None = measured()
    versions: dict[str, str] | None = measured()
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


MEASURED = tuple(f.name for f in fields(RunRecord) if f.metadata.get("measured"))
"""RunRecord fields every record `train` writes has; only a "failed" record may leave them None."""


def record_path(run_dir: Path) -> Path:
    return run_path(run_dir, RECORD)


def read_record_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's record.json as a dict (any status), or None when the run has not ended.
    CorruptFile when it is not a run record, NewerSchema when a newer scaling wrote it."""
    path = record_path(run_dir)
    try:
        text = read_bytes(path)
    except FileNotFoundError:
        return None
    return parse_record_json(path, text)


def read_record(run_dir: Path) -> RunRecord | None:
    """The run's record.json as a RunRecord (any status, failed ones too), or None when the run
    has not ended (or never started)."""
    record = read_record_json(run_dir)
    return None if record is None else RunRecord.from_dict(record)


def read_record_lenient(run_dir: Path) -> dict[str, Any] | None:
    """read_record_json, with a corrupt record read as {"status": "corrupt"} (readers report it;
    only a sweep, under the run's lock, moves it aside and retrains)."""
    try:
        return read_record_json(run_dir)
    except CorruptFile as exc:
        logger.warning("%s", exc)
        return {"status": "corrupt", "error": str(exc)}


def is_finished(run_dir: Path) -> bool:
    record = read_record_lenient(run_dir)
    return record is not None and record.get("status") in FINISHED


def remove_record(run_dir: Path) -> None:
    """Delete a run's record (a failed attempt being retried no longer holds)."""
    record_path(run_dir).unlink(missing_ok=True)


def config_path(run_dir: Path) -> Path:
    return run_path(run_dir, CONFIG)


def read_config_json(run_dir: Path) -> dict[str, Any] | None:
    """The run's config.json ({"run_id", "schema_version", "config"}), or None when it has none;
    CorruptFile when it is not a JSON object."""
    path = config_path(run_dir)
    try:
        text = read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        claimed = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(claimed, dict):
        raise CorruptFile(f"{path}: not a run's config (a JSON {type(claimed).__name__})")
    if not isinstance(claimed.get("run_id"), str) or not isinstance(claimed.get("config", {}), dict):
        raise CorruptFile(f"{path}: not a run's config (needs a string `run_id` and an object `config`)")
    return claimed


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's TrainConfig as a dict, from its record or else its config.json; {} when neither
    holds one (an unreadable file is named in a warning, as `read_record_lenient` does)."""
    record = read_record_lenient(run_dir) or {}
    config = record.get("config")
    if config is None:
        try:
            config = (read_config_json(run_dir) or {}).get("config", {})
        except CorruptFile as exc:
            logger.warning("%s", exc)
            config = {}
    return dict(config)


class RunSink:
    """Writer of one run's files: config.json, curve.parquet (rows kept in memory and rewritten
    whole, atomically, at each flush) and record.json."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.rows: list[dict[str, Any]] = []

    @property
    def curve_path(self) -> Path:
        return curve_path(self.run_dir)

    def append(self, **row: Any) -> None:
        """Add one curve row (missing columns are null)."""
        self.rows.append({"run_id": self.run_id, **row})

    def load(self, up_to_step: int) -> None:
        """Keep the rows already on disk up to `up_to_step` (the checkpoint a resume starts from)."""
        try:
            table = read_curve(self.run_dir)
        except FileNotFoundError:
            return
        self.rows = [r for r in table.to_pylist() if r["step"] <= up_to_step]

    def adopt(self, parent_dir: Path, up_to_step: int) -> None:
        """Start with a parent run's rows up to `up_to_step`, as this run's (a cooldown branch:
        its curve is whole from step 0); CorruptFile when the parent's curve does not read."""
        table = read_curve(parent_dir)
        self.rows = [{**r, "run_id": self.run_id} for r in table.to_pylist() if r["step"] <= up_to_step]

    def flush(self) -> None:
        write_atomic(self.curve_path, curve_bytes(self.rows))

    def write_config(self, cfg: TrainConfig) -> None:
        write_json(config_path(self.run_dir), {"run_id": self.run_id, "schema_version": SCHEMA_VERSION,
                                               "config": cfg.to_dict()})

    def write_record(self, record: RunRecord) -> None:
        write_json(record_path(self.run_dir), record.to_dict())


def write_failed_record(run_dir: Path, run_id: str, config: dict[str, Any], error: str, trace: str = "") -> None:
    """record.json of a run that raised or whose process died: a RunRecord with status "failed",
    no loss or measurements, the error and the end of its traceback, written as `train` writes
    its own (RunSink.write_record)."""
    record = RunRecord(run_id=run_id, status="failed", loss=None, config=config, error=error,
                       traceback=trace[-TRACEBACK_CHARS:])
    RunSink(run_dir, run_id).write_record(record)
