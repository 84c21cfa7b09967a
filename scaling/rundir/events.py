"""events.jsonl: a sweep's append-only log, one JSON object a line (run start and finish, a
designed study's rounds). Appended with O_APPEND in one write, so concurrent writers' lines never
interleave; opened with O_NOFOLLOW.

A line cut short (a full disk, a crash mid-write) is reported with its line number and dropped;
it never swallows the event after it: the writer ends a torn line before appending, and the
reader finds an event glued onto a torn line by an older writer.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from scaling.errors import StoreFault
from scaling.rundir.files import EVENTS, LinkRefused, open_file, read_bytes

logger = logging.getLogger(__name__)

_START = b'{"time": '
"""How every event line starts (the writer puts `time` first)."""


FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "finish": {"status": str},
    "design_round": {"round": int, "proposal": dict},
    "design_fit": {"round": int},
    "design_stop": {"reason": str},
}
"""Fields (and their JSON types) an event of each kind must hold besides `event` and `run_id`:
what the readers of the log (the sweep's time model, a designed study's rounds) index by."""


def events_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / EVENTS


def append_event(sweep_dir: Path, event: str, run_id: str, **fields: Any) -> None:
    """Append one JSON line to events.jsonl (O_APPEND, one write: lines never interleave).
    StoreFault naming the file when it cannot be written whole (a full disk)."""
    line = json.dumps({"time": time.time(), "event": event, "run_id": run_id,
                       "host": socket.gethostname(), "pid": os.getpid(), **fields}, default=str)
    data = (line + "\n").encode()
    path = events_path(sweep_dir)
    try:
        fd = open_file(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    except LinkRefused:
        raise
    except OSError as exc:
        raise StoreFault(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: end it, so it stays alone
            data = b"\n" + data
        written = os.write(fd, data)
        if written < len(data):
            raise StoreFault(0, f"cannot write {path}: only {written} of {len(data)} bytes written (disk full?)")
    except OSError as exc:
        if isinstance(exc, StoreFault):
            raise
        raise StoreFault(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def read_events(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every well-formed event (a JSON object with string `event` and `run_id`, and the FIELDS of
    its kind), in file order.
    A torn or ill-shaped line is named in one warning (file and line number) and skipped; an
    event a torn line swallowed is recovered."""
    path = events_path(sweep_dir)
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return []
    events, bad = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        event = _parse(line)
        if event is None:
            bad.append(number)
            event = _glued(line)  # an older writer appended after a torn line: the event starts later
        if event is not None:
            events.append(event)
    if bad:
        lines = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        logger.warning("%s: skipped %d torn or ill-shaped line%s (line %s)", path, len(bad),
                       "s" if len(bad) > 1 else "", lines)
    return events


def _glued(line: bytes) -> dict[str, Any] | None:
    """The event that starts inside `line` after a torn prefix, if one does."""
    cut = line.find(_START, 1)
    while cut > 0:
        event = _parse(line[cut:])
        if event is not None:
            return event
        cut = line.find(_START, cut + 1)
    return None


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str) \
            or not isinstance(event.get("run_id"), str):
        return None
    for name, kind in FIELDS.get(event["event"], {}).items():
        if not isinstance(event.get(name), kind) or isinstance(event.get(name), bool):
            return None
    return event
