"""`scaling predict` (scaling.cli.predict): a fit's loss with both intervals, as table, csv, JSON."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.fit.prediction import Prediction
from scaling.fit.result import FitResult

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("predict") / "fit.json"
    result = runner.invoke(app, ["fit", "porian-2024-rw-tuned", "--approach", "3", "--bootstrap", "20", "--jobs", "1",
                                 "--out", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    return path


def test_predicts_the_fits_own_loss_with_both_intervals(fit_path):
    result = runner.invoke(app, ["predict", str(fit_path), "--params", "1e9", "--tokens", "2e10", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "scaling.Prediction/1"
    row = document["rows"][0]
    fit = FitResult.read(fit_path)
    assert row["loss"] == pytest.approx(float(fit.predict(1e9, 2e10)), rel=1e-12)
    low, high = row["confidence_interval"]
    plow, phigh = row["prediction_interval"]
    assert plow < low < row["loss"] < high < phigh  # a new run scatters more than the curve is unsure
    assert row["decades_past_data"] == pytest.approx(np.log10(6 * 1e9 * 2e10 / 2.56e19))
    assert Prediction.from_json(json.dumps(document)).to_document() == document


def test_csv_rows_in_and_out(fit_path, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"params": [1e8, 1e10], "tokens": [2e9, 1e12]}).to_csv(pairs, index=False)
    result = runner.invoke(app, ["predict", str(fit_path), "--csv", str(pairs), "--format", "csv", "--level", "0.9"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("params,tokens,flops,loss,confidence_low") and len(lines) == 3
    table = runner.invoke(app, ["predict", str(fit_path), "--csv", str(pairs)])
    assert "1 of 2 predictions are more than 2 decades of FLOPs past the largest run fitted" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["--params", "1e9"], "give --params and --tokens"),
    (["--params", "1e9", "--tokens", "-1"], "--tokens"),
    (["--params", "1e9", "--tokens", "1e9", "--csv", "x.csv"], "not both"),
    (["--csv", "no-such.csv"], "no-such.csv: no such file"),
])
def test_bad_input_is_one_line(fit_path, args, message):
    result = runner.invoke(app, ["predict", str(fit_path), *args])
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output


def test_an_allocation_fit_is_refused_in_one_line():
    result = runner.invoke(app, ["predict", str(ROOT / "runs/cpu-isoflop/fits/total.approach_2.json"), "--params", "1e6",
                                 "--tokens", "1e7"])
    assert result.exit_code == 2 and "does not predict loss from params and tokens" in result.output
