"""Notebook API: `to_frame()` and `_repr_html_` on fits, plans and reports, read from `to_dict()`,
with the interval level stated wherever intervals are."""

from pathlib import Path

import pandas as pd
import pytest

from scaling.analysis.backtest import backtest
from scaling.analysis.compare import compare
from scaling.frames import flatten
from scaling.hardware import Hardware
from scaling.laws.presets import get_preset
from scaling.fit.result import resolve_law
from scaling.planning.optimal import Plan, plan_report
from scaling.planning import plan_beyond

FIT = resolve_law(str(Path(__file__).parent.parent / "notebooks" / "fits" / "chinchilla-2022-approach3.json"))


def test_fit_frame_has_a_row_per_coefficient_with_its_interval_and_level():
    frame = FIT.to_frame()
    assert list(frame["coefficient"]) == [*FIT.coefficients, *FIT.derived]
    row = frame.set_index("coefficient").loc["alpha"]
    assert row["estimate"] == FIT.coefficients["alpha"] and row["stderr"] == FIT.stderr["alpha"]
    assert [row["estimate_low"], row["estimate_high"]] == FIT.intervals["alpha"]
    assert set(frame["interval_level"]) == {FIT.level}
    assert "FitResult: 95% intervals" in FIT._repr_html_()


def test_plan_report_frame_and_html_state_the_level():
    report = plan_report([FIT, get_preset("chinchilla")], flops=1e21, hardware=Hardware(gpu="h100", gpus=8))
    frame = report.to_frame()
    assert list(frame["label"]) == [FIT.label, "chinchilla"]
    assert list(frame["law"]) == ["chinchilla", "chinchilla"]  # the registry key of each form
    fitted, preset = report.plans
    assert fitted.interval_level == 0.95 and preset.interval_level is None
    assert frame.loc[0, ["params_low", "params_high"]].tolist() == list(fitted.params_interval)
    assert pd.isna(frame.loc[1, "params_low"]) and frame.loc[0, "shape.n_layer"] == fitted.shape.n_layer
    assert frame.loc[1, "gpu_hours"] == preset.gpu_hours
    html = report._repr_html_()
    assert "PlanReport: 95% intervals" in html and FIT.label in html
    # One plan is one row; its JSON keeps the level.
    assert len(fitted.to_frame()) == 1
    assert Plan.from_json(fitted.to_json()).interval_level == 0.95


def test_comparison_backtest_and_beyond_reports_are_frames():
    comparison = compare([get_preset("kaplan2020")], [get_preset("chinchilla")], [1e21, 1e22])
    assert len(comparison.to_frame()) == 2 and "excess_pct" in comparison.to_frame()
    report = backtest("porian-2024-rw-tuned", approaches=["2"], min_budgets=10)
    assert len(report.to_frame()) == len(report.points)
    target = plan_beyond([FIT], loss=2.1, hardware=Hardware(gpu="h100"))
    frame = target.to_frame()
    assert frame.loc[0, "interval_level"] == 0.95
    assert frame.loc[0, "cost.gpu_hours"] == target.results[0].cost.gpu_hours  # nested dicts flatten
    assert "BeyondReport: 95% intervals" in target._repr_html_()


def test_flatten():
    assert flatten({"a": {"b": 1}, "x_interval": [1, 2], "y_interval": None, "z": [1, 2, 3]}) == {
        "a.b": 1, "x_low": 1, "x_high": 2, "y_low": None, "y_high": None, "z": [1, 2, 3]}


@pytest.mark.parametrize("level", [0.9])
def test_plan_table_prints_the_fit_level(level, tmp_path):
    from dataclasses import replace

    from typer.testing import CliRunner

    from scaling.cli import app

    path = tmp_path / "fit.json"
    path.write_text(replace(FIT, level=level).to_json())
    result = CliRunner().invoke(app, ["plan", "--flops", "1e21", "--law", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{level:.0%} bootstrap intervals params [" in result.output


def test_allocation_only_fit_plan_states_its_level():
    fit = resolve_law(str(Path(__file__).parent.parent / "runs" / "cpu-isoflop" / "fits" / "total.approach_2.json"))
    (plan,) = plan_report([fit], flops=1e14).plans
    assert plan.loss_interval is None and plan.params_interval is not None
    assert plan.interval_level == fit.level
