"""A store opens nothing through a link it did not make: a planted symlink (git keeps them, so a
shared store can carry one) is refused with one line naming it, and its target is never
truncated, written, deleted from or trained into, even when the run is finished and only skipped."""

from __future__ import annotations

import json
import logging

import pytest
from store_world import CONFIG, finished_run, outside_file
from typer.testing import CliRunner

from scaling.cli import app
from scaling.errors import StoreFault
from scaling.rundir.events import append_event, read_events
from scaling.rundir.files import LinkRefused, run_dirs
from scaling.rundir.meta import read_sweep_meta, update_sweep_meta
from scaling.rundir.protocol import attempt, claim, open_run
from scaling.rundir.record import read_record_json
from scaling.rundir.summary import build_summary
from scaling.sweep.backends import RunTask, execute_run
from scaling.sweep.scheduler import schedule


def never_train() -> None:
    pytest.fail("trained through a link")


def test_a_linked_lock_of_a_finished_run_is_refused_and_its_target_untouched(tmp_path):
    sweep = tmp_path / "store" / "s"
    run_dir = finished_run(sweep)
    target = outside_file(tmp_path)
    (run_dir / "lock").symlink_to(target)
    with pytest.raises(LinkRefused, match=f"{run_dir / 'lock'} is a symbolic link") as refused:
        attempt(run_dir, sweep, "r1", CONFIG, never_train)
    assert isinstance(refused.value, StoreFault)  # a fault of the store: the sweep stops, exit 1
    assert target.read_text() == "the user's own data\n"
    assert not (sweep / "events.jsonl").exists()  # refused before the run was touched


def test_a_linked_run_directory_is_neither_trained_into_nor_cleaned(tmp_path):
    sweep = tmp_path / "store" / "s"
    sweep.mkdir(parents=True)
    elsewhere = outside_file(tmp_path).parent
    stale = elsewhere / ".record.json.k1ll3d.tmp"  # looks like a writer's leftover
    stale.write_text("{}")
    before = sorted(p.name for p in elsewhere.iterdir())
    (sweep / "r1").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(LinkRefused, match=f"{sweep / 'r1'} is a symbolic link"):
        attempt(sweep / "r1", sweep, "r1", CONFIG, never_train)
    with pytest.raises(LinkRefused):  # the trainer's own entry (scaling train --out LINK)
        open_run(sweep / "r1", "r1", None)  # type: ignore[arg-type]  (refused before the config is used)
    assert sorted(p.name for p in elsewhere.iterdir()) == before and stale.exists()


def test_a_linked_run_directory_is_named_and_left_out_of_the_summary(tmp_path, caplog):
    sweep = tmp_path / "s"
    finished_run(sweep, "real")
    elsewhere = finished_run(tmp_path / "elsewhere", "r1").parent
    (sweep / "r1").symlink_to(elsewhere / "r1", target_is_directory=True)
    with caplog.at_level(logging.WARNING):
        assert [p.name for p in run_dirs(sweep)] == ["real"]
    assert f"{sweep / 'r1'} is a symbolic link" in caplog.text
    assert list(build_summary(sweep)["run_id"]) == ["real"]


@pytest.mark.parametrize("name", ["record.json", "config.json"])
def test_a_linked_run_file_is_refused_when_read(tmp_path, name):
    run_dir = finished_run(tmp_path / "s")
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(outside_file(tmp_path))
    read = read_record_json if name == "record.json" else lambda d: claim(d, "r1")  # the trainer's claim
    with pytest.raises(LinkRefused, match=name):
        read(run_dir)


def test_a_linked_events_log_is_neither_appended_to_nor_read(tmp_path):
    sweep = tmp_path / "s"
    sweep.mkdir()
    target = outside_file(tmp_path)
    (sweep / "events.jsonl").symlink_to(target)
    with pytest.raises(LinkRefused, match="events.jsonl is a symbolic link"):
        append_event(sweep, "start", "r1")
    with pytest.raises(LinkRefused):
        read_events(sweep)
    assert target.read_text() == "the user's own data\n"


@pytest.mark.parametrize("name", ["sweep.json", ".sweep.lock"])
def test_linked_sweep_metadata_is_refused_and_its_target_untouched(tmp_path, name):
    sweep = tmp_path / "s"
    sweep.mkdir()
    target = outside_file(tmp_path)
    target.write_text(json.dumps({"runs": []}))
    (sweep / name).symlink_to(target)
    with pytest.raises(LinkRefused, match=f"{name} is a symbolic link"):
        update_sweep_meta(sweep, name="s", spec={}, runs=[{"run_id": "a"}], invocation={})
    assert json.loads(target.read_text()) == {"runs": []}
    if name == "sweep.json":
        with pytest.raises(LinkRefused):
            read_sweep_meta(sweep)


def test_scaling_runs_names_a_linked_store_file_in_one_line(tmp_path):
    sweep = tmp_path / "s"
    finished_run(sweep)
    (sweep / "sweep.json").symlink_to(outside_file(tmp_path))
    result = CliRunner().invoke(app, ["runs", str(sweep)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [f"error: {sweep / 'sweep.json'} is a symbolic link; a run store never opens a file through a "
                     "link (remove it, or copy the real file in its place)"]


class InlineBackend:
    """Runs each task at once in this process, through the sweep's executor."""

    def __init__(self) -> None:
        self.queue: list = []

    def free_slots(self) -> int:
        return 1 - len(self.queue)

    def submit(self, task) -> None:
        self.queue.append(task)

    def poll(self, timeout: float) -> list:
        done, self.queue = [execute_run(t, lambda cfg, run_dir: never_train()) for t in self.queue], []
        return done

    def close(self) -> None:
        pass


def test_a_sweep_over_a_planted_lock_stops_with_the_links_one_line(tmp_path):
    sweep = tmp_path / "s"
    run_dir = finished_run(sweep)
    target = outside_file(tmp_path)
    (run_dir / "lock").symlink_to(target)
    with pytest.raises(StoreFault) as stopped:
        schedule([RunTask("r1", None, sweep)], InlineBackend(), retries=0)  # type: ignore[arg-type]
    assert str(stopped.value) == (f"{run_dir / 'lock'} is a symbolic link; a run store never opens a file through a "
                                  "link (remove it, or copy the real file in its place); runs finished are kept, "
                                  "and rerunning the sweep once the store is fixed completes it")
    assert target.read_text() == "the user's own data\n"
