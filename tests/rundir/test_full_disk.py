"""A full disk (ENOSPC) while writing a run's lock or the events log: an error naming the path,
never a bare "No space left on device"; a write cut short leaves a torn line that the next event
does not join."""

from __future__ import annotations

import errno
import logging
import os

import pytest

from scaling.errors import StoreFault
from scaling.rundir import events, lock
from scaling.rundir.events import append_event, read_events
from scaling.rundir.lock import is_locked, run_lock


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_writing_the_lock_names_it_and_releases_it(tmp_path, monkeypatch):
    monkeypatch.setattr(lock.os, "write", no_space)
    with pytest.raises(StoreFault, match=f"cannot write {tmp_path / 'r' / 'lock'}: No space left on device"):
        with run_lock(tmp_path / "r"):
            pytest.fail("ran without its lock's owner written")
    monkeypatch.undo()
    assert not is_locked(tmp_path / "r")


@pytest.mark.parametrize("call", ["open", "write"])
def test_a_full_disk_while_appending_an_event_names_the_log(tmp_path, monkeypatch, call):
    monkeypatch.setattr(events.os, call, no_space)
    with pytest.raises(StoreFault, match=f"cannot write {tmp_path / 'events.jsonl'}: No space left on device"):
        append_event(tmp_path, "start", "a")


def test_a_short_write_is_an_error_and_the_next_event_survives_it(tmp_path, monkeypatch, caplog):
    append_event(tmp_path, "start", "a")
    real = os.write
    monkeypatch.setattr(events.os, "write", lambda fd, data: real(fd, data[: len(data) // 2]))
    with pytest.raises(StoreFault, match=rf"cannot write {tmp_path / 'events.jsonl'}: only \d+ of \d+ bytes"):
        append_event(tmp_path, "finish", "a", status="ok")
    monkeypatch.undo()
    append_event(tmp_path, "start", "b")
    with caplog.at_level(logging.WARNING):
        assert [(e["event"], e["run_id"]) for e in read_events(tmp_path)] == [("start", "a"), ("start", "b")]
    assert "skipped 1 torn or ill-shaped line (line 2)" in caplog.text
