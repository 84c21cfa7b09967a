"""Damaged store files never give a traceback: each reader checks the shape it relies on and
names the file (and field) it cannot read; a damaged run record is quarantined by the sweep and
the run retrained, like a truncated one."""

from __future__ import annotations

import json
import logging
import re

import pytest
from store_world import CONFIG, RECORD, finished_run
from typer.testing import CliRunner

from scaling.atomic import write_json
from scaling.cli import app
from scaling.rundir.events import append_event, read_events
from scaling.rundir.files import CorruptFile
from scaling.rundir.meta import read_sweep_meta, update_sweep_meta
from scaling.rundir.protocol import attempt, run_status
from scaling.rundir.record import read_record_json, read_record_lenient
from scaling.rundir.summary import build_summary, status_table


@pytest.mark.parametrize(("content", "field"), [
    ('{"runs": 5}', "`runs` must be a list"),
    ('{"runs": [{}]}', "`runs[0]` must be an object with a string `run_id`"),
    ("[]", "expected a JSON object, got a JSON array"),
    ('{"runs": [], "history": 3}', "`history` must be a list"),
    ('{"runs": [', "not valid JSON"),
])
def test_a_damaged_sweep_json_is_one_line_naming_it(tmp_path, content, field):
    sweep = tmp_path / "s"
    finished_run(sweep)
    (sweep / "sweep.json").write_text(content)
    with pytest.raises(CorruptFile, match=re.escape(field)):
        read_sweep_meta(sweep)
    with pytest.raises(CorruptFile, match=re.escape(field)):  # a sweep refuses to merge into it
        update_sweep_meta(sweep, name="s", spec={}, runs=[], invocation={})
    result = CliRunner().invoke(app, ["runs", str(sweep)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {sweep / 'sweep.json'}: ") and field in line


@pytest.mark.parametrize("line", ["42", '{"event": "start"}', '{"run_id": 7, "event": "start"}', "[1, 2]", "nul",
                                  '{"event": "design_round", "run_id": ""}',
                                  '{"event": "design_fit", "run_id": "", "round": "1"}'])
def test_an_ill_shaped_event_line_is_reported_and_the_others_kept(tmp_path, caplog, line):
    append_event(tmp_path, "start", "a")
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write(line + "\n")
    append_event(tmp_path, "finish", "a", status="ok")
    with caplog.at_level(logging.WARNING):
        events = read_events(tmp_path)
    assert [(e["event"], e["run_id"]) for e in events] == [("start", "a"), ("finish", "a")]
    assert f"{tmp_path / 'events.jsonl'}: skipped 1 torn or ill-shaped line (line 2)" in caplog.text


def test_a_torn_event_line_does_not_swallow_the_next_event(tmp_path, caplog):
    append_event(tmp_path, "start", "a")
    with open(tmp_path / "events.jsonl", "a") as f:  # a write cut short by a full disk: no newline
        f.write('{"time": 1.0, "event": "finish", "run_')
    append_event(tmp_path, "start", "b")  # the writer ends the torn line first
    with caplog.at_level(logging.WARNING):
        assert [e["run_id"] for e in read_events(tmp_path)] == ["a", "b"]
    assert "skipped 1 torn or ill-shaped line (line 2)" in caplog.text


def test_an_event_glued_to_a_torn_line_by_an_older_writer_is_recovered(tmp_path, caplog):
    finish = json.dumps({"time": 2.0, "event": "finish", "run_id": "a", "status": "ok"})
    (tmp_path / "events.jsonl").write_text('{"time": 1.0, "event": "sta' + finish + "\n")
    with caplog.at_level(logging.WARNING):
        assert read_events(tmp_path) == [json.loads(finish)]
    assert "line 1" in caplog.text


@pytest.mark.parametrize(("changes", "problem"), [
    ({"config": [1, 2]}, "`config` is [1, 2], not a dict"),
    ({"loss": "3.2"}, "`loss` is '3.2', not a finite number"),
    ({"loss": float("nan")}, "`loss` is nan, not a finite number"),
    ({"params": True}, "`params` is True, not a int"),
    ({"device": 5}, "`device` is 5, not a str"),
])
def test_a_record_of_the_wrong_shape_is_corrupt_named_and_quarantined(tmp_path, changes, problem):
    sweep = tmp_path / "s"
    run_dir = finished_run(sweep)
    (run_dir / "record.json").write_text(json.dumps({**RECORD, **changes}))  # json writes NaN as NaN
    with pytest.raises(CorruptFile, match=f"{run_dir / 'record.json'}: not a run record"):
        read_record_json(run_dir)
    assert problem in read_record_lenient(run_dir)["error"]
    assert run_status(run_dir) == "corrupt"
    assert status_table(sweep)["status"].tolist() == ["corrupt"]  # readers name it, never stop
    trained = []
    assert attempt(run_dir, sweep, "r1", CONFIG, lambda: trained.append(1)).outcome == "failed"
    assert trained == [1]  # the sweep moved it aside and retrained the run
    assert len(list(run_dir.glob("record.json.corrupt-*"))) == 1


def test_a_record_missing_a_required_field_is_corrupt(tmp_path):
    run_dir = finished_run(tmp_path / "s")
    write_json(run_dir / "record.json", {k: v for k, v in RECORD.items() if k != "config"})
    with pytest.raises(CorruptFile, match="no `config`"):
        read_record_json(run_dir)


def test_damaged_config_values_are_named_and_left_empty_in_the_summary(tmp_path, caplog):
    sweep = tmp_path / "s"
    run_dir = finished_run(sweep, config={**CONFIG, "seed": "four", "model": {**CONFIG["model"], "n_layer": [2]}})
    ghost = sweep / "r2"
    ghost.mkdir()
    (ghost / "config.json").write_text(json.dumps({"run_id": "r2", "config": ["not", "a", "dict"]}))
    with caplog.at_level(logging.WARNING):
        frame = build_summary(sweep).set_index("run_id")
    assert frame.loc["r1", "seed"] is pd_na() and frame.loc["r1", "n_layer"] is pd_na()
    assert frame.loc["r1", "d_model"] == 16 and frame.loc["r2", "status"] == "killed"
    assert f"{run_dir}: seed = 'four' is not an integer; left empty" in caplog.text
    assert f"{ghost / 'config.json'}: not a run's config" in caplog.text


def pd_na():
    import pandas as pd

    return pd.NA
