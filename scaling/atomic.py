"""Atomic file writes: a temporary file in the same folder, fsynced, renamed into place, so a
killed process never leaves a half-written file. `write_json` is the one JSON writer."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from scaling.errors import StoreFault


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, fsync, rename.

    Raises StoreFault (scaling.errors) naming `path` when it cannot be written (read-only, full,
    no permission); the previous file, if any, is left as it was.
    """
    path = Path(path)
    try:
        _write_atomic(path, data)
    except OSError as exc:
        if isinstance(exc, StoreFault):
            raise
        raise StoreFault(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc


def make_dirs(folder: Path) -> None:
    """Create `folder` and its parents (nothing when it exists); StoreFault naming it when it cannot
    be created (a read-only or missing mount, no permission, a file in the way)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreFault(exc.errno, f"cannot create {folder}: {exc.strerror or exc}") from exc


def check_target(out: str | Path, *, argument: str, suffixes: tuple[str, ...] = ()) -> Path:
    """`out` as a Path when a file can be written there: one of `suffixes` (when given), in an
    existing folder, not itself a folder. Else a ValueError naming `argument` (the CLI names its
    option), raised before the work that would produce the file."""
    path = Path(out)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"`{argument}` must end in {', '.join(suffixes)}, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"`{argument}`: {str(path)!r} is a folder; give a file name")
    if not path.parent.is_dir():
        raise ValueError(f"`{argument}`: no such directory {str(path.parent)!r}")
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; a shared store must be readable
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it."""
    status = Path("/proc/self/status")
    try:
        for line in status.read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, then restore at once
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any, *, sort_keys: bool = True) -> None:
    """The one JSON writer: indented, no NaN (ValueError), atomically (`write_atomic`); values
    JSON has no type for (paths, dates) are written as their str()."""
    text = json.dumps(obj, indent=2, sort_keys=sort_keys, allow_nan=False, default=str)
    write_atomic(path, (text + "\n").encode())
