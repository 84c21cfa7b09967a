"""The committed studies, rechecked as a newcomer would: a finished designed study's dry run is
not an error, and a sweep's dry run lists the tokens and FLOPs its runs actually trained."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from scaling.cli import app
from scaling.sweep.dryrun import dry_run
from scaling.sweep.specfile import load_spec

ROOT = Path(__file__).resolve().parents[2]


def test_a_finished_designed_study_dry_runs_to_a_clear_message(tmp_path):
    (tmp_path / "cpu-design").symlink_to(ROOT / "runs" / "cpu-design")
    events = (ROOT / "runs" / "cpu-design" / "events.jsonl").read_bytes()
    result = CliRunner().invoke(app, ["sweep", "cpu-design", "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"cpu-design: the designed study is over (6 rounds done); no round left to "
                                     f"train (scaling runs {tmp_path / 'cpu-design'} lists its runs and rounds)")
    assert (ROOT / "runs" / "cpu-design" / "events.jsonl").read_bytes() == events


def test_dry_run_tokens_and_flops_are_what_the_runs_trained():
    # The committed tune grid was trained by the real trainer: each record holds the tokens it
    # trained on (the budget in whole batches), which the dry run must list, not the budget.
    rows = dry_run(load_spec("cpu-tune"), ROOT / "runs", measure=False).runs
    assert len(rows) == 175
    for row in rows:
        record = json.loads((ROOT / "runs" / "cpu-tune" / row["run_id"] / "record.json").read_text())
        assert row["tokens"] == record["tokens"], row["run_id"]
        assert abs(row["flops"] / record["flops"] - 1) < 1e-12, row["run_id"]


def test_progress_of_nothing_prints_no_zero_of_zero(capsys):
    from scaling.cli.progress import ProgressView

    with ProgressView("cpu-design", 0, unit="runs"):
        pass
    with ProgressView("cpu-smoke", 0, unit="runs") as view:
        view.update(8, "8 ok", total=8)
    err = capsys.readouterr().err
    assert "0/0" not in err and "cpu-smoke 8/8 runs: 8 ok" in err
