"""Read and validate a runs table: one row per training run, what every fitter reads.

Sources: a pandas DataFrame, a CSV or parquet file, a built-in data set name (see
`scaling.datasets`), or a sweep directory `runs/<sweep>/` (summary.parquet plus per-run
`<run_id>/curve.parquet`, scaling.rundir). Columns: `params`, `tokens`, `loss`
(nats/token), optional `flops`, `run_id`, `params_nonembedding`.

References:
    Kaplan et al. 2020, Sec. 2.1 (training FLOPs C ~ 6 N D, used when `tokens` is absent).
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from scaling.datasets import DATASETS, load_dataset
from scaling.rundir.curve import curve_path, read_curve
from scaling.rundir.files import run_dirs
from scaling.rundir.summary import read_summary, summary_path

logger = logging.getLogger(__name__)

RunsSource = Union[pd.DataFrame, str, Path]
REQUIRED = ("params", "tokens", "loss")
OPTIONAL_NUMERIC = ("flops", "params_nonembedding")
FIT_CURVE_COLUMNS = ("run_id", "step", "tokens_seen", "flops_seen", "split", "loss")
"""The curve.parquet columns (scaling.rundir.curve.CURVE_COLUMNS) a fit reads."""
REPLICATE_COLUMNS = ("sweep", "n_layer", "d_model", "n_head", "seq_len", "vocab_size", "params", "tokens", "lr",
                     "batch_tokens")
"""Summary columns that make a run's configuration: runs equal in all of them are seeds of one."""
MAX_TABLE_BYTES = 256 * 2**20
"""Largest runs file read, bytes: a run is one row of a few hundred bytes, so this holds about a
million runs; a larger file is refused before pandas holds it (several times its size) in memory."""
MAX_TABLE_FIELDS = 1000
"""Most fields a row of a runs file may have: a runs table has tens of columns, and a row of 100k
fields took pandas 25 s and 675 MB from a 200 KB file."""


def read_runs(source: RunsSource, *, columns: Mapping[str, str] | None = None,
              drop_invalid: bool = False, where: Sequence[str] = ()) -> pd.DataFrame:
    """A validated runs table with at least `params`, `tokens`, `flops`, `loss` (floats > 0).

    Parameters
    ----------
    source
        DataFrame, path to .csv/.parquet, built-in data set name, or sweep directory.
    columns
        Runs-table name -> source column, e.g. {"params": "Model Size"}.
    drop_invalid
        Drop rows with NaN, missing or non-positive values (logged) instead of raising.
    where
        Row filters kept when all hold, each `COLUMN OP VALUE` with OP one of == != <= >= < >
        (`=` reads as ==), e.g. "dataset==RefinedWeb", "params>=1e7" (see `select_rows`).

    Raises
    ------
    ValueError
        A required column is missing, or (without `drop_invalid`) some rows are invalid; the
        message names the column and how many rows.
    """
    frame = _load(source)
    if columns:
        missing = [src for src in columns.values() if src not in frame.columns]
        if missing:
            raise ValueError(f"`columns` maps from {', '.join(map(repr, missing))}, not in the data; "
                             f"columns are {', '.join(map(str, frame.columns))}")
        frame = frame.rename(columns={src: dst for dst, src in columns.items()})
    if where:
        frame = select_rows(frame, where)
    return validate_runs(frame, drop_invalid=drop_invalid)


_OPERATORS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge,
              "<": operator.lt, ">": operator.gt, "=": operator.eq}


def parse_condition(text: str) -> tuple[str, str, str]:
    """(column, operator, value) of one `--where` condition (ValueError naming it when malformed)."""
    match = re.fullmatch(r"\s*([^=!<>]+?)\s*(==|!=|<=|>=|<|>|=)\s*(.+?)\s*", text)
    if not match:
        raise ValueError(f"--where takes COLUMN OP VALUE (OP one of == != < <= > >=), got {text!r}")
    column, op, value = match.groups()
    return column, op, value.strip('"').strip("'")


def select_rows(frame: pd.DataFrame, where: Sequence[str]) -> pd.DataFrame:
    """Rows of `frame` meeting every condition (`parse_condition`). A value compares as a number
    when the column is numeric, else as text. ValueError naming the column when it is absent or
    when no row is left."""
    keep = pd.Series(True, index=frame.index)
    for text in where:
        column, op, value = parse_condition(text)
        if column not in frame.columns:
            raise ValueError(f"--where {text!r}: no column {column!r}; columns are {', '.join(map(str, frame.columns))}")
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            try:
                target: object = float(value)
            except ValueError:
                raise ValueError(f"--where {text!r}: column {column!r} is numeric, {value!r} is not a number") from None
        else:
            if op not in ("==", "=", "!="):
                raise ValueError(f"--where {text!r}: column {column!r} holds text; compare it with == or !=")
            values, target = values.astype(str), value
        keep &= _OPERATORS[op](values, target).fillna(False).astype(bool)
    if not keep.any():
        raise ValueError(f"--where {' and '.join(where)}: no row matches")
    return frame[keep]


def validate_runs(frame: pd.DataFrame, *, drop_invalid: bool = False) -> pd.DataFrame:
    """Check and complete a runs table (see `read_runs`); returns a new DataFrame."""
    frame = frame.copy()
    if "tokens" not in frame.columns and {"flops", "params"} <= set(frame.columns):
        # Kaplan et al. 2020, Sec. 2.1 / Hoffmann et al. 2022: C = 6 N D, so D = C / (6 N).
        with np.errstate(divide="ignore", invalid="ignore"):  # bad rows are reported below
            frame["tokens"] = _numeric(frame, "flops") / (6.0 * _numeric(frame, "params"))
    absent = [c for c in REQUIRED if c not in frame.columns]
    if absent:
        raise ValueError(f"runs need columns {', '.join(REQUIRED)} (or flops instead of tokens); "
                         f"missing {', '.join(absent)}; have {', '.join(map(str, frame.columns))}"
                         " (map names with --column params=\"Model Size\")")
    checked = [c for c in (*REQUIRED, *OPTIONAL_NUMERIC) if c in frame.columns]
    bad = pd.Series(False, index=frame.index)
    problems = []
    for column in checked:
        values = _numeric(frame, column)
        invalid = ~(np.isfinite(values) & (values > 0))
        if invalid.any():
            problems.append(f"{column}: {int(invalid.sum())} of {len(frame)} rows are missing, "
                            "NaN or non-positive")
            bad |= invalid
        frame[column] = values
    if problems and not drop_invalid:
        raise ValueError("; ".join(problems) + " (fix the data or pass `drop_invalid`)")
    if problems:
        logger.warning("dropped %d invalid rows (%s)", int(bad.sum()), "; ".join(problems))
        frame = frame[~bad]
    if "flops" not in frame.columns:
        frame["flops"] = 6.0 * frame["params"] * frame["tokens"]  # Kaplan et al. 2020, Sec. 2.1
    if "run_id" not in frame.columns:
        frame["run_id"] = [f"row{i}" for i in range(len(frame))]
    if frame.empty:
        raise ValueError("no runs left to fit")
    return frame.reset_index(drop=True)


def read_curves(sweep_dir: str | Path, *, split: str = "val") -> pd.DataFrame:
    """Per-step curves of a sweep's ok runs: run_id, params, tokens (seen), flops (seen), loss,
    replicate (runs of one configuration, differing only by seed, share it).

    Reads each ok run's curve (scaling.rundir.curve; the CURVE_COLUMNS a fit needs) of the
    summary, keeping rows of `split` ("val" or "train").
    """
    summary = _read_sweep_summary(Path(sweep_dir))
    parts = []
    for row, replicate in zip(summary.itertuples(), replicate_labels(summary)):
        run_dir = Path(sweep_dir) / str(row.run_id)
        try:
            curve = read_curve(run_dir, columns=FIT_CURVE_COLUMNS).to_pandas()
        except FileNotFoundError:
            raise ValueError(f"run {row.run_id} has status ok but no {curve_path(run_dir)}") from None
        curve = curve[curve["split"] == split]
        parts.append(pd.DataFrame({
            "run_id": str(row.run_id), "params": float(row.params),
            "tokens": curve["tokens_seen"].to_numpy(float),
            "flops": curve["flops_seen"].to_numpy(float), "loss": curve["loss"].to_numpy(float),
            "replicate": replicate}))
    if not parts:
        raise ValueError(f"no curves in {sweep_dir}")
    curves = pd.concat(parts, ignore_index=True)
    return curves[curves["tokens"] > 0].reset_index(drop=True)


def replicate_labels(runs: pd.DataFrame) -> pd.Series:
    """One label per run, shared by runs equal in every REPLICATE_COLUMNS column present: seeds
    of one configuration. Without a `seed` column every run is its own configuration."""
    config = [c for c in REPLICATE_COLUMNS if c in runs.columns]
    if "seed" not in runs.columns or not config:
        return runs["run_id"].astype(str) if "run_id" in runs.columns else pd.Series(runs.index.astype(str), runs.index)
    return runs[config].astype(str).agg("|".join, axis=1)


def average_seeds(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: seeds of one (see `replicate_labels`) become their mean loss
    (and train loss), with `n_seeds`; other columns from the first seed. A table without
    repeated configurations comes back unchanged, so fits weight configurations, not seeds."""
    labels = replicate_labels(runs)
    if labels.nunique() == len(runs):
        return runs
    grouped = runs.groupby(labels.to_numpy(), sort=False)
    averaged = grouped.first()
    for column in ("loss", "train_loss"):
        if column in runs.columns:
            averaged[column] = grouped[column].mean()
    averaged["n_seeds"] = grouped.size()
    averaged = averaged.reset_index(drop=True)
    averaged.attrs = dict(runs.attrs)
    return averaged


def _load(source: RunsSource) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, str) and source in DATASETS:
        return load_dataset(source)
    path = Path(source)
    if path.is_dir():
        return _read_sweep_summary(path)
    if not path.exists():
        raise FileNotFoundError(f"{source}: no such file, directory or built-in data set "
                                f"(built in: {', '.join(DATASETS)})")
    if path.suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"{path}: expected a .csv or .parquet file or a sweep directory")
    return read_table(path)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet file as a DataFrame, its size and width checked against MAX_TABLE_BYTES and
    MAX_TABLE_FIELDS before it is parsed; errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_TABLE_BYTES:
        raise ValueError(f"{path}: {size / 2**20:,.0f} MiB is larger than the {MAX_TABLE_BYTES // 2**20} MiB "
                         "a runs file may be")
    return _read_csv(path) if path.suffix == ".csv" else _read_parquet(path)


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV runs file, its widest row checked before pandas parses it; decoding and parsing
    errors name the file."""
    with path.open("rb") as lines:
        widest = max((line.count(b",") + 1 for line in lines), default=0)  # quoted commas overcount: safe
    if widest > MAX_TABLE_FIELDS:
        raise ValueError(f"{path}: a row has {widest:,} fields, more than the {MAX_TABLE_FIELDS:,} "
                         "a runs file may have")
    try:
        return pd.read_csv(path, float_precision="round_trip")  # exact: same bits, same digest, any pandas
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: empty; expected a header row, then one row per line") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: not a readable CSV: {' '.join(str(exc).split())}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    # lazy: pyarrow, only for parquet files
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        fields = len(pq.read_schema(path).names)
        if fields > MAX_TABLE_FIELDS:
            raise ValueError(f"{path}: {fields:,} columns, more than the {MAX_TABLE_FIELDS:,} a runs file may have")
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the machine (permissions, a full disk), not the file's contents
        raise ValueError(f"{path}: not a readable parquet file: {' '.join(str(exc).split())}") from None


def _read_sweep_summary(sweep_dir: Path) -> pd.DataFrame:
    if not summary_path(sweep_dir).is_file() and not run_dirs(sweep_dir):
        raise ValueError(f"{sweep_dir} is not a sweep directory: no summary.parquet and no run directories")
    summary = read_summary(sweep_dir)  # from the run records: never stale
    if "status" in summary.columns:
        ok = summary["status"] == "ok"
        if (~ok).any():
            counts = summary.loc[~ok, "status"].value_counts().to_dict()
            logger.warning("%s: skipped %d of %d runs whose status is not ok (%s)", sweep_dir,
                           int((~ok).sum()), len(summary), counts)
        summary = summary[ok]
    if "role" in summary.columns:
        stable = summary["role"] == "stable"
        if stable.any():
            logger.info("%s: %d stable (constant-LR) runs of a WSD sweep left out: their LR never decayed; the "
                        "cooldown branches from them are the fit points", sweep_dir, int(stable.sum()))
            summary = summary[~stable]
        # A branch's family is its parent: branches of one stable run share its path and noise.
        summary = summary.assign(family=summary["parent_run_id"].fillna(summary["run_id"]))
    return summary.reset_index(drop=True)


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """`frame[column]` as floats: NaN where a value is not a number, inf past float range."""
    return _numeric(frame, column)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    try:
        return pd.to_numeric(frame[column], errors="coerce").astype(float)
    except OverflowError:  # integers past float range ("1" and 400 zeros): inf, reported as invalid
        return frame[column].map(_float_or_nan).astype(float)


def _float_or_nan(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:  # a Python int past float range
        return float("inf")
    except (TypeError, ValueError):
        return float("nan")
