"""The schedule a plan assumes and, from a curve fit, other schedules' loss cost at each plan's
length (scaling.planning.schedule): against the true law's own differences, steps from the fitted
runs' batch, the extrapolation flag, one-line refusals; and `scaling plan --schedule --curve-fit`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.fit.engine import fit_curves
from scaling.laws.momentum import MOMENTUM_CURVE, annealing_areas
from scaling.planning.optimal import PlanReport
from scaling.planning.request import PlanRequest, answer
from scaling.planning.schedule import ALTERNATIVES, choose_schedule
from scaling.schedules import parse_schedule
from curve_world import PEAK, SCHEDULES, STEPS, WARMUP, synthetic_curve

TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}
BATCH = 4096
RUNS = [{"run_id": f"run{i}", "schedule": text, "steps": STEPS, "peak_lr": PEAK, "warmup_steps": WARMUP,
         "batch_tokens": BATCH, "params": 1_234_567} for i, text in enumerate(SCHEDULES)]
runner = CliRunner()


def _true_final(text: str, steps: int) -> float:
    lr = parse_schedule(text, peak_lr=PEAK, steps=steps, warmup_steps=WARMUP).lr_at(np.arange(steps))
    area, annealing = annealing_areas(lr, WARMUP)
    return float(MOMENTUM_CURVE.predict(TRUTH, lr_area=area[-1:], lr_annealing=annealing[-1:])[0])


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    curves = pd.concat([synthetic_curve(run["run_id"], run["schedule"], TRUTH) for run in RUNS])
    fit = fit_curves("momentum_curve", curves)
    path = tmp_path_factory.mktemp("fit") / "curve-fit.json"
    path.write_text(replace(fit, options={**fit.options, "curve_runs": RUNS}).to_json())
    return path


def test_other_schedules_cost_what_the_true_law_says(fit_file: Path) -> None:
    choice = choose_schedule("wsd:cooldown_shape=1-sqrt", [("short", 1500 * BATCH), ("long", 6000 * BATCH)], fit_file)
    assert choice.schedule == "wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt,min_lr_ratio=0.1"
    assert (choice.kind, choice.cooldown_fraction, choice.cooldown_shape) == ("wsd", 0.2, "1-sqrt")
    assert (choice.batch_tokens, choice.peak_lr, choice.warmup_steps, choice.fitted_params) == (BATCH, PEAK, WARMUP,
                                                                                              1_234_567)
    short, long = choice.plans
    assert (short.steps, short.extrapolated) == (1500, False) and (long.steps, long.extrapolated) == (6000, True)
    assert len(short.costs) == len(ALTERNATIVES)  # the chosen one (wsd 0.2 1-sqrt) first, not listed twice
    assert short.costs[0].schedule == choice.schedule and short.costs[0].delta == 0.0
    chosen = _true_final(choice.schedule, 1500)
    for cost in short.costs[1:]:
        truth = _true_final(cost.schedule, 1500) - chosen
        assert cost.delta == pytest.approx(truth, abs=2e-4)
        assert cost.delta_pct == pytest.approx(100 * cost.delta / chosen)
    constant = next(c for c in short.costs if c.schedule == "constant")
    assert constant.delta > 0.01  # no annealing: clearly worse than a cooldown
    assert any("fitted at N = 1,234,567 params" in note for note in choice.notes)
    assert any(note.startswith("long: extrapolated: 6,000 steps") for note in choice.notes)
    assert not any(note.startswith("short: extrapolated") for note in choice.notes)


def test_without_a_curve_fit_the_schedule_is_only_stated() -> None:
    choice = choose_schedule("cosine", [("chinchilla", 1e9)])
    assert choice.schedule == "cosine:min_lr_ratio=0.1" and choice.cooldown_fraction is None and not choice.plans
    assert choice.notes == ("no curve fit given (--curve-fit): the loss cost of other schedules is not estimated",)


def test_the_plan_report_carries_the_schedule_through_json(fit_file: Path) -> None:
    report = answer(PlanRequest(laws=("chinchilla",), tokens=1500 * BATCH, schedule="stepped", curve_fit=str(fit_file)))
    assert isinstance(report, PlanReport) and report.schedule is not None and report.schedule.kind == "stepped"
    assert PlanReport.from_json(report.to_json()) == report
    assert json.loads(report.to_json())["schema"] == "scaling.PlanReport/3"
    plain = answer(PlanRequest(laws=("chinchilla",), flops=1e21))
    assert plain.schedule is None and json.loads(plain.to_json())["schedule"] is None


@pytest.mark.parametrize("request_,message", [
    (PlanRequest(flops=1e21, schedule="wsd:cooldown_shape=sqrt"), "`schedule`: schedule.cooldown_shape must be one of"),
    (PlanRequest(flops=1e21, schedule="warmup"), "`schedule`: schedule.kind must be one of"),
    (PlanRequest(flops=1e21, curve_fit="fit.json"), "`curve_fit` needs `schedule`"),
    (PlanRequest(flops=1e21, loss=2.0, schedule="cosine"), "`schedule` applies to the compute-optimal plan"),
    (PlanRequest(flops=1e21, schedule="cosine", curve_fit="/no/such/fit.json"), "`curve_fit`: /no/such/fit.json: no such"),
])
def test_bad_requests_are_refused_naming_the_option(request_: PlanRequest, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        answer(request_)
    assert str(raised.value).startswith(message)


def test_a_fit_that_is_not_a_usable_curve_fit_is_refused(fit_file: Path, tmp_path: Path) -> None:
    chinchilla = Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json"
    with pytest.raises(ValueError, match="`curve_fit`: .*not a loss-curve law"):
        choose_schedule("cosine", [("x", 1e6)], chinchilla)
    document = json.loads(fit_file.read_text())
    document["options"].pop("curve_runs")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="`curve_fit`: .*keeps no batch tokens"):
        choose_schedule("cosine", [("x", 1e6)], old)


def test_plan_command_shows_the_schedule_costs(fit_file: Path) -> None:
    args = ["plan", "--tokens", str(1500 * BATCH), "--law", "chinchilla", "--schedule", "wsd:cooldown_shape=1-sqrt",
            "--curve-fit", str(fit_file)]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt,min_lr_ratio=0.1 (chosen)" in table.output
    assert "chinchilla (1.5K steps)" in table.output and "constant" in table.output
    assert "note: schedule: wsd:cooldown_fraction=0.2,cooldown_shape=1-sqrt,min_lr_ratio=0.1 (cooldown over 20%" \
        in table.output
    document = json.loads(runner.invoke(app, [*args, "--format", "json"]).output)
    costs = document["schedule"]["plans"][0]["costs"]
    assert [c["schedule"] for c in costs][1:3] == ["cosine:min_lr_ratio=0.1", "constant"]
    stated = runner.invoke(app, ["plan", "--flops", "1e21", "--law", "chinchilla", "--schedule", "constant"])
    assert stated.exit_code == 0 and "note: schedule: constant" in stated.output
    assert "no curve fit given" in stated.output


@pytest.mark.parametrize("args,names", [
    (["--schedule", "wsd:cooldown_fraction=2"], "--schedule: schedule.cooldown_fraction"),
    (["--schedule", "cosine", "--curve-fit", "missing.json"], "--curve-fit: missing.json: no such fit file"),
    (["--curve-fit", "missing.json"], "--curve-fit needs --schedule"),
    (["--schedule", "cosine", "--loss", "2.0"], "--schedule applies to the compute-optimal plan"),
])
def test_plan_command_refuses_bad_schedule_options_in_one_line(args: list[str], names: str) -> None:
    result = runner.invoke(app, ["plan", "--flops", "1e21", *args])
    assert result.exit_code == 2 and result.output.startswith(f"error: {names}"), result.output
    assert result.output.count("\n") == 1
