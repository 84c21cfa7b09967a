"""One renderer: every result-printing command takes --format table|json|csv, JSON carries its
schema tag, a number prints the same in every table; progress lines are rate-limited off a
terminal; library warnings print once each with a `warning:` prefix."""

from __future__ import annotations

import csv
import io
import json
import logging
import re

import pytest
from typer.testing import CliRunner

from scaling.cli import app, progress, render

runner = CliRunner()
COMMANDS = ["plan", "compare", "laws", "fit", "backtest", "runs", "sweep", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_result_command_takes_the_three_formats(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--format" in result.output and "table|json|csv" in result.output.replace("[", "").replace("]", "")


@pytest.mark.parametrize("args, schema", [
    (["plan", "--flops", "1e21"], "scaling.PlanReport/3"),
    (["plan", "--flops", "1e21", "--unique-tokens", "1e10"], "scaling.BeyondReport/2"),
    (["compare", "--flops", "1e21"], "scaling.Comparison/2"),
    (["laws"], "scaling.Laws/1"),
    (["fit", "chinchilla-2022", "--approach", "3", "--drop-highest", "5", "--jobs", "1"], "scaling.FitResult/3"),
])
def test_json_carries_its_schema_and_csv_parses(args: list[str], schema: str) -> None:
    document = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    assert document["schema"] == schema
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, [*args, "--format", "csv"]).stdout)))
    assert rows and all(len(row) == len(rows[0]) for row in rows)


def test_gpu_hours_print_the_same_in_every_table() -> None:
    plain = runner.invoke(app, ["plan", "--flops", "1e23", "--law", "chinchilla", "--gpu", "h100"]).stdout
    priced = runner.invoke(app, ["plan", "--flops", "1e23", "--law", "chinchilla", "--gpu", "h100",
                                 "--price-per-gpu-hour", "2"]).stdout
    hours = json.loads(runner.invoke(app, ["plan", "--flops", "1e23", "--law", "chinchilla", "--gpu", "h100",
                                           "--format", "json"]).stdout)["plans"][0]["gpu_hours"]
    cell = render.quantity(hours)
    assert cell.endswith("K") and f"  {cell}  " in plain and f"  {cell}  " in priced


def test_quantity_format() -> None:
    assert [render.quantity(v) for v in (None, 0.7788, 2.773, 4259, 46080, 1.82e9, 6.07e21)] == \
        ["-", "0.7788", "2.773", "4.26K", "46.1K", "1.82B", "6.07e+21"]
    assert render.duration(185) == "3m05s" and render.duration(7800) == "2h10m"


# Values at and just under each suffix boundary: the value is rounded to the digits shown before
# its suffix is chosen, so nothing prints as 1e+03K, 1e+03B or 2.23e+03T. The right-hand side is
# what a reader expects from the value rounded to three (quantity: four below 1,000) figures.
@pytest.mark.parametrize("value, si, quantity", [
    (999.4, "999", "999.4"),
    (999.6, "1K", "999.6"),
    (999.96, "1K", "1K"),
    (1_000, "1K", "1K"),
    (999_400, "999K", "999K"),
    (999_600, "1M", "1M"),
    (999_999, "1M", "1M"),
    (999.6e6, "1B", "1B"),
    (999.6e9, "1T", "1T"),
    (999.4e12, "999T", "999T"),
    (999.6e12, "1e+15", "1e+15"),
    (2.23e15, "2.23e+15", "2.23e+15"),
    (-999_600, "-1M", "-1M"),
    (4_259, "4.26K", "4.26K"),
])
def test_numbers_at_a_suffix_boundary(value: float, si: str, quantity: str) -> None:
    assert render.si(value) == si
    assert render.quantity(value) == quantity


@pytest.mark.parametrize("seconds, text", [
    (0.4, "0s"), (59.4, "59s"), (59.6, "1m00s"), (185, "3m05s"), (3599.4, "59m59s"), (3599.6, "1h00m"),
    (7_170, "2h00m"), (7_800, "2h10m"),
])
def test_durations_at_a_unit_boundary(seconds: float, text: str) -> None:
    assert render.duration(seconds) == text


def test_tables_use_rich_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["plan", "--flops", "1e21", "--law", "chinchilla"])
    assert result.exit_code == 0 and "chinchilla" in result.stdout
    assert "----" not in result.stdout  # rich draws its own rule, not the plain dashed one


def test_progress_off_a_terminal_is_rate_limited(capsys: pytest.CaptureFixture[str]) -> None:
    # re-checking 60 finished runs: every update arrives within a second; one line, the last
    with progress.ProgressView("sweep", 60, unit="runs") as view:
        for done in range(1, 61):
            view.update(done, f"{done} done before")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) <= 2 and lines[-1] == "sweep 60/60 runs: 60 done before"  # the first update and the end


def test_progress_on_a_terminal_draws_its_final_state(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    view = progress.ProgressView("sweep", 8, unit="runs")
    view.terminal = True
    with view:
        for done in range(1, 9):
            view.update(done, f"{done} ok")
    assert "8/8" in capsys.readouterr().err  # the last frame, not a stale one


def test_library_warnings_print_once_with_a_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    progress.install()
    for _ in range(8):
        logging.getLogger("scaling.training.data").warning("validation split holds %d windows", 79)
    assert capsys.readouterr().err.splitlines() == ["warning: validation split holds 79 windows"]


@pytest.mark.parametrize("value, end, fixed, text", [
    (477.8, 723.0, False, "723.0"), (2143.0, 980.1, False, "980"), (0.3473, 0.31, False, "0.3100"),
    (2.13, 2.13, True, "2.130"), (1.955, 1.93, True, "1.930"), (2.118e4, 707.9, False, "707.9"),
    (2.616e-06, 1.417e-06, False, "1.417e-06"),
])
def test_an_interval_end_takes_its_values_decimals(value: float, end: float, fixed: bool, text: str) -> None:
    from scaling.cli.fit import _like

    assert _like(value, end, fixed=fixed) == text


@pytest.mark.slow  # a bootstrapped fit: about 7 s
def test_a_fit_prints_each_value_and_its_interval_to_the_same_decimals() -> None:
    # "477.8 [295.3, 723]" and "loss 2.13 [2.119, 2.143]" read as if the ends were less precise
    # than the value: every number of a row shows the value's decimals (exponent form excepted).
    result = runner.invoke(app, ["fit", "chinchilla-2022", "--approach", "3", "--drop-highest", "5",
                                 "--bootstrap", "20", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    rows = re.findall(r"^\s+(\w+)\s+(\S+)\s+\[(\S+), (\S+)\]\s*$", result.stdout, flags=re.M)
    rows += re.findall(r"loss (\S+) \[(\S+), (\S+)\]", result.stdout)
    assert len(rows) >= 9
    for row in rows:
        numbers = row[-3:]
        if any("e" in n for n in numbers):
            continue
        assert len({len(n.partition(".")[2]) for n in numbers}) == 1, row
