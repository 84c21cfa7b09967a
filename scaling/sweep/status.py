"""What a sweep reports as documents: `SweepResult` (the counts of one `scaling sweep`) and
`RunsStatus` (every run of a store with its status, what `scaling runs` prints).

The result contract they keep is scaling/document.py.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scaling.document import Document
from scaling.rundir.events import read_events
from scaling.rundir.summary import status_table, summary_path

if TYPE_CHECKING:
    from scaling.sweep.backends import SweepProgress


@dataclass(frozen=True, kw_only=True)
class SweepResult(Document):
    """The counts of one sweep invocation: runs trained now (ok, diverged, failed) and runs
    finished before it started."""

    SCHEMA: ClassVar[str] = "scaling.SweepResult/1"

    sweep_dir: str
    ok: int
    diverged: int
    failed: int
    """Runs that still failed after their retries (a rerun tries them again)."""
    already_done: int
    """Runs finished before this invocation (skipped)."""
    summary: str
    """Path of the sweep's summary.parquet."""


def sweep_result(sweep_dir: Path, progress: SweepProgress) -> SweepResult:
    """The document of a finished `run_sweep` (or design loop) whose counts are `progress`."""
    return SweepResult(sweep_dir=str(sweep_dir), ok=progress.ok, diverged=progress.diverged, failed=progress.failed,
                       already_done=progress.skipped, summary=str(summary_path(sweep_dir)))


@dataclass(frozen=True, kw_only=True)
class RunsStatus(Document):
    """Every planned or started run of a sweep directory with its status, loss and wall time
    (`scaling.rundir.summary.status_table`'s rows), and a designed study's rounds."""

    SCHEMA: ClassVar[str] = "scaling.RunsStatus/1"
    _frame_rows = "runs"

    sweep_dir: str
    runs: list[dict[str, Any]]
    """One dict per run: run_id, status, budget_flops, n_layer, d_model, params, tokens, seed, loss
    (nats/token), wall_s, device; None where unknown (a pending run has no loss)."""
    design_rounds: list[dict[str, Any]] = field(default_factory=list)
    """A designed study's rounds (`design_rounds`); [] for a plain sweep, and then
    absent from the document."""

    @property
    def counts(self) -> list[tuple[str, int]]:
        """(status, runs) pairs, the most frequent status first (ties in order of appearance)."""
        return Counter(run["status"] for run in self.runs).most_common()

    def to_dict(self) -> dict[str, Any]:
        return {"sweep_dir": self.sweep_dir, "runs": self.runs,
                **({"design_rounds": self.design_rounds} if self.design_rounds else {})}


def runs_status(sweep_dir: Path) -> RunsStatus:
    """The status of every run under `sweep_dir` (FileNotFoundError when it is no directory)."""
    table = status_table(sweep_dir)
    # through pandas' JSON writer, so NA cells become None and numpy scalars plain numbers
    runs = json.loads(table.to_json(orient="records"))
    return RunsStatus(sweep_dir=str(sweep_dir), runs=runs, design_rounds=design_rounds(sweep_dir))


def design_rounds(sweep_dir: Path) -> list[dict[str, Any]]:
    """A designed study's rounds from the sweep's events (scaling.design.study logs them): number,
    FLOPs, profiles, predicted width and, once fitted, the estimate, interval and width achieved
    ([] for a plain sweep)."""
    events = read_events(sweep_dir)
    fits = {e["round"]: e for e in events if e.get("event") == "design_fit"}
    return [{"round": e["round"], "flops": e["proposal"]["flops"], "profiles": len(e["proposal"]["blocks"]),
             "budgets": sorted(b["flops"] for b in e["proposal"]["blocks"]),
             "predicted_width": e.get("predicted_width"),
             **{k: fits.get(e["round"], {}).get(k) for k in ("estimate", "interval", "width")}}
            for e in events if e.get("event") == "design_round"]
