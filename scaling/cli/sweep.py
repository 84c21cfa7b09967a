"""`scaling sweep` (run or dry-run a sweep spec) and `scaling runs` (a sweep's status table).

Parse, delegate to scaling.sweep.backends / scaling.sweep.store, render. torch and ray load only inside
the library calls that need them.
"""

from __future__ import annotations

import shlex
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Any


import typer

from scaling.cli._app import Format, app, positive_int


class Backend(str, Enum):
    local = "local"
    ray = "ray"


@app.command("sweep")
def sweep_command(
    spec: Annotated[str, typer.Argument(help="Sweep spec: a TOML file, or a bundled name (cpu-smoke, "
                                             "cpu-isoflop, gpu-small, gpu-1b).")],
    backend: Annotated[Backend, typer.Option(help="local: worker processes here; ray: Ray tasks.")] = Backend.local,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (--backend ray); default: "
                                                     "start a local Ray.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes; default: one per GPU, "
                                                     "else one per CPU core.", callback=positive_int)] = None,
    retries: Annotated[int, typer.Option(min=0, help="Extra attempts for a failing run.")] = 1,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs with FLOPs and estimated "
                                                            "time; train nothing.")] = False,
    out: Annotated[Path, typer.Option(help="Run store root; runs go to OUT/<sweep name>/.")] = Path("runs"),
) -> None:
    """Train every run of a sweep spec: finished runs are skipped, interrupted ones resume."""
    from scaling.sweep.scheduler import dry_run as plan_dry_run
    from scaling.sweep.scheduler import run_sweep
    from scaling.sweep.spec import load_spec

    if address is not None and backend is not Backend.ray:
        raise ValueError("--address needs --backend ray")
    sweep = load_spec(spec)
    if dry_run:
        _render_dry_run(plan_dry_run(sweep, out), workers)
        return
    state = run_sweep(sweep, out, backend=backend.value, workers=workers, address=address,
                      retries=retries, progress=_ProgressLine(), command=_command_line())
    typer.echo(f"\n{out / sweep.name}: {state.ok} ok, {state.diverged} diverged, {state.failed} failed, "
               f"{state.skipped} already done; summary in {out / sweep.name / 'summary.parquet'}")
    if state.failed:
        raise typer.Exit(1)


@app.command("runs")
def runs_command(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory, e.g. runs/cpu-smoke.")],
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Status of every run of a sweep: pending, running, killed, ok, diverged, failed."""
    from scaling.sweep.store import status_table

    table = status_table(sweep_dir)
    if table.empty and fmt is Format.table:
        typer.echo(f"{sweep_dir}: no runs (no run directories and no sweep.json)")
        return
    if fmt is Format.json:
        typer.echo(table.to_json(orient="records", indent=2))
    elif fmt is Format.csv:
        typer.echo(table.to_csv(index=False), nl=False)
    else:
        typer.echo(table.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
        counts = table["status"].value_counts()
        typer.echo(f"{len(table)} runs: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


def _render_dry_run(rows: list[dict[str, Any]], workers: int | None) -> None:
    import os

    header = (f"{'run_id':<13} {'budget':>8} {'L':>2} {'d_model':>7} {'params':>10} {'tokens':>12} {'flops':>9} "
              f"{'lr':>9} {'batch':>5} {'status':>8} {'est':>8}  lr from; batch from")
    typer.echo(header)
    for row in rows:
        budget = f"{row['budget_flops']:.2g}" if row["budget_flops"] else "-"
        typer.echo(f"{row['run_id']:<13} {budget:>8} {row['n_layer']:>2} {row['d_model']:>7} {row['params']:>10,} "
                   f"{row['tokens']:>12,} {row['flops']:>9.2e} {row['lr']:>9.3g} {row['batch_size']:>5} "
                   f"{row['status']:>8} {_duration(row['est_s']):>8}  {row['lr_source']}; {row['batch_source']}")
    todo = [r for r in rows if r["status"] not in ("ok", "diverged")]
    count = workers or os.cpu_count() or 1
    known = [r["est_s"] for r in todo if r["est_s"] is not None]
    total = f"~{_duration(sum(known) / count)} on {count} workers" if len(known) == len(todo) else "not measured here"
    typer.echo(f"{len(rows)} runs ({len(todo)} to train), {sum(r['flops'] for r in rows):.3g} FLOPs; "
               f"estimated wall time {total} (from measured throughput)")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds / 3600:.0f}h{seconds % 3600 / 60:02.0f}m"


class _ProgressLine:
    """A one-line progress bar on stderr: redrawn in place on a terminal, else printed on change."""

    def __init__(self, width: int = 24) -> None:
        self.width, self.last, self.tty = width, "", sys.stderr.isatty()
        self.drawn = 0.0

    def __call__(self, state: Any) -> None:
        filled = int(self.width * state.done / max(state.total, 1))
        eta = state.eta_s
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {state.done}/{state.total} runs: "
                f"{state.ok} ok, {state.diverged} diverged, {state.failed} failed, {state.skipped} done before, "
                f"{state.running} running" + (f", {state.elsewhere} elsewhere" if state.elsewhere else "")
                + f" | ETA {_duration(eta) if eta is not None else '?'}")
        counts = line.split(" | ")[0]
        if self.tty and time.monotonic() - self.drawn > 0.5:
            typer.echo("\r" + line.ljust(len(self.last)), nl=False, err=True)
            self.drawn = time.monotonic()
        elif not self.tty and counts != self.last.split(" | ")[0]:
            typer.echo(line, err=True)
        self.last = line


def _command_line() -> str:
    """The command as typed, with the program's name rather than its install path (the path is
    this machine's, and sweep.json is committed with studies)."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
