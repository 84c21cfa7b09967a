"""The report page in a real browser: Debian's chromium, headless, driven by selenium through
chromedriver. Each budget set on the slider (or typed as GPU-hours) shows, for every law, the
numbers `scaling plan --format json` gives for that budget, to 3 significant digits, intervals
included. Skips, saying why, where chromium, chromedriver or selenium is missing
(CI: `apt-get install chromium chromium-driver`, selenium from the dev extras).

`python tests/report/test_report_browser.py OUT.png` writes the screenshot of the page that docs/report.md shows.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling.cli import app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ROOT = Path(__file__).resolve().parents[2]
FIT = str(ROOT / "notebooks" / "fits" / "chinchilla-2022-approach3.json")
STUDY_FITS = [str(ROOT / "runs" / "cpu-isoflop" / "fits" / f"total.{name}.json") for name in ("approach_2", "kaplan_nd")]
"""Fits of two more forms with bootstrap draws: a power-law allocation and Kaplan's L(N, D)."""
LAWS = [FIT, *STUDY_FITS, "chinchilla", "chinchilla-unrounded", "epoch2024", "chinchilla-approach2", "kaplan2020",
        "tokens-per-param-20", "muennighoff2023"]
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
SUFFIXES = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}

pytestmark = [pytest.mark.needs("selenium"),
              pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                 reason="needs Debian's chromium and chromium-driver "
                                        "(apt-get install chromium chromium-driver)")]
runner = CliRunner()


def start_browser(user_data_dir: str, width: int = 1280, height: int = 1400):
    """Headless chromium under chromedriver, with a fresh profile and no background traffic."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    out = folder / "report.html"
    result = runner.invoke(app, ["report", *(a for law in LAWS for a in ("--law", law)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    driver = start_browser(str(folder / "profile"))
    try:
        driver.get(out.resolve().as_uri())
        assert driver.execute_script("return document.body.dataset.ready") == "true"
        yield driver
    finally:
        driver.quit()


def set_value(driver, element_id: str, value: str, event: str) -> None:
    driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                          "e.dispatchEvent(new Event(arguments[2]));", element_id, value, event)


def shown_plans(driver) -> dict[str, dict[str, object]]:
    """{label: {column: (value, low, high) as shown}}; numbers parsed from the cells' text."""
    rows = driver.execute_script("""
        return Array.from(document.querySelectorAll('#plans tbody tr')).filter(r => !r.hidden).map(r => {
          const out = {_row: r.dataset.label};
          for (const td of r.cells) {
            const q = (s) => { const e = td.querySelector(s); return e ? e.textContent : null; };
            out[td.className] = [q('.value'), q('.low'), q('.high'), q('.interval')];
          }
          return out;
        });""")
    return {row.pop("_row"): row for row in rows}


def number(text: str) -> float:
    match = re.fullmatch(r"\$?([-+0-9.e]+)([KMBT]?)", text)
    assert match, text
    return float(match.group(1)) * SUFFIXES.get(match.group(2), 1.0)


def agrees(shown: float, expected: float) -> bool:
    """`shown` equals `expected` to 3 significant digits (half a unit in the third digit)."""
    unit = 10 ** (math.floor(math.log10(abs(expected))) - 2)
    return abs(shown - expected) <= 0.5 * unit * (1 + 1e-9)


def planned(*options: str) -> dict[str, dict]:
    result = runner.invoke(app, ["plan", *(a for law in LAWS for a in ("--law", law)), *options, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {plan["label"]: plan for plan in json.loads(result.output)["plans"]}


def check_against_plan(driver, plans: dict[str, dict]) -> None:
    shown = shown_plans(driver)
    assert set(shown) == set(plans)
    columns = {"params": "params", "tokens": "tokens", "tokens-per-param": "tokens_per_param", "loss": "loss",
               "gpu-hours": "gpu_hours", "days": "days"}
    for law, plan in plans.items():
        for column, key in columns.items():
            text, low, high, interval = shown[law][column]
            if plan[key] is None:
                assert text == "-", (law, column)
                continue
            assert agrees(number(text), plan[key]), (law, column, text, plan[key])
            span = plan.get(f"{key}_interval")
            if span is None:
                assert low is None, (law, column)
            else:
                assert interval.startswith("95% ["), interval  # the level is printed with the interval
                assert agrees(number(low), span[0]) and agrees(number(high), span[1]), (law, column, interval, span)


@pytest.mark.parametrize("log_flops", [18.0, 20.5, 22.37, 24.9])
def test_slider_budgets_show_what_scaling_plan_gives(page, log_flops):
    set_value(page, "gpu", "a100", "input")
    set_value(page, "gpus", "8", "input")
    set_value(page, "mfu", "0.5", "input")
    set_value(page, "budget-slider", str(log_flops), "input")
    flops = float(page.find_element("id", "budget").get_attribute("data-flops"))
    assert flops == pytest.approx(10**log_flops, rel=1e-12)
    plans = planned("--flops", repr(flops), "--gpu", "a100", "--gpus", "8", "--mfu", "0.5")
    assert plans[FIT_LABEL]["params_interval"] is not None  # the fit's bootstrap intervals are compared too
    check_against_plan(page, plans)


def test_gpu_hours_budget_shows_what_scaling_plan_gives(page):
    set_value(page, "gpu", "h200", "input")
    set_value(page, "gpus", "64", "input")
    set_value(page, "mfu", "0.35", "input")
    set_value(page, "budget-gpu-hours", "25000", "change")
    check_against_plan(page, planned("--gpu-hours", "25000", "--gpu", "h200", "--gpus", "64", "--mfu", "0.35"))


def test_law_picker_hides_and_shows_a_law(page):
    box = page.find_element("css selector", "#law-picker input[data-label='kaplan2020']")
    box.click()
    assert "kaplan2020" not in shown_plans(page)
    box.click()
    assert "kaplan2020" in shown_plans(page)


def error_text(driver) -> str:
    return driver.find_element("id", "input-error").text


def values_shown(driver) -> set[str]:
    return {cells[column][0] for cells in shown_plans(driver).values()
            for column in ("params", "tokens", "gpu-hours", "days")}  # every law has these


@pytest.mark.parametrize("text, message", [
    ("abc", "not a budget: 'abc'"), ("1e22x", "not a budget: '1e22x'"), ("-5", "not a budget: '-5'"),
    ("1e40", "1e+40 FLOPs is outside this page's budgets"), ("1e5", "1e+5 FLOPs is outside this page's budgets"),
])
def test_a_typed_budget_that_is_not_one_is_refused_with_a_message(page, text, message):
    set_value(page, "budget-flops", "1e21", "change")
    assert error_text(page) == "" and "-" not in values_shown(page)
    set_value(page, "budget-flops", text, "change")
    assert message in error_text(page)
    assert "bad" in page.find_element("id", "budget-flops").get_attribute("class")
    assert values_shown(page) == {"-"}  # no earlier answer stays on screen
    set_value(page, "budget-flops", "1e21", "change")  # a good budget clears the message
    assert error_text(page) == "" and "-" not in values_shown(page)


@pytest.mark.parametrize("element, text, message", [
    ("gpus", "2.5", "GPUs must be a whole number"), ("mfu", "1.5", "MFU must be a number in (0, 1]"),
    ("price", "-1", "$ per GPU-hour must be a number >= 0"),
])
def test_typed_hardware_that_is_not_valid_is_refused_with_a_message(page, element, text, message):
    previous = page.find_element("id", element).get_attribute("value")
    set_value(page, element, text, "input")
    assert message in error_text(page)
    set_value(page, element, previous, "input")
    assert error_text(page) == ""


def test_loss_and_its_interval_print_the_same_decimals(page):
    set_value(page, "budget-slider", "21", "input")
    text, low, high, _ = shown_plans(page)[FIT_LABEL]["loss"]
    decimals = {len(part.split(".")[1]) for part in (text, low, high)}
    assert len(decimals) == 1, (text, low, high)


def test_headers_align_like_their_cells(page):
    mismatched = page.execute_script("""
        const out = [];
        for (const table of document.querySelectorAll('table')) {
          const heads = table.querySelectorAll('thead th'), row = table.querySelector('tbody tr');
          if (!row) continue;
          heads.forEach((th, i) => {
            const td = row.cells[i];
            if (td && getComputedStyle(th).textAlign !== getComputedStyle(td).textAlign) out.push(th.textContent);
          });
        }
        return out;""")
    assert mismatched == []


def test_page_loads_nothing_from_outside(page):
    assert page.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.page_source)
    assert page.execute_script("return document.images.length") >= 1
    assert all(page.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"))


def _fit_label() -> str:
    from scaling.fit.result import resolve_law

    return resolve_law(FIT).label


FIT_LABEL = _fit_label()


if __name__ == "__main__":  # docs/report.md's screenshot: python tests/report/test_report_browser.py docs/figures/report.png
    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as folder:
        html_path = Path(folder) / "report.html"
        laws = [FIT, "chinchilla-unrounded", "epoch2024", "kaplan2020", "tokens-per-param-20"]
        result = runner.invoke(app, ["report", *(a for law in laws for a in ("--law", law)), "--runs",
                                     "porian-2024-rw-tuned", "--out", str(html_path)])
        assert result.exit_code == 0, result.output
        driver = start_browser(str(Path(folder) / "profile"), height=1180)
        try:
            driver.get(html_path.resolve().as_uri())
            set_value(driver, "gpus", "256", "input")
            set_value(driver, "price", "2.5", "input")
            set_value(driver, "budget-slider", "22", "input")
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
    print(f"wrote {target}")
