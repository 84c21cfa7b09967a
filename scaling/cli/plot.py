"""`scaling plot KIND DATA --out FILE`: parse, delegate to scaling.plot.figures, report the file.

matplotlib loads inside the command only, on a bare Figure with the Agg canvas (headless), so
`scaling plan` never pays for it.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from scaling.cli.fit import parse_pairs
from scaling.cli._app import app, echo, examples, positive_int, resamples
from scaling.flops import MAX_FLOPS


class Kind(str, Enum):
    isoflop = "isoflop"
    frontier = "frontier"
    contours = "contours"
    curves = "curves"
    allocations = "allocations"
    residuals = "residuals"
    branches = "branches"


def _flops_range(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(part) for part in value.split(":"))
    except ValueError:
        raise typer.BadParameter(f"expected LO:HI in FLOPs, e.g. 1e18:1e24, got {value!r}") from None
    if not (0 < low < high <= MAX_FLOPS):
        raise typer.BadParameter(f"expected 0 < LO < HI <= {MAX_FLOPS:g}, got {value!r}")
    return low, high


@app.command("plot", epilog=examples(
    "scaling plot isoflop porian-2024-rw-tuned --out isoflop.png",
    "scaling plot contours chinchilla --out contours.svg",
))
def plot_command(
    kind: Annotated[Kind, typer.Argument(help="isoflop, frontier, contours, curves, allocations, residuals or branches.")],
    data: Annotated[str, typer.Argument(help="isoflop, curves: a sweep directory (or runs file / data set); "
                                             "frontier, contours, residuals: a fit .json or preset name; "
                                             "allocations: comma-separated presets or fit .json files.")],
    out: Annotated[Path, typer.Option(help="Output file: .png, .svg or .pdf.")],
    runs: Annotated[str | None, typer.Option(help="residuals: the runs the fit was fitted to; branches: a sweep of the same points as separate runs.")] = None,
    law: Annotated[list[str] | None, typer.Option("--law", help="Preset or fit .json to compare with "
                                                                "(frontier; repeatable).")] = None,
    under: Annotated[str | None, typer.Option(help="allocations: loss law scoring each allocation "
                                                   "(default: the first loss law given, else chinchilla-unrounded).")] = None,
    flops_range: Annotated[str | None, typer.Option("--range", help="Budgets on the x axis, LO:HI FLOPs.",
                                                    callback=_flops_range)] = None,
    bootstrap: Annotated[int, typer.Option(callback=resamples, help="isoflop, curves: bootstrap resamples behind the "
                                                       "N_opt/D_opt bands (0: no band).")] = 200,
    dpi: Annotated[int, typer.Option(help="Resolution of PNG output.", callback=positive_int)] = 150,
    column: Annotated[list[str] | None, typer.Option(help='isoflop, curves, residuals: map a column: params="Model Size" (repeatable).')] = None,
    where: Annotated[list[str] | None, typer.Option(help='Keep rows where COLUMN OP VALUE holds, e.g. dataset==rw '
                                                     '(repeatable: all must hold).')] = None,
) -> None:
    """Draw a figure (Chinchilla paper style) and write it to --out; nothing is shown."""
    # lazy: start-up speed (each command loads only its own library)
    from scaling.plot.figures import draw_figure, save_figure

    try:
        figure = draw_figure(kind.value, data, runs=runs, laws=law, under=under, flops_range=flops_range,
                             bootstrap=bootstrap, columns=parse_pairs(column, "--column"),  # type: ignore[arg-type]
                             where=tuple(where or ()))
    except ValueError as exc:
        if kind is Kind.residuals and runs is None:  # the library's `runs` argument is this option
            raise typer.BadParameter(f"{exc}; give them with --runs DIR|FILE|DATASET") from None
        raise
    echo(f"wrote {save_figure(figure, out, dpi=dpi)}")
