"""Loss curves from a fitted curve law (momentum or multi-power): a planned schedule's curve, a run
directory's estimated final loss, the drift flag, the held-out errors on a finished or running
run, and `scaling fit-curve` / `scaling predict-curve` (table, json, csv; one-line refusals)."""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.fit.curves import DRIFT_TOLERANCE, CurvePrediction, curve_rows, fit_run_curves, predict_curve
from scaling.fit.engine import fit_curves
from scaling.fit.result import FitResult
from curve_world import RUN_TRUTH, SCHEDULES, synthetic_curve, synthetic_run

TRUTH = {"L0": 2.0, "A": 0.8, "alpha": 0.45, "C": 0.3}
RUN = sorted((Path(__file__).parents[2] / "runs" / "cpu-isoflop").glob("*/curve.parquet"))[0].parent
runner = CliRunner()


@pytest.fixture(scope="module")
def fit() -> FitResult:
    rng = np.random.default_rng(1)
    curves = pd.concat([synthetic_curve(f"run{i}", text, TRUTH) for i, text in enumerate(SCHEDULES * 2)])
    curves = curves.assign(loss=curves.loss * np.exp(rng.normal(0, 0.002, len(curves))))
    return fit_curves("momentum_curve", curves, bootstrap=20, n_jobs=1)


def test_a_planned_schedule_follows_the_law(fit: FitResult) -> None:
    prediction = predict_curve(fit, schedule="wsd:cooldown_fraction=0.1", steps=2000, peak_lr=3e-3, warmup_steps=50,
                               points=200)
    truth = synthetic_curve("truth", "wsd:cooldown_fraction=0.1", TRUTH)  # every 10th step, as the points
    assert [p.step for p in prediction.points] == truth.step.tolist()
    assert [p.loss for p in prediction.points] == pytest.approx(truth.loss, rel=2e-3)
    assert prediction.final_loss == prediction.points[-1].loss and prediction.run is None
    for point in prediction.points:
        assert point.interval is not None and point.interval[0] <= point.loss <= point.interval[1]
    assert CurvePrediction.from_json(prediction.to_json()) == prediction


def test_a_run_directory_gets_its_final_loss_and_a_drift_flag() -> None:
    rows = curve_rows(RUN)
    assert rows.step.is_monotonic_increasing and len(rows) > 100 and rows.schedule.nunique() == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a single curve: no bootstrap asked
        own = fit_curves("momentum_curve", rows)
    prediction = predict_curve(own, run_dir=RUN)
    assert prediction.steps == 1031 and prediction.observed_steps == rows.step.iloc[-1]
    assert abs(prediction.drift) < DRIFT_TOLERANCE and not prediction.drifting
    assert prediction.final_interval is None and any("no bootstrap draws" in n for n in prediction.notes)
    shifted = replace(own, coefficients={**own.coefficients, "L0": own.coefficients["L0"] + 0.1})
    drifted = predict_curve(shifted, run_dir=RUN)
    assert drifted.drifting and drifted.drift < -DRIFT_TOLERANCE
    assert any(n.startswith("drifting:") for n in drifted.notes)


def test_the_command_renders_table_json_and_csv(fit: FitResult, tmp_path: Path) -> None:
    path = tmp_path / "curve-fit.json"
    path.write_text(fit.to_json())
    args = ["predict-curve", str(path), "--schedule", "cosine", "--steps", "2000", "--lr", "3e-3", "--points", "4"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "final loss" in table.output and "2000" in table.output
    document = json.loads(runner.invoke(app, [*args, "--format", "json"]).output)
    assert document["schema"] == "scaling.CurvePrediction/2" and len(document["points"]) == 4
    old = {k: v for k, v in document.items() if not k.startswith(("final_step", "final_split", "final_observed",
                                                                  "final_predicted", "final_error", "mean_relative", "error_rows"))}
    assert CurvePrediction.from_json(json.dumps({**old, "schema": "scaling.CurvePrediction/1"})).final_error is None
    csv = runner.invoke(app, [*args, "--format", "csv"]).output.splitlines()
    assert csv[0] == "step,loss,low,high,level" and len(csv) == 5
    run = runner.invoke(app, ["predict-curve", str(path), "--run", str(RUN), "--format", "json"])
    assert run.exit_code == 0 and json.loads(run.output)["drifting"] is True  # another model's law


@pytest.mark.parametrize("args,message", [
    (["--schedule", "wsd:cooldown_shape=sqrt", "--steps", "10", "--lr", "1e-3"], "schedule.cooldown_shape must be one of"),
    (["--schedule", "cosine", "--steps", "10"], "give a schedule with its steps and peak LR, or a run directory"),
    (["--schedule", "cosine", "--steps", "0", "--lr", "1e-3"], "--steps"),
    (["--schedule", "cosine", "--steps", "10", "--lr", "nan"], "--lr"),
    (["--run", "RUN", "--schedule", "cosine"], "give a run directory or a schedule"),
    (["--run", "NOWHERE"], "no config.json or record.json: not a run directory"),
    (["--schedule", "cosine", "--steps", "10", "--lr", "1e-3", "--points", "0"], "--points"),
    (["--schedule", "cosine", "--steps", "1000000000000", "--lr", "1e-3"], "--steps must be from 1 to"),
])
def test_hostile_input_is_one_line(fit: FitResult, tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "curve-fit.json"
    path.write_text(fit.to_json())
    args = [str(RUN) if a == "RUN" else str(tmp_path / "nowhere") if a == "NOWHERE" else a for a in args]
    result = runner.invoke(app, ["predict-curve", str(path), *args])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_a_law_of_params_and_tokens_is_refused(tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "runs" / "cpu-isoflop" / "fits"
    fits = sorted(source.glob("*.json"))
    assert fits
    result = runner.invoke(app, ["predict-curve", str(fits[0]), "--schedule", "cosine", "--steps", "10", "--lr", "1e-3"])
    assert result.exit_code == 2 and "is not a loss-curve law" in result.output


def test_a_run_without_a_usable_config_is_named(fit: FitResult, tmp_path: Path) -> None:
    path = tmp_path / "curve-fit.json"
    path.write_text(fit.to_json())
    broken = tmp_path / "broken"
    shutil.copytree(RUN, broken)
    (broken / "config.json").write_text('{"run_id": "x", "config": {"tokens": 5}}')
    (broken / "record.json").unlink(missing_ok=True)
    result = runner.invoke(app, ["predict-curve", str(path), "--run", str(broken)])
    assert result.exit_code == 2 and f"{broken}: config is not a TrainConfig" in result.output


def test_fit_curve_fits_a_run_that_predict_curve_then_follows(tmp_path: Path) -> None:
    out = tmp_path / "curve-fit.json"
    result = runner.invoke(app, ["fit-curve", str(RUN), "--out", str(out)])
    assert result.exit_code == 0, result.output
    fit = FitResult.read(out)
    assert fit.law == "momentum_curve" and fit.n_points == len(curve_rows(RUN))
    prediction = predict_curve(fit, run_dir=RUN)
    assert abs(prediction.drift) < DRIFT_TOLERANCE and not prediction.drifting  # the law fits its own curve


def test_fit_curve_resamples_whole_curves_of_a_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    for i in range(3):  # three seeds of one model: copies of one run under other ids, one of them cut short
        copy = shutil.copytree(RUN, sweep / f"run{i}")
        if i == 2:
            (copy / "curve.parquet").unlink()
    result = runner.invoke(app, ["fit-curve", str(sweep), "--bootstrap", "20", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["options"]["curves"] == 2 and set(document["intervals"]) >= {"L0", "A", "alpha", "C"}


@pytest.mark.parametrize("case, message", [
    ("missing", "no such run or sweep directory"),
    ("empty", "holds no run directory"),
    ("two models", "a curve law is fitted to runs of one model on one data set"),
    ("no curve", "no curve.parquet"),
])
def test_fit_curve_refuses_in_one_line(tmp_path: Path, case: str, message: str) -> None:
    args = {"missing": [str(tmp_path / "nowhere")], "empty": [str(tmp_path)]}.get(case)
    if case == "two models":
        other = sorted(p.parent for p in RUN.parent.glob("*/curve.parquet") if p.parent != RUN)[0]
        args = [str(RUN), str(other)]
    if case == "no curve":
        copy = shutil.copytree(RUN, tmp_path / "run")
        (copy / "curve.parquet").unlink()
        args = [str(copy)]
    result = runner.invoke(app, ["fit-curve", *args, "--out", str(tmp_path / "fit.json")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "fit.json").exists()


def test_fit_curve_checks_out_before_fitting(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fit-curve", str(RUN), "--out", str(tmp_path / "fit.txt")])
    assert result.exit_code == 2 and "--out must end in .json" in result.output


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic runs of one multi-power law: constant and WSD runs (finished), a cosine run
    (finished, val rows 1% above the law), a cosine run stopped at step 600 and a WSD run with no
    val rows."""
    root = tmp_path_factory.mktemp("study")
    synthetic_run(root / "fitted" / "constant", "constant", RUN_TRUTH)
    synthetic_run(root / "fitted" / "wsd", "wsd", RUN_TRUTH)
    synthetic_run(root / "fitted" / "wsd-sqrt", "wsd:cooldown_shape=1-sqrt,cooldown_fraction=0.3", RUN_TRUTH)
    synthetic_run(root / "cosine", "cosine", RUN_TRUTH, val_gap=0.01)
    synthetic_run(root / "running", "cosine", RUN_TRUTH, stop=600)
    synthetic_run(root / "no-val", "wsd:cooldown_fraction=0.1", RUN_TRUTH, val_steps=())
    return root


@pytest.fixture(scope="module")
def multi_power_fit(study: Path) -> FitResult:
    return fit_run_curves([study / "fitted"], law="multi_power_curve")


def test_a_multi_power_fit_of_run_directories_gets_the_law_back(multi_power_fit: FitResult) -> None:
    assert multi_power_fit.law == "multi_power_curve" and multi_power_fit.converged
    assert multi_power_fit.options["curves"] == 3
    assert multi_power_fit.coefficients == pytest.approx(RUN_TRUTH, rel=1e-3)


def test_held_out_errors_are_scored_on_the_split_the_law_was_fitted_to(multi_power_fit: FitResult,
                                                                      study: Path) -> None:
    assert multi_power_fit.options["split"] == "train"
    prediction = predict_curve(multi_power_fit, run_dir=study / "cosine")
    assert prediction.final_split == "train" and prediction.final_step == prediction.observed_steps
    assert abs(prediction.final_error) < 1e-5  # train rows against a law of train rows: no val gap in it
    assert prediction.mean_relative_error < 1e-5 and prediction.row_scatter < 1e-3
    assert CurvePrediction.from_json(prediction.to_json()) == prediction
    # a law of val rows is scored on the run's val rows: its last one is the final loss
    val_fit = replace(multi_power_fit, options={**multi_power_fit.options, "split": "val"})
    on_val = predict_curve(val_fit, run_dir=study / "cosine")
    assert (on_val.final_split, on_val.final_step) == ("val", 1031)
    assert on_val.final_error == pytest.approx(1 / 1.01 - 1, rel=1e-3)  # the synthetic val gap, nothing else


def test_held_out_errors_of_a_running_run_stop_where_it_stands(multi_power_fit: FitResult, study: Path) -> None:
    prediction = predict_curve(multi_power_fit, run_dir=study / "running")
    assert (prediction.final_split, prediction.final_step, prediction.observed_steps) == ("train", 600, 600)
    assert abs(prediction.final_error) < 1e-5 and prediction.mean_relative_error < 1e-5
    assert prediction.steps == 1031 and prediction.final_loss < prediction.observed_loss  # the rest of the cosine
    val_fit = replace(multi_power_fit, options={**multi_power_fit.options, "split": "val"})
    without_val = predict_curve(val_fit, run_dir=study / "no-val")
    assert without_val.final_error is None and any("no logged val rows" in n for n in without_val.notes)


def test_a_wrong_law_shows_in_the_held_out_errors(multi_power_fit: FitResult, study: Path) -> None:
    shifted = replace(multi_power_fit, coefficients={**multi_power_fit.coefficients, "L0": 2.02})
    prediction = predict_curve(shifted, run_dir=study / "running")
    assert prediction.final_error > 0.005 and prediction.mean_relative_error > 0.005


def test_fit_curve_and_predict_curve_take_either_law(study: Path, tmp_path: Path) -> None:
    for law in ("multi_power_curve", "momentum_curve"):
        out = tmp_path / f"{law}.json"
        fitted = runner.invoke(app, ["fit-curve", str(study / "fitted"), "--law", law, "--out", str(out)])
        assert fitted.exit_code == 0, fitted.output
        assert f"{law} fitted to" in fitted.output and FitResult.read(out).law == law
        table = runner.invoke(app, ["predict-curve", str(out), "--run", str(study / "cosine"), "--points", "3"])
        assert table.exit_code == 0, table.output
        assert "held out: final train loss at step" in table.output and "mean relative error" in table.output
        assert "own scatter" in table.output
        document = json.loads(runner.invoke(app, ["predict-curve", str(out), "--run", str(study / "cosine"),
                                                  "--format", "json"]).output)
        assert document["final_split"] == "train" and document["error_rows"] == 427
        assert document["mean_relative_error"] < (1e-5 if law == "multi_power_curve" else 0.05)
    refused = runner.invoke(app, ["fit-curve", str(study / "fitted"), "--law", "chinchilla"])
    assert refused.exit_code == 2 and "--law" in refused.output
    refused = runner.invoke(app, ["fit-curve", str(study / "fitted"), "--split", "test"])
    assert refused.exit_code == 2 and "--split" in refused.output


@pytest.mark.slow  # a bootstrap of multi-power fits (2 s); fast: tests/laws' test_the_bootstrap_resamples_whole_curves
def test_a_multi_power_fit_with_draws_gives_intervals_along_a_planned_schedule(study: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fit = fit_run_curves([study / "fitted", study / "cosine"], law="multi_power_curve", bootstrap=4, seed=1)
    assert fit.samples and fit.options["curves"] == 4
    prediction = predict_curve(fit, schedule="wsd:cooldown_fraction=0.1", steps=1031, peak_lr=0.0125,
                               warmup_steps=176, points=5)
    for point in prediction.points:  # noise-free runs: every draw is the law, to rounding
        assert point.interval is not None and point.interval[0] - 1e-9 <= point.loss <= point.interval[1] + 1e-9
        assert point.interval[1] - point.interval[0] < 1e-6
    monkeypatch.setattr("scaling.fit.curves.DRAW_BLOCK_ELEMENTS", 1)  # one draw at a time: same interval
    blocked = predict_curve(fit, schedule="wsd:cooldown_fraction=0.1", steps=1031, peak_lr=0.0125,
                            warmup_steps=176, points=5)
    assert blocked == prediction
    truth = synthetic_run(study / "planned", "wsd:cooldown_fraction=0.1", RUN_TRUTH)
    assert abs(predict_curve(fit, run_dir=truth).final_error) < 1e-6  # the planned schedule, run: the same law
