"""`scaling report --law ... --runs ... --out page.html`: parse, delegate to scaling.report, report the file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scaling.cli.fit import parse_pairs
from scaling.cli._app import app, echo, examples, resamples
from scaling.cli.plot import _flops_range


@app.command("report", epilog=examples("scaling report --runs porian-2024-rw-tuned --out report.html"))
def report_command(
    out: Annotated[Path, typer.Option(help="Output file, .html.")],
    law: Annotated[list[str] | None, typer.Option("--law", help="Preset name or fit .json (repeatable; "
                                                               "default: every preset).")] = None,
    runs: Annotated[str | None, typer.Option(help="A sweep directory, runs file or data set: its IsoFLOP figure.")] = None,
    flops_range: Annotated[str | None, typer.Option("--range", help="Budgets the planner's slider spans, LO:HI FLOPs "
                                                                    "(default 1e17:1e27).", callback=_flops_range)] = None,
    bootstrap: Annotated[int, typer.Option(callback=resamples, help="Resamples behind the IsoFLOP figure's band.")] = 200,
    title: Annotated[str, typer.Option(help="Page title.")] = "Scaling report",
    column: Annotated[list[str] | None, typer.Option(help='Map a column of --runs: params="Model Size" (repeatable).')] = None,
    where: Annotated[list[str] | None, typer.Option(help='Keep the --runs rows where COLUMN OP VALUE holds, e.g. '
                                                     'dataset==rw (repeatable: all must hold).')] = None,
) -> None:
    """One self-contained HTML page: figures, fit tables and a planner that runs in the browser."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.laws.presets import PRESETS
    from scaling.fit.result import resolve_law
    from scaling.report import write_report
    from scaling.report.page import FLOPS_RANGE
    from scaling.runs import read_runs

    if runs is None and (column or where):
        raise ValueError("--column and --where apply to --runs, which is not given")
    source = read_runs(runs, columns=parse_pairs(column, "--column"), where=tuple(where or ())) \
        if runs is not None and (column or where) else runs
    estimates = [resolve_law(name) for name in law] if law else list(PRESETS.values())
    path = write_report(out, estimates, runs=source, bootstrap=bootstrap,
                        flops_range=flops_range or FLOPS_RANGE, title=title)  # type: ignore[arg-type]
    echo(f"wrote {path}")
