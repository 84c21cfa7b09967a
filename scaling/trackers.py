"""Experiment trackers: log finished runs to MLflow, TensorBoard or W&B, and read runs back.

Each tracker logs one run from its directory when the run ends (`scaling sweep/train --tracker`):
its config (flattened TrainConfig keys such as `model.d_model`), its curve (`curve/train_loss` and
`curve/val_loss` against the optimizer step, with `curve/lr`, `curve/grad_norm`,
`curve/tokens_seen`, `curve/flops_seen`) and
its summary row (the columns of `summary.parquet`: numbers as metrics, text as tags). A run the
tracker already holds (same `run_id`) is not logged twice, so rerunning a finished sweep with a
tracker copies its store into the tracker once.

Reading back (`scaling fit mlflow:EXPERIMENT`, `scaling fit wandb:DIR`) gives one row per run
whose columns are the run's metrics (latest value) and params; runs logged by this tool carry
the runs-table columns (`params`, `tokens`, `flops`, `loss`, ...) under their own names, other
runs are mapped with `--column`. Every client is the tracker's own (mlflow, torch's
tensorboard SummaryWriter, wandb), imported only when used; W&B runs offline unless
WANDB_MODE says otherwise.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from scaling.atomic import make_dirs
from scaling.rundir.curve import read_curve
from scaling.rundir.record import read_config_json

logger = logging.getLogger(__name__)

TRACKERS = ("mlflow", "tensorboard", "wandb")
DEFAULT_URI = {"mlflow": "sqlite:///mlflow.db", "tensorboard": "tb", "wandb": "."}
"""Where each tracker writes when no URI is given (relative to the working directory)."""
RUN_ID_TAG = "scaling.run_id"
CURVE_METRICS = ("lr", "grad_norm", "tokens_seen", "flops_seen")
"""Curve columns logged per step besides the loss (which is logged as `<split>_loss`), all under
`curve/` so that they never shadow the summary's columns of the same name (`lr`, `train_loss`)."""


class Tracker(Protocol):
    def log_run(self, row: Mapping[str, Any], run_dir: Path) -> bool:
        """Log the run (summary `row`, files in `run_dir`); False if the tracker already had it."""
        ...

    def close(self) -> None: ...


def open_tracker(name: str, uri: str | None = None, experiment: str = "scaling") -> Tracker:
    """A tracker client: "mlflow" (tracking URI), "tensorboard" (log dir), "wandb" (directory)."""
    makers = {"mlflow": MlflowTracker, "tensorboard": TensorBoardTracker, "wandb": WandbTracker}
    if name not in makers:
        raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}, got {name!r}")
    where = _uri(name, uri)
    try:
        return makers[name](where, experiment)  # type: ignore[no-any-return]
    except ModuleNotFoundError:  # the extra is not installed: the CLI says which to install
        raise
    except Exception as exc:  # the tracker's own client raises its own errors (MLflow, SQLAlchemy, OS) alike
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"`uri` {where!r}: the {name} tracker cannot open it ({first})") from exc


def _uri(name: str, uri: str | None) -> str:
    if uri:
        return uri
    if name == "mlflow" and os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return DEFAULT_URI[name]


def read_tracker(source: str, uri: str | None = None) -> Any:
    """A runs table from `mlflow:EXPERIMENT` (at tracking URI `uri`) or `wandb:PATH` (W&B run
    folders); runs whose `status` is not "ok" are left out, as a sweep directory's are."""
    kind, _, name = source.partition(":")
    if kind not in ("mlflow", "wandb") or not name:
        raise ValueError(f"expected mlflow:EXPERIMENT or wandb:PATH, got {source!r}")
    frame = read_mlflow(name, uri) if kind == "mlflow" else read_wandb(name)
    if "status" in frame.columns:
        ok = frame["status"].isna() | (frame["status"] == "ok")
        if (~ok).any():
            logger.warning("%s: skipped %d of %d runs whose status is not ok", source, int((~ok).sum()), len(frame))
        frame = frame[ok].reset_index(drop=True)
    return frame


def run_payload(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(flattened config, curve rows) of a run directory; no curve when the run left none."""
    run_dir = Path(run_dir)
    try:
        claimed = read_config_json(run_dir) or {}
    except ValueError as exc:  # CorruptFile: named, and the run is logged without its config
        logger.warning("%s", exc)
        claimed = {}
    config = claimed.get("config")
    config = _flatten(config) if isinstance(config, Mapping) else {}
    try:
        curve = read_curve(run_dir, columns=("step", "split", "loss", *CURVE_METRICS)).to_pylist()
    except FileNotFoundError:
        curve = []
    return config, curve


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _numbers(row: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}  # v == v: not NaN


def _texts(row: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in row.items() if isinstance(v, str)}


def _curve_points(curve: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    """(step, metrics) per curve row: `curve/<split>_loss` and, on train rows, CURVE_METRICS."""
    points = []
    for point in curve:
        values = {f"{point['split']}_loss": point["loss"]}
        if point["split"] == "train":
            values.update({k: point[k] for k in CURVE_METRICS if point.get(k) is not None})
        points.append((int(point["step"]), {f"curve/{k}": v for k, v in _numbers(values).items()}))
    return points


# -- MLflow ------------------------------------------------------------------------------------


class MlflowTracker:
    """One MLflow run per training run, in `experiment`, named by its run_id."""

    def __init__(self, uri: str, experiment: str) -> None:
        # lazy: the tracker's client loads only when it is used
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)

    def log_run(self, row: Mapping[str, Any], run_dir: Path) -> bool:
        # lazy: the tracker's client loads only when it is used
        from mlflow.entities import Metric, Param

        rid = str(row["run_id"])
        if self.client.search_runs([self.experiment_id], f"tags.`{RUN_ID_TAG}` = '{rid}'", max_results=1):
            return False
        config, curve = run_payload(run_dir)
        run = self.client.create_run(self.experiment_id, run_name=rid, tags={RUN_ID_TAG: rid, **_texts(row)})
        params = [Param(k, str(v)[:6000]) for k, v in config.items() if k not in row]
        metrics = [Metric(name, value, 0, step) for step, values in _curve_points(curve)
                   for name, value in values.items()]
        metrics += [Metric(name, value, 0, 0) for name, value in _numbers(row).items()]
        for start in range(0, len(params), 100):  # MLflow's limits per batch: 100 params, 1,000 metrics
            self.client.log_batch(run.info.run_id, params=params[start:start + 100])
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000])
        status = "FINISHED" if row.get("status") in ("ok", "diverged") else "FAILED"
        self.client.set_terminated(run.info.run_id, status=status)
        return True

    def close(self) -> None:
        pass


def read_mlflow(experiment: str, uri: str | None = None) -> Any:
    """Runs of an MLflow experiment as a DataFrame: one row per run, a column per metric (its
    latest value) and per param (numbers parsed), `run_id` from the run's tag or name."""
    # lazy: pandas loads only when a table is built
    import pandas as pd
    from mlflow.tracking import MlflowClient

    uri = _uri("mlflow", uri)
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"no MLflow experiment {experiment!r} at {uri}")
    rows = []
    for run in client.search_runs([found.experiment_id], max_results=50_000):
        row: dict[str, Any] = {k: _parse(v) for k, v in run.data.params.items()}
        row.update({k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
        row.update(run.data.metrics)
        row["run_id"] = run.data.tags.get(RUN_ID_TAG) or run.info.run_name or run.info.run_id
        rows.append(row)
    if not rows:
        raise ValueError(f"MLflow experiment {experiment!r} holds no runs")
    return pd.DataFrame(rows)


def _parse(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


# -- TensorBoard ---------------------------------------------------------------------------------


class TensorBoardTracker:
    """Event files under `<logdir>/<experiment>/<run_id>/`: the curve as scalars, the config and
    summary row as text (`config`, `record`) and the summary's numbers as `final/<column>`."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.root = Path(uri) / experiment
        make_dirs(self.root)  # an unwritable log dir fails now, before any run trains

    def log_run(self, row: Mapping[str, Any], run_dir: Path) -> bool:
        # lazy: the tracker's client loads only when it logs
        from torch.utils.tensorboard import SummaryWriter

        target = self.root / str(row["run_id"])
        if target.exists():
            return False
        config, curve = run_payload(run_dir)
        writer = SummaryWriter(log_dir=str(target))
        try:
            writer.add_text("config", f"```\n{json.dumps(config, indent=2, default=str)}\n```")
            writer.add_text("record", f"```\n{json.dumps(dict(row), indent=2, default=str)}\n```")
            for step, values in _curve_points(curve):
                for name, value in values.items():
                    writer.add_scalar(name, value, step)
            for name, value in _numbers(row).items():
                writer.add_scalar(f"final/{name}", value, 0)
        finally:
            writer.close()
        return True

    def close(self) -> None:
        pass


# -- Weights & Biases ----------------------------------------------------------------------------


class WandbTracker:
    """One W&B run per training run (id = run_id, offline unless WANDB_MODE is set): config,
    the curve logged per step, the summary row as the run summary."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.dir, self.project = Path(uri), experiment
        make_dirs(self.dir)  # an unwritable directory fails now, before any run trains

    def log_run(self, row: Mapping[str, Any], run_dir: Path) -> bool:
        # lazy: the tracker's client loads only when it is used
        import wandb

        rid = str(row["run_id"])
        if list((self.dir / "wandb").glob(f"*-{rid}")):
            return False
        config, curve = run_payload(run_dir)
        run = wandb.init(project=self.project, id=rid, name=rid, dir=str(self.dir), config=config,
                         mode=os.environ.get("WANDB_MODE", "offline"), reinit="create_new",  # type: ignore[arg-type]
                         settings=wandb.Settings(silent=True, console="off"))
        try:
            for step, values in _curve_points(curve):
                run.log(values, step=step)
            run.summary.update({**_numbers(row), **_texts(row)})
        finally:
            run.finish(exit_code=0 if row.get("status") in ("ok", "diverged") else 1)
        return True

    def close(self) -> None:
        pass


def read_wandb(path: str | Path) -> Any:
    """Runs of W&B run folders as a DataFrame: one row per run, a column per config key and per
    summary key (each metric's last value). `path` is a `wandb/` directory, its parent, or one
    run folder; a folder's `files/wandb-summary.json` and `files/config.yaml` are read where W&B
    wrote them, else its `run-<id>.wandb` log (what an offline run holds)."""
    # lazy: pandas loads only when a table is built
    import pandas as pd

    path = Path(path)
    if (path / "wandb").is_dir():
        path = path / "wandb"
    folders = [path] if (path / "files").is_dir() else sorted(p for p in path.glob("*run-*") if p.is_dir())
    rows = []
    for folder in folders:
        summary = folder / "files" / "wandb-summary.json"
        if summary.exists():
            row = _wandb_files(folder)
        elif list(folder.glob("*.wandb")):
            row = _wandb_log(next(folder.glob("*.wandb")))
        else:
            logger.warning("%s holds neither files/wandb-summary.json nor a .wandb log; skipped", folder)
            continue
        row.setdefault("run_id", folder.name.rsplit("-", 1)[-1])
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no W&B run folders (offline-run-*/ or run-*/)")
    return pd.DataFrame(rows)


def _wandb_files(folder: Path) -> dict[str, Any]:
    # lazy: the tracker's client loads only when it is used
    import yaml

    row: dict[str, Any] = {}
    config_path = folder / "files" / "config.yaml"
    if config_path.exists():
        config = yaml.safe_load(config_path.read_text()) or {}
        row.update({k: v.get("value") if isinstance(v, dict) else v for k, v in config.items() if not k.startswith("_")})
    summary = json.loads((folder / "files" / "wandb-summary.json").read_text())
    row.update({k: v for k, v in summary.items() if not k.startswith("_")})
    return row


_BLOCK = 32768
_HEADER = 7
"""W&B's run log (`run-<id>.wandb`) is LevelDB's log format: a 7-byte file header, then 32 KiB
blocks of chunks, each with a 7-byte header (checksum u32, length u16, type u8: 1 full, 2 first,
3 middle, 4 last). Each record is a `wandb_internal_pb2.Record` (wandb's own protobuf). Only this
framing is read by hand: wandb's Python package no longer holds a reader of its run log (the
reader moved into its Go `wandb-core` binary), and the format is LevelDB's
documented log format (leveldb doc/log_format.md)."""


def _wandb_log(log: Path) -> dict[str, Any]:
    import struct

    # lazy: the tracker's client loads only when it is used
    from wandb.proto import wandb_internal_pb2

    raw, position, parts = log.read_bytes(), _HEADER, []
    row: dict[str, Any] = {}
    while position + _HEADER <= len(raw):
        room = _BLOCK - position % _BLOCK
        if room < _HEADER:  # a block's tail too short for a chunk header is padding
            position += room
            continue
        _, length, kind = struct.unpack("<IHB", raw[position:position + _HEADER])
        if kind == 0:
            position += room
            continue
        parts.append(raw[position + _HEADER:position + _HEADER + length])
        position += _HEADER + length
        if kind not in (1, 4):
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(b"".join(parts))
        parts = []
        which = record.WhichOneof("record_type")
        items = (record.run.config.update if which == "run" else record.config.update if which == "config"
                 else record.summary.update if which == "summary" else [])
        for item in items:
            key = item.key or ".".join(item.nested_key)
            if key and not key.startswith("_"):
                value = json.loads(item.value_json)
                row[key] = value.get("value") if which != "summary" and isinstance(value, dict) else value
    return row
