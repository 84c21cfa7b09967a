"""A run's lock: two processes never train one run.

The trainer holds `fcntl.flock` on `<run_id>/lock`, which the kernel releases when a process
dies, so `kill -9` never leaves a stale lock; the file holds the holder's host and pid for
`scaling runs` and `scaling train`'s refusal. A sweep directory's `.sweep.lock` serialises
concurrent sweeps' read-modify-write of sweep.json. Lock files are opened with O_NOFOLLOW
(`files.open_file`): a planted link is refused, never truncated.

References: flock(2) (released on close and on process death).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from scaling.errors import StoreFault
from scaling.rundir.files import LOCK, SWEEP_LOCK, LinkRefused, make_run_dir, open_file, run_path


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[bool]:
    """Try to take the run's exclusive lock without waiting; yields whether it was taken.

    Creates the run directory. StoreFault naming the lock file when it cannot be opened or
    written (a full disk, a read-only store); LinkRefused when it, or the run directory, is a link.
    """
    run_dir = make_run_dir(run_dir)
    path = run_path(run_dir, LOCK)
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise StoreFault(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep directory's lock (waiting for it) around a read-modify-write of sweep.json."""
    sweep_dir = make_run_dir(sweep_dir)
    fd = _open_lock(sweep_dir / SWEEP_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int:
    try:
        return open_file(path, os.O_RDWR | os.O_CREAT)
    except LinkRefused:
        raise
    except OSError as exc:
        raise StoreFault(exc.errno, f"cannot open {path}: {exc.strerror or exc}") from exc


def is_locked(run_dir: Path) -> bool:
    """Whether some process holds the run's lock now (it is being trained)."""
    try:
        fd = open_file(run_path(run_dir, LOCK), os.O_RDONLY)
    except (FileNotFoundError, LinkRefused):  # a planted link is no one's lock
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
    return False


def lock_holder(run_dir: Path) -> str:
    """"<host> <pid>" of the process that last took the run's lock ("" when unknown)."""
    try:
        fd = open_file(run_path(run_dir, LOCK), os.O_RDONLY)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        return f.read(256).decode(errors="replace").strip()
