"""The names of a run store's files, and the one way they are opened: never through a link.

    runs/<sweep>/sweep.json        what was asked: the spec, the planned runs, command, git sha, machine
    runs/<sweep>/events.jsonl      append-only log: one line per run start / finish (provenance)
    runs/<sweep>/summary.parquet   one row per run dir, derived from them (never edited by hand)
    runs/<sweep>/<run_id>/         config.json, curve.parquet, checkpoint.pt, record.json, lock,
                                   branch-<step>.pt (a stable run's state kept for its cooldown branches)

A store is shared (committed to git, which keeps symlinks), so nothing in it is opened through a
symbolic link: files are opened with O_NOFOLLOW and run directories are refused when they are
links (`LinkRefused`, one line naming the path). The sweep directory itself is the one a user
names (`--out`, a path on the command line) and may be a link the user made. The store's own writes go through `write_atomic`
(a temporary file renamed into place: a rename replaces a link, it never writes through one).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path
from typing import BinaryIO

from scaling.atomic import make_dirs
from scaling.errors import StoreFault

logger = logging.getLogger(__name__)

CONFIG = "config.json"
RECORD = "record.json"
CURVE = "curve.parquet"
CHECKPOINT = "checkpoint.pt"
BRANCH_STATE = "branch-{step}.pt"
"""A stable run's whole training state after `step` steps, kept for the cooldown branches that start there."""
LOCK = "lock"
SWEEP_META = "sweep.json"
EVENTS = "events.jsonl"
SUMMARY = "summary.parquet"
SWEEP_LOCK = ".sweep.lock"



class CorruptFile(ValueError):
    """A run file that cannot be read (truncated, not JSON/parquet/a checkpoint, ill-shaped); names it."""


class LinkRefused(StoreFault):
    """A store path that is a symbolic link: the store opens nothing through a link it did not make."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ELOOP, f"{path} is a symbolic link; a run store never opens a file through a "
                                      "link (remove it, or copy the real file in its place)")


def check_folder(folder: Path) -> Path:
    """`folder` unless it is a symbolic link (LinkRefused); a missing folder passes."""
    folder = Path(folder)
    if folder.is_symlink():
        raise LinkRefused(folder)
    return folder


def make_run_dir(run_dir: Path) -> Path:
    """Create a run (or sweep) directory and its parents; LinkRefused when it is a link."""
    check_folder(run_dir)
    make_dirs(run_dir)
    return Path(run_dir)


def run_path(run_dir: Path, name: str) -> Path:
    """The path of file `name` in a run directory; LinkRefused when the run directory is a link."""
    return check_folder(run_dir) / name


def open_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """os.open with O_NOFOLLOW (and O_CLOEXEC): a link at `path` raises LinkRefused, never opens
    its target. (The folders above are checked where they are named: `run_path`.)"""
    path = Path(path)
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and path.is_symlink()):
            raise LinkRefused(path) from None
        raise


def read_bytes(path: Path) -> bytes:
    """A store file's bytes (FileNotFoundError when absent), never through a link."""
    with open_read(path) as f:
        return f.read()


def quarantine(path: Path, reason: str) -> Path:
    """Move a corrupt run file aside (kept for inspection as `<name>.corrupt-<UTC time>-<pid>`) and
    log where; the run is then retrained as if the file had never been written."""
    path = Path(path)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}")
    os.replace(path, target)  # renames the entry itself, a link included: nothing is followed
    logger.warning("%s is corrupt (%s); moved to %s and the run will be retrained", path, reason, target.name)
    return target


def clear_stale_temps(run_dir: Path) -> None:
    """Delete the temporary files a writer killed between its temporary file and the rename left
    behind (the real files are intact). Call under the run's lock: no one else is writing here."""
    check_folder(run_dir)
    for stale in Path(run_dir).glob(".*.tmp"):
        stale.unlink(missing_ok=True)  # unlinking a link removes the link, not its target


def run_dirs(sweep_dir: Path) -> list[Path]:
    """Run directories under a sweep directory (those holding a config.json or a record); a link
    to a directory is named in a warning and left out (its files are never read)."""
    found = []
    for path in sorted(Path(sweep_dir).iterdir()):
        if path.is_symlink():
            if path.is_dir():
                logger.warning("%s is a symbolic link; a run store never reads a run through a link: left out", path)
            continue
        if path.is_dir() and ((path / CONFIG).exists() or (path / RECORD).exists()):
            found.append(path)
    return found


def open_read(path: Path) -> BinaryIO:
    """A store file opened for reading in binary (FileNotFoundError when absent), never through a link."""
    return os.fdopen(open_file(path, os.O_RDONLY), "rb")
