"""Progress and log lines on stderr, for `scaling sweep` and `scaling train`.

On a terminal a rich progress bar is redrawn in place and its final state stays on screen; off a
terminal (a log file, CI) a plain line is printed at most every `LOG_EVERY_S` seconds, and once
at the end. Library warnings print as one line with a `warning:` prefix: the `scaling` loggers' (from the
sweep's workers too) each distinct message once per command, above the bar when one is drawn;
`warnings.warn` (FitWarning, ...) once per message and place, as Python's filters do.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from types import TracebackType
from typing import Any

from scaling.cli.render import duration

LOG_EVERY_S = 10.0
"""Seconds between progress lines when stderr is not a terminal."""

_live: Any = None
"""The rich Progress on screen, if any: messages print above it."""


def say(line: str) -> None:
    """One line on stderr, above the progress bar when one is drawn."""
    if _live is not None:
        _live.console.print(line, markup=False, highlight=False)
    else:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class _OncePerMessage(logging.Handler):
    """`warning: message` on stderr, each distinct message once (until `reset`)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        line = f"{record.levelname.lower()}: {' '.join(record.getMessage().split())}"
        if line not in self.seen:
            self.seen.add(line)
            say(line)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    # `warnings.warn` (FitWarning, ...) as one line without the source line; Python's default
    # filter already shows each message once per place it is raised.
    return f"warning: {' '.join(str(message).split())}\n"


def install() -> None:
    """Route the `scaling` loggers and `warnings.warn` to one-line, once-each messages on stderr
    (idempotent; forgets what was said, so each command starts afresh)."""
    logger = logging.getLogger("scaling")
    handler = next((h for h in logger.handlers if isinstance(h, _OncePerMessage)), None)
    if handler is None:
        handler = _OncePerMessage()
        logger.addHandler(handler)
    handler.seen.clear()
    warnings.formatwarning = _one_line_warning


class ProgressView:
    """A progress display for one task: `update(completed, status)` as it goes, closed by `with`.

    `total` and `completed` are in `unit`s (runs, tokens); `status` is the text after the bar
    (counts, loss, ETA).
    """

    def __init__(self, description: str, total: float, *, unit: str = "", enabled: bool = True,
                 log_every_s: float = LOG_EVERY_S) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.enabled, self.log_every_s = enabled, log_every_s
        self.terminal = sys.stderr.isatty()
        self.completed, self.status = 0.0, ""
        self._progress: Any = None
        self._task: Any = None
        self._printed_at = -float("inf")
        self._printed = ""

    def __enter__(self) -> ProgressView:
        global _live
        if self.enabled and self.terminal:
            # lazy: rich loads only on a terminal
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            counter = MofNCompleteColumn() if self.unit == "runs" else TextColumn("{task.percentage:>3.0f}%")
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), counter,
                                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                      console=Console(stderr=True), transient=False)
            self._task = self._progress.add_task(self.description, total=self.total, status="")
            self._progress.start()
            _live = self._progress
        return self

    def update(self, completed: float, status: str = "", total: float | None = None) -> None:
        self.completed, self.status = completed, status
        if total is not None:
            self.total = total
        if not self.enabled:
            return
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=self.total, status=status)
        elif time.monotonic() - self._printed_at >= self.log_every_s:
            self._print_line()

    def _print_line(self) -> None:
        line = self.line()
        if line != self._printed:
            say(line)
        self._printed, self._printed_at = line, time.monotonic()

    def line(self) -> str:
        """The plain progress line: `description done/total unit (pct): status`."""
        if self.unit == "runs":
            done = f"{self.completed:.0f}/{self.total:.0f} runs"
        else:
            done = f"{self.completed / max(self.total, 1):.0%}"
        return f"{self.description} {done}" + (f": {self.status}" if self.status else "")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        global _live
        nothing = self.unit == "runs" and self.total == 0  # e.g. a finished designed study: no "0/0 runs"
        if self._progress is not None:
            if nothing:
                self._progress.remove_task(self._task)
            else:
                self._progress.update(self._task, completed=self.completed, status=self.status)
                self._progress.refresh()  # the final state stays on screen
            self._progress.stop()
            _live = None
        elif self.enabled and kind is None and not nothing:
            self._print_line()


def sweep_status(state: Any) -> str:
    """A sweep's progress line: counts by outcome, runs in flight, and the ETA."""
    eta = state.eta_s
    return (f"{state.ok} ok, {state.diverged} diverged, {state.failed} failed, {state.skipped} done before, "
            f"{state.running} running" + (f", {state.elsewhere} elsewhere" if state.elsewhere else "")
            + f" | ETA {duration(eta) if eta is not None else '?'}")
