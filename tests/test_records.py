"""Run records: a failed run's record is a RunRecord like any other, written by RunSink's writer
and read back by `read_record`; failed records of earlier versions still read."""

from __future__ import annotations

import json

import pytest

from scaling.atomic import write_json
from scaling.rundir.curve import SCHEMA_VERSION
from scaling.rundir.record import MEASURED, RunRecord, TRACEBACK_CHARS, read_record, read_record_json, write_failed_record
from scaling.rundir.summary import summary_row

CONFIG = {"seed": 3, "flops_method": "6ND", "model": {"n_layer": 2, "d_model": 16, "n_head": 2, "seq_len": 32,
                                                       "vocab_size": 256}}


def test_failed_record_is_a_typed_run_record(tmp_path):
    trace = "Traceback (most recent call last):\n" + "  line\n" * 2000 + "RuntimeError: boom\n"
    write_failed_record(tmp_path, "abc123", CONFIG, "RuntimeError: boom", trace)
    record = read_record(tmp_path)
    assert isinstance(record, RunRecord) and record.status == "failed" and record.loss is None
    assert record.error == "RuntimeError: boom" and record.config == CONFIG
    assert len(record.traceback) == TRACEBACK_CHARS and record.traceback.endswith("RuntimeError: boom\n")
    assert all(getattr(record, name) is None for name in MEASURED)
    # The keys the sweep's readers use, on disk as before, now with the record's schema version.
    raw = read_record_json(tmp_path)
    assert {k: raw[k] for k in ("run_id", "status", "loss", "error", "config")} == {
        "run_id": "abc123", "status": "failed", "loss": None, "error": "RuntimeError: boom", "config": CONFIG}
    assert raw["schema_version"] == SCHEMA_VERSION and RunRecord.from_dict(json.loads(json.dumps(raw))) == record
    row = summary_row(tmp_path, "demo")
    assert row["status"] == "failed" and row["loss"] is None and row["seed"] == 3 and row["n_layer"] == 2


def test_failed_record_of_an_earlier_version_still_reads(tmp_path):
    # As write_failed_record wrote it before records were typed: no schema_version, six keys.
    write_json(tmp_path / "record.json", {"run_id": "abc123", "status": "failed", "loss": None,
                                          "error": "worker died with exit code 9", "traceback": "", "config": CONFIG})
    record = read_record(tmp_path)
    assert record is not None and record.status == "failed" and record.error == "worker died with exit code 9"
    assert record.traceback == "" and record.params is None and record.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("status", ["ok", "diverged"])
def test_a_record_of_a_run_that_ended_needs_its_measurements(status):
    with pytest.raises(ValueError, match="needs params, params_nonembedding, tokens"):
        RunRecord(run_id="abc123", status=status, loss=None, config=CONFIG)
