"""sweep.json: what a sweep was asked (the spec, the planned runs, command, git sha, machine),
merged under the sweep lock at each invocation. Its reader checks the shape it relies on and
names the file and field it cannot read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scaling.atomic import write_json
from scaling.rundir.files import SWEEP_META, CorruptFile, read_bytes
from scaling.rundir.lock import sweep_lock


def meta_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / SWEEP_META


def read_sweep_meta(sweep_dir: Path) -> dict[str, Any]:
    """sweep.json as a dict: FileNotFoundError when absent, CorruptFile (naming the file and the
    field) when it is not JSON or its `runs` are not a list of objects with a string `run_id`."""
    path = meta_path(sweep_dir)
    try:
        text = read_bytes(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no sweep.json in {sweep_dir}: not a sweep directory") from None
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptFile(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CorruptFile(f"{path}: expected a JSON object, got a JSON {_kind(meta)}")
    runs = meta.get("runs", [])
    if not isinstance(runs, list):
        raise CorruptFile(f"{path}: `runs` must be a list of runs, got a JSON {_kind(runs)}")
    for index, run in enumerate(runs):
        if not isinstance(run, dict) or not isinstance(run.get("run_id"), str):
            raise CorruptFile(f"{path}: `runs[{index}]` must be an object with a string `run_id`, got {run!r:.80}")
    if not isinstance(meta.get("history", []), list):
        raise CorruptFile(f"{path}: `history` must be a list, got a JSON {_kind(meta['history'])}")
    return meta


def planned_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """sweep.json's planned runs ([] when the directory has no sweep.json)."""
    try:
        return list(read_sweep_meta(sweep_dir).get("runs", []))
    except FileNotFoundError:
        return []


def update_sweep_meta(sweep_dir: Path, *, name: str, spec: Mapping[str, Any], runs: list[dict[str, Any]],
                      invocation: Mapping[str, Any]) -> dict[str, Any]:
    """Merge this invocation into sweep.json (spec, planned runs, provenance history), atomically.

    The latest invocation's command, git sha and machine sit at the top level; earlier ones stay
    in `history`. Runs an earlier invocation planned stay while they have a run directory, so
    runs of an edited spec keep their budget labels; those never started that this invocation no
    longer plans drop out (else `scaling runs` would list them as pending forever).
    The sweep lock serialises concurrent sweeps' read-modify-write.
    """
    sweep_dir = Path(sweep_dir)
    with sweep_lock(sweep_dir):
        try:
            meta = read_sweep_meta(sweep_dir)
        except FileNotFoundError:
            meta = {}
        planned = {run["run_id"] for run in runs}
        kept = [run for run in meta.get("runs", [])
                if run["run_id"] in planned or (sweep_dir / run["run_id"]).exists()]
        known = {run["run_id"] for run in kept}
        meta.update({"name": name, "spec": dict(spec), **dict(invocation)})
        meta["runs"] = kept + [run for run in runs if run["run_id"] not in known]
        meta["history"] = meta.get("history", []) + [dict(invocation)]
        write_json(meta_path(sweep_dir), meta)
        return meta


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")
