"""Every command's output: one number format, one table renderer, `--format table|json|csv`.

`show(...)` prints a command's result in the chosen format: a table is drawn by rich on a
terminal and as plain aligned text when piped (that text is stable: README examples are
compared against it); csv is one row per record; json is the command's document, which carries
its schema tag. Numbers go through `quantity` (params, tokens, GPU-hours, dollars, days),
`flops` and `loss`, so a number prints the same in every table.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TextIO

import typer


class Format(str, Enum):
    """Output of commands that print results: `--format table|json|csv`."""

    table = "table"
    json = "json"
    csv = "csv"


# -- numbers -----------------------------------------------------------------------------------


SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))
"""K/M/B/T: from 1,000 on; past 999T a count prints in exponent form, as FLOPs do."""


def si(value: float, digits: int = 3) -> str:
    """1.82B, 91.4B, 3.05M, 4.26K: `digits` significant figures with a K/M/B/T suffix.

    The value is rounded before its suffix is chosen, so 999,600 prints as 1M (not 1e+03K),
    999.7 as 1K, and 2.23e15 as 2.23e+15 (not 2.23e+03T)."""
    rounded = float(f"{value:.{digits}g}")
    if abs(rounded) >= 1e3 * SUFFIXES[0][0]:
        return f"{value:.{digits}g}"
    for scale, suffix in SUFFIXES:
        if abs(rounded) >= scale:
            return f"{rounded / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def quantity(value: Any) -> str:
    """Counts and costs (params, tokens, GPU-hours, days, dollars): SI suffix from 1,000 on,
    FLOP-sized values in exponent form, four significant figures below 1,000; `-` for None."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(float(f"{value:.4g}")) >= 1e3:  # 999.96 rounds to 1,000: a K value
        return si(value)
    return f"{value:.4g}"


def flops(value: float | None) -> str:
    """FLOPs: three significant figures in exponent form (1e+21, 6.07e+21)."""
    return "-" if value is None else f"{value:.3g}"


def loss(value: float | None, digits: int = 3) -> str:
    """A loss in nats/token, `digits` decimals; `-` where a law predicts none."""
    return "-" if value is None else f"{value:.{digits}f}"


def pct(value: float) -> str:
    """A signed percentage with two decimals (+0.27%)."""
    return f"{round(value, 2) + 0.0:+.2f}%"  # + 0.0 turns a rounded -0.0 into 0.0


def duration(seconds: float | None) -> str:
    """42s, 3m05s, 2h10m; n/a for None."""
    if seconds is None:
        return "n/a"
    whole = round(seconds)  # rounded first: 59.6 s is 1m00s, not 60s; 3599.7 s is 1h00m, not 59m60s
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


# -- tables and documents ----------------------------------------------------------------------


@dataclass
class Table:
    """Rows of formatted cells under headers; `align` has "r" for right-aligned columns."""

    headers: list[str]
    rows: list[list[str]]
    title: str | None = None
    align: str = ""


@dataclass
class Output:
    """What a command prints: tables (or text blocks) and notes for `table`, records for `csv`,
    a document (dict with its "schema", or JSON text) for `json`."""

    tables: list[Table | str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: list[Mapping[str, Any]] | None = None
    document: Mapping[str, Any] | str | None = None
    footer: list[str] = field(default_factory=list)
    """Lines after the notes (counts, totals)."""


def text_table(table: Table) -> str:
    """Plain aligned columns, a dashed rule under the headers."""
    widths = [max(len(str(x)) for x in column) for column in zip(table.headers, *table.rows)]
    align = table.align.ljust(len(widths), "l")

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(x).rjust(w) if a == "r" else str(x).ljust(w)
                         for x, w, a in zip(cells, widths, align)).rstrip()

    lines = [line(table.headers), "  ".join("-" * w for w in widths), *map(line, table.rows)]
    return "\n".join(([table.title] if table.title else []) + lines)


def csv_text(records: Sequence[Mapping[str, Any]]) -> str:
    """One CSV row per record; nested values as JSON."""
    if not records:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for k, v in r.items()}
                     for r in records)
    return buffer.getvalue().rstrip("\n")


def json_text(document: Mapping[str, Any] | str) -> str:
    return document if isinstance(document, str) else json.dumps(document, indent=2, allow_nan=False)


def plain(output: Output) -> str:
    """The table format as plain text (what a pipe or a file receives)."""
    blocks = "\n\n".join(text_table(t) if isinstance(t, Table) else t for t in output.tables)
    return blocks + "".join(f"\nnote: {n}" for n in output.notes) + "".join(f"\n{line}" for line in output.footer)


def show(output: Output, format: Format) -> None:
    """Print `output` to stdout in `format`."""
    if format is Format.json:
        if output.document is None:
            raise ValueError("this command has no --format json output")
        typer.echo(json_text(output.document), file=_document_stream or sys.stdout)
    elif format is Format.csv:
        if output.records is None:
            raise ValueError("this command has no --format csv output")
        typer.echo(csv_text(output.records), file=_document_stream or sys.stdout)
    elif _terminal():
        _rich(output)
    else:
        typer.echo(plain(output))


_document_stream: TextIO | None = None
"""The real stdout while `stdout_to_stderr` holds it: where `show` writes a json or csv document."""


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a command that prints a document runs, whatever else writes to stdout (a library's
    print, Ray's log dump after a worker node dies, a child process) goes to stderr, so stdout
    carries only the document `show` writes. At the file-descriptor level where stdout has one
    (children and C code write to fd 1); captured streams (CliRunner) are swapped as objects."""
    global _document_stream
    real = sys.stdout
    real.flush()
    try:
        out_fd, err_fd = real.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        out_fd = err_fd = -1
    saved_fd = os.dup(out_fd) if out_fd >= 0 else -1
    if saved_fd >= 0:
        os.dup2(err_fd, out_fd)
        _document_stream = open(saved_fd, "w", encoding=real.encoding or "utf-8", closefd=False)  # noqa: SIM115
    else:
        _document_stream = real
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = real
        _document_stream.flush()
        _document_stream = None
        if saved_fd >= 0:
            real.flush()
            os.dup2(saved_fd, out_fd)
            os.close(saved_fd)


def _terminal() -> bool:
    return sys.stdout.isatty()


def _rich(output: Output) -> None:
    # lazy: rich loads only on a terminal
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console(highlight=False)
    for item in output.tables:
        if not isinstance(item, Table):
            console.print(item, markup=False)
            continue
        table = RichTable(title=item.title, box=box.SIMPLE_HEAD, header_style="bold")
        align = item.align.ljust(len(item.headers), "l")
        for header, a in zip(item.headers, align):
            table.add_column(header, justify="right" if a == "r" else "left", overflow="fold")
        for row in item.rows:
            table.add_row(*row)
        console.print(table)
    for note in output.notes:
        console.print(f"note: {note}", style="dim", markup=False)
    for line in output.footer:
        console.print(line, markup=False)
