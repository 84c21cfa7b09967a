"""`scaling fit` (scaling.cli.fit): options reach the library, output keys, errors, plan --law."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.laws.registry import get_law

runner = CliRunner()
TRUTH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}  # Besiroglu et al. 2024


@pytest.fixture()
def runs_csv(tmp_path):
    params, tokens = (g.ravel() for g in np.meshgrid(np.geomspace(5e7, 5e9, 6), np.geomspace(1e9, 2e11, 6)))
    loss = get_law("chinchilla").predict(TRUTH, params=params, tokens=tokens)
    loss *= np.exp(np.random.default_rng(0).normal(0, 0.01, loss.size))
    path = tmp_path / "runs.csv"
    pd.DataFrame({"N": params, "tokens": tokens, "loss": loss}).to_csv(path, index=False)
    return path


def test_options_reach_the_library(monkeypatch):
    seen = {}

    def fake_fit_runs(source, approach, **kwargs):
        seen.update(source=source, approach=approach, **kwargs)
        return {}, []

    monkeypatch.setattr("scaling.fit.request.fit_runs", fake_fit_runs)
    result = runner.invoke(app, ["fit", "data.csv", "--approach", "3", "--bootstrap", "50", "--column",
                                 'params="Model Size"', "--where", "dataset==rw", "--drop-invalid", "--drop-highest", "5", "--tie-exponents",
                                 "--fix", "E=1.69", "--jobs", "2", "--level", "0.9"])
    assert result.exit_code == 0, result.output
    assert seen["source"] == "data.csv" and seen["approach"] == "3"
    assert seen["columns"] == {"params": "Model Size"} and seen["drop_invalid"] is True
    assert seen["where"] == ("dataset==rw",)
    assert seen["bootstrap"] == 50 and seen["n_jobs"] == 2 and seen["level"] == 0.9
    assert seen["drop_highest"] == 5 and seen["tie"] == ("alpha", "beta") and seen["fix"] == {"E": 1.69}


def test_approach_3_json_keys_and_plan_uses_the_fit(runs_csv, tmp_path):
    out = tmp_path / "fit.json"
    result = runner.invoke(app, ["fit", str(runs_csv), "--column", "params=N", "--bootstrap", "20", "--jobs", "1",
                                 "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["coefficients"]) == {"E", "A", "B", "alpha", "beta"}
    for key in ("a", "b", "objective", "converged", "intervals", "samples"):
        assert key in data
    assert data["converged"] is True and data["a"] == pytest.approx(0.513, abs=0.05)
    assert data["schema"] == "scaling.FitResult/3" and data["approach"] == "3"
    assert json.loads(out.read_text()) == data  # what --format json prints is what --out writes
    printed = tmp_path / "printed.json"
    printed.write_text(result.stdout)
    plan = runner.invoke(app, ["plan", "--flops", "1e21", "--law", str(printed), "--format", "json"])
    assert plan.exit_code == 0, plan.output
    row = json.loads(plan.stdout)["plans"][0]
    assert row["label"].startswith("fit:chinchilla@") and row["law"] == "chinchilla"
    low, high = row["loss_interval"]
    assert low < row["loss"] < high
    for name in ("params", "tokens"):
        low, high = row[f"{name}_interval"]
        assert low < row[name] < high


def test_approach_2_table_on_porian():
    result = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "2", "--bootstrap", "30"])
    assert result.exit_code == 0, result.output
    assert "approach_2 (power_allocation)" in result.stdout and "12 optima" in result.stdout


def test_approach_2_json_lists_per_budget_optima():
    result = runner.invoke(app, ["fit", "porian-2024-owt2-tuned", "--approach", "2", "--format", "json"])
    data = json.loads(result.stdout)
    assert {"a", "b"} <= set(data) and len(data["optima"]) == 12
    assert {"flops", "params", "tokens", "loss", "edge"} <= set(data["optima"][0])


def test_all_skips_what_the_data_cannot_support():
    result = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "all", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert {"approach_2", "approach_3", "kaplan_nd", "kaplan_c"} <= set(json.loads(result.stdout))
    table = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "all"])
    assert "skipped approach 1: Approach 1 needs per-step curves" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["fit", "no-such-data"], "no such file"),
    (["fit", "chinchilla-2022", "--column", "params"], "NAME=VALUE"),
    (["fit", "chinchilla-2022", "--fix", "E=abc"], "must be numbers"),
    (["fit", "chinchilla-2022", "--approach", "5"], "'5' is not one of"),
    (["fit", "chinchilla-2022", "--level", "nan"], "--level"),
    (["fit", "chinchilla-2022", "--fix", "alpha=nan"], "finite"),
    (["fit", "chinchilla-2022", "--fix", "E=inf"], "finite"),
    (["fit", "chinchilla-2022", "--approach", "2", "--fix", "E=1.69"], "--fix"),
    (["fit", "chinchilla-2022", "--approach", "1", "--tie-exponents"], "--tie-exponents"),
    (["fit", "chinchilla-2022", "--approach", "2", "--drop-highest", "5", "--delta", "0.01"], "--drop-highest, --delta"),
    (["fit", "chinchilla-2022", "--approach", "2", "--window", "0"], "--window takes a whole number"),
    (["fit", "chinchilla-2022", "--approach", "2", "--window", "wide"], "--window takes a whole number"),
    (["fit", "chinchilla-2022", "--approach", "3", "--window", "all"], "--window apply to approach 2 only"),
    (["fit", "chinchilla-2022", "--approach", "3", "--in", "tokens", "--round-budgets"],
     "--in, --round-budgets apply to approach 2 only, not approach 3"),
    (["fit", "chinchilla-2022", "--approach", "2", "--in", "flops"], "'flops' is not one of"),
    (["fit", "chinchilla-2022", "--approach", "2", "--objective", "lsq"], "--objective apply to approaches 3 and kaplan only"),
    (["fit", "chinchilla-2022", "--objective", "l1"], "'l1' is not one of"),
])
def test_bad_input_is_one_line(args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("\n") == 1


def test_out_in_a_missing_directory_fails_before_fitting(monkeypatch):
    def must_not_fit(*args, **kwargs):
        raise AssertionError("fitted before checking --out")

    monkeypatch.setattr("scaling.fit.request.fit_runs", must_not_fit)
    result = runner.invoke(app, ["fit", "chinchilla-2022", "--out", "/nonexistent/dir/x.json"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --out") and result.output.count("\n") == 1


def test_law_options_with_all_are_accepted_with_a_note(monkeypatch):
    monkeypatch.setattr("scaling.fit.request.fit_runs", lambda *a, **k: ({}, []))
    result = runner.invoke(app, ["fit", "data.csv", "--approach", "all", "--fix", "E=1.69"])
    assert result.exit_code == 0, result.output
    assert "apply to approaches 3 and kaplan only" in result.output


def test_budgets_follow_the_data_and_far_ones_are_called_extrapolations():
    # porian-2024-rw-tuned: the largest run is 2.56e19 FLOPs (Porian et al. 2024's top budget).
    result = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "2"])
    assert result.exit_code == 0, result.output
    assert "C 2.5e+19:" in result.stdout and "C 2.5e+21:" in result.stdout and "C 1e+24" not in result.stdout
    assert "extrapolation" not in result.stdout  # 2 decades past the data is the stated limit, not past it
    asked = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "2", "--flops", "1e24"])
    assert "C 1e+24 is 4.6 decades past the largest run fitted (2.56e+19 FLOPs): an extrapolation" in asked.stdout
    assert "a + b" in asked.stdout and "\n  k " not in asked.stdout  # N_opt at C = 1 FLOP is no number to print


def test_where_filters_rows_and_the_fit_remembers_it():
    result = runner.invoke(app, ["fit", "porian-2024", "--where", "dataset==rw", "--where", "hparams==tuned",
                                 "--where", "loss_kind=val", "--approach", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    same = json.loads(runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "2", "--format", "json"]).stdout)
    assert data["where"] == ["dataset==rw", "hparams==tuned", "loss_kind=val"] and same["where"] == []
    assert data["n_points"] == same["n_points"] and data["a"] == same["a"]  # the built-in subset is that filter
    bad = runner.invoke(app, ["fit", "porian-2024", "--where", "datset==rw"])
    assert bad.exit_code == 2 and "no column 'datset'" in bad.output and bad.output.count("\n") == 1


def test_kaplan_frontier_reports_its_loss_at_the_budgets():
    result = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "kaplan", "--flops", "1e19",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines() if line.startswith("kaplan_c,")]
    loss = [row for row in rows if row[6:8] == ["loss", "1e+19"]]
    assert len(loss) == 1 and 3.19 < float(loss[0][8]) < 3.30  # between the best runs at 1.28e19 and 6.4e18


@pytest.mark.slow  # two back-tests, a fit with its forward refits and a figure: about 6 s
def test_backtest_and_plot_take_the_same_row_filters_and_a_residual_plot_reads_runs_as_the_fit_did(tmp_path):
    filters = ["--where", "dataset==rw", "--where", "hparams==tuned", "--where", "loss_kind=val"]
    filtered = runner.invoke(app, ["backtest", "porian-2024", *filters, "--approach", "2", "--min-budgets", "9", "--format", "json"])
    subset = runner.invoke(app, ["backtest", "porian-2024-rw-tuned", "--approach", "2", "--min-budgets", "9", "--format", "json"])
    assert filtered.exit_code == 0, filtered.output
    assert json.loads(filtered.stdout)["points"] == json.loads(subset.stdout)["points"]
    # A fit of renamed columns remembers its mapping; the residual plot reads the runs by it.
    runs = tmp_path / "runs.csv"
    from scaling.datasets import load_dataset

    load_dataset("porian-2024-rw-tuned").rename(columns={"params": "N"}).to_csv(runs, index=False)
    fit = tmp_path / "fit.json"
    assert runner.invoke(app, ["fit", str(runs), "--column", "params=N", "--out", str(fit)]).exit_code == 0
    drawn = runner.invoke(app, ["plot", "residuals", str(fit), "--runs", str(runs), "--out", str(tmp_path / "r.png")])
    assert drawn.exit_code == 0, drawn.output
    bad = runner.invoke(app, ["plot", "isoflop", "porian-2024", "--where", "datset==rw", "--out", str(tmp_path / "i.png")])
    assert bad.exit_code == 2 and "no column 'datset'" in bad.output


@pytest.mark.parametrize("command", [["report", "--out", "r.html"],
                                     ["design", "--target", "1e21", "--study-flops", "1e20"]])
def test_design_and_report_take_row_filters_for_their_runs_only(command):
    result = runner.invoke(app, [*command, "--where", "dataset==rw"])
    assert result.exit_code == 2 and "--column and --where apply to --runs" in result.output
    bad = runner.invoke(app, [*command, "--runs", "porian-2024", "--where", "datset==rw"])
    assert bad.exit_code == 2 and "no column 'datset'" in bad.output and bad.output.count("\n") == 1
