"""`scaling report`: the page is self-contained, embeds the Python constants and laws the planner
evaluates, and bad input is one line. The browser-side numbers: tests/report/test_report_browser.py."""

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.hardware import DEFAULT_MFU, GPU_PEAK_FLOPS
from scaling.laws.kaplan import PF_DAY
from scaling.laws.presets import get_preset
from scaling.fit.result import resolve_law
from scaling.report import report_html
from scaling.report.planner import planner_data

runner = CliRunner()
FIT = str(Path(__file__).resolve().parents[2] / "notebooks" / "fits" / "chinchilla-2022-approach3.json")


def embedded_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="planner-data">(.*?)</script>', page, re.S)
    assert match
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "page.html"
    result = runner.invoke(app, ["report", "--law", FIT, "--law", "kaplan2020", "--law", "chinchilla",
                                 "--out", str(out), "--range", "1e18:1e24", "--title", "Budget <2025>"])
    assert result.exit_code == 0, result.output
    return out.read_text()


def test_page_embeds_laws_draws_and_constants_from_python(page):
    fit = resolve_law(FIT)
    data = embedded_data(page)
    assert data["constants"]["gpu_peak_flops"] == GPU_PEAK_FLOPS
    assert data["constants"]["default_mfu"] == DEFAULT_MFU and data["constants"]["pf_day"] == PF_DAY
    assert data["flops_range"] == [1e18, 1e24]
    laws = {law["label"]: law for law in data["laws"]}
    assert laws["kaplan2020"]["budget_factor"] == 2.0 and laws["chinchilla"]["draws"] is None
    drawn = laws[fit.label]
    assert set(drawn["draws"]) == set(fit.coefficients) and drawn["level"] == fit.level
    assert drawn["draws"]["alpha"] == fit.samples["alpha"]


def test_page_is_self_contained_and_states_levels(page):
    assert "<title>Budget &lt;2025&gt;</title>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert page.count("data:image/png;base64,") == 1  # the fit's frontier figure, inline
    assert "95% interval" in page and "95% bootstrap band" in page


def test_loss_caveat_reads_as_a_sentence_of_the_page(page):
    match = re.search(r'<p class="note" id="loss-caveat">(.*?)</p>', page, re.S)
    assert match
    caveat = match.group(1)
    assert caveat.startswith("Losses are in nats/token") and caveat.endswith("comparable.")
    assert "Losses: losses" not in page and "`" not in caveat and "<code>scaling laws</code>" in caveat


def test_every_table_header_aligns_like_its_cells():
    # The presets' cells are left-aligned text: their headers are too (the CSS names both).
    css = (Path(__file__).resolve().parents[2] / "scaling" / "report" / "report.css").read_text()
    for table, column in (("#presets", ""), ("#plans", ".convention")):
        rule = next(line for line in css.splitlines() if f"{table} td{column}" in line)
        assert "text-align: left" in rule and (f"{table} th" in rule), rule


def test_laws_without_an_optimum_are_named_not_planned():
    kaplan_c = resolve_law(str(Path(__file__).resolve().parents[2] / "runs" / "cpu-isoflop" / "fits" / "total.kaplan_c.json"))
    data = planner_data([kaplan_c, get_preset("epoch2024")], flops_range=(1e18, 1e24))
    assert [law["label"] for law in data["laws"]] == ["epoch2024"]
    assert "Not in the planner" in report_html([kaplan_c], runs=None)


@pytest.mark.slow  # draws an IsoFLOP figure with its bootstrap (about 10 s here)
def test_isoflop_figure_from_runs(tmp_path):
    out = tmp_path / "page.html"
    result = runner.invoke(app, ["report", "--runs", "porian-2024-owt2-tuned", "--bootstrap", "10",
                                 "--law", "epoch2024", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "IsoFLOP profiles" in out.read_text()


def test_every_string_from_a_fit_file_is_escaped(tmp_path):
    # A crafted fit file (a digest, a message, an option: any string the page shows or embeds)
    # must not close the planner's <script> element or open one of its own.
    attack = "</script><script>alert(1)</script><!--"
    document = json.loads(Path(FIT).read_text())
    document["data_digest"] = attack
    document["message"] = attack
    document["options"] = {**document.get("options", {}), "note": attack}
    crafted = tmp_path / "crafted.json"
    crafted.write_text(json.dumps(document))
    out = tmp_path / "page.html"
    result = runner.invoke(app, ["report", "--law", str(crafted), "--out", str(out), "--title", attack])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<script") == 2  # the planner's data and its code, nothing else
    assert "alert(1)</script>" not in page and "<!--" not in page
    label = embedded_data(page)["laws"][0]["label"]  # the label carries the digest's first characters
    assert label == f"fit:chinchilla@{attack[:8]}"  # and still reads back as written


def test_bad_input_is_one_line(tmp_path):
    for args in (["--law", "nope"], ["--out", str(tmp_path / "page.txt")], ["--range", "5:1"],
                 ["--out", str(tmp_path / "missing" / "page.html")]):
        result = runner.invoke(app, ["report", "--out", str(tmp_path / "page.html"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert result.output.count("\n") == 1 and result.output.startswith("error:"), result.output
