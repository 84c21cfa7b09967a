"""curve.parquet: a run's learning curve, one row per logged step or evaluation. The one column
list (`CURVE_COLUMNS`), its one writer (`curve_bytes`, through `RunSink`) and its one reader.

References: llm.c file headers (a schema version in the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scaling.rundir.files import CURVE, CorruptFile, read_bytes, run_path

SCHEMA_VERSION = 1
"""Version of the curve columns and record keys; bump on any change and keep a reader."""

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


def curve_schema() -> Any:
    """The pyarrow schema of curve.parquet, with the schema version in its metadata."""
    # lazy: pyarrow loads only when a parquet file is read or written
    import pyarrow as pa

    return pa.schema([(name, pa.type_for_alias(kind)) for name, kind in CURVE_COLUMNS.items()],
                     metadata={"scaling.schema_version": str(SCHEMA_VERSION)})


def curve_bytes(rows: list[dict[str, Any]]) -> bytes:
    """curve.parquet's content for `rows` (dicts keyed by CURVE_COLUMNS; missing columns null)."""
    # lazy: pyarrow loads only when a parquet file is read or written
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=curve_schema())
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    return bytes(buffer.getvalue().to_pybytes())


def curve_path(run_dir: Path) -> Path:
    return run_path(run_dir, CURVE)


def read_curve(run_dir: Path, columns: tuple[str, ...] | None = None) -> Any:
    """A run's curve as a pyarrow Table (FileNotFoundError when it has none; CorruptFile when it
    is not parquet). Without `columns`, the file must match the schema (ValueError if it differs);
    with them (a subset of CURVE_COLUMNS), only those must be present (a curve written by other
    tools, with fewer columns, reads too) and only those come back."""
    # lazy: pyarrow loads only when a parquet file is read or written
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = curve_path(run_dir)
    data = read_bytes(path)
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (OSError, ValueError) as exc:  # pyarrow: ArrowInvalid (a ValueError) or an IOError
        raise CorruptFile(f"{path}: not a readable parquet file ({exc})") from None
    if columns is not None:
        assert set(columns) <= set(CURVE_COLUMNS), columns
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ValueError(f"{path} lacks columns {', '.join(missing)}")
        return table.select(list(columns))
    expected = curve_schema()
    if table.schema.remove_metadata() != expected.remove_metadata():
        raise ValueError(f"{path} does not match curve schema v{SCHEMA_VERSION}")
    return table
