"""`scaling plan` past N and D for C: --unique-tokens, --inference-tokens, --loss, --price-per-gpu-hour."""

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from scaling.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_data_constrained_table_and_json():
    table = invoke("plan", "--flops", "1e22", "--unique-tokens", "25e9")
    assert table.exit_code == 0, table.output
    assert "muennighoff2023" in table.output and "7.03B" in table.output and "Muennighoff et al. 2023" in table.output
    data = json.loads(invoke("plan", "--flops", "1e22", "--unique-tokens", "25e9", "--format", "json").output)
    assert data["question"] == "data-constrained"
    (result,) = data["results"]
    assert result["params"] == pytest.approx(7.0e9, rel=0.01) and result["epochs"] == pytest.approx(9.49, abs=0.01)
    assert result["loss_penalty_pct"] > 0 and "C_min" in result["conventions"]["budget"]


def test_inference_json_reports_savings():
    result = invoke("plan", "--flops", "1e22", "--inference-tokens", "2e12", "--law", "chinchilla", "--format", "json")
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.output)["results"]
    assert plan["inference_optimal"]["params"] < plan["compute_optimal"]["params"]
    assert plan["inference_optimal"]["tokens"] > plan["compute_optimal"]["tokens"]
    assert plan["flops_saved"] > 0 and plan["conventions"]["flops"].startswith("training C = 6 N D")


def test_inference_with_a_given_loss():
    result = invoke("plan", "--loss", "2.0", "--inference-tokens", "1e13", "--law", "epoch2024")
    assert result.exit_code == 0, result.output
    assert "saved %" in result.output and "Sardana et al. 2024" in result.output


def test_target_loss_reachable_and_not():
    result = invoke("plan", "--loss", "1.8", "--law", "chinchilla", "--law", "epoch2024")
    assert result.exit_code == 0, result.output
    assert "unreachable" in result.output and "irreducible loss E = 1.817" in result.output
    rows = list(csv.DictReader(io.StringIO(invoke("plan", "--loss", "1.8", "--law", "chinchilla", "--law",
                                                  "epoch2024", "--format", "csv").output)))
    assert float(rows[0]["flops"]) > 1e24 and rows[1]["flops"] == "unreachable"


def test_price_turns_plans_into_money():
    data = json.loads(invoke("plan", "--flops", "1e21", "--law", "chinchilla", "--gpu", "h100", "--gpus", "8",
                             "--price-per-gpu-hour", "2", "--format", "json").output)
    (plan,) = data["results"]
    assert plan["cost"]["dollars"] == pytest.approx(2 * plan["cost"]["gpu_hours"])
    assert plan["cost"]["gpu_hours"] == pytest.approx(1e21 / (989e12 * 0.4) / 3600)
    assert plan["params_convention"] == "total" and data["conventions"]["params"]
    target = invoke("plan", "--loss", "2.2", "--law", "chinchilla", "--gpu", "a100", "--price-per-gpu-hour", "1.2")
    assert target.exit_code == 0 and "dollars" in target.output


@pytest.mark.parametrize("args, fragment", [
    (["--flops", "1e22", "--unique-tokens", "0"], "--unique-tokens"),
    (["--flops", "1e22", "--unique-tokens", "nan"], "--unique-tokens"),
    (["--flops", "1e22", "--unique-tokens", "25e9", "--law", "chinchilla"], "repeated data"),
    (["--flops", "1e22", "--loss", "2.0"], "drop the budget"),
    (["--inference-tokens", "1e12"], "exactly one"),
    (["--flops", "1e21", "--price-per-gpu-hour", "2"], "needs --gpu"),
    (["--flops", "1e21", "--gpu", "h100", "--price-per-gpu-hour", "-1"], "--price-per-gpu-hour"),
    (["--loss", "2.0", "--law", "kaplan2020"], "predicts no loss"),
    (["--loss", "99"], "lower loss"),
    (["--params", "1e9", "--loss", "2.0"], "does not combine"),
    (["--flops", "1e21", "--inference-tokens", "1e300"], "inference_tokens"),
    (["--flops", "1e21", "--inference-tokens", "1e300", "--format", "json"], "inference_tokens"),
    (["--flops", "1e21", "--inference-tokens", "-1"], "--inference-tokens"),
    (["--flops", "1e21", "--unique-tokens", "1e-300"], "unique_tokens"),
    (["--flops", "1e300", "--unique-tokens", "1e9"], "flops"),
])
def test_bad_input_is_one_line_exit_2(args, fragment):
    result = runner.invoke(app, ["plan", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0]


def test_zero_inference_tokens_is_the_compute_optimal_plan():
    result = runner.invoke(app, ["plan", "--flops", "1e21", "--inference-tokens", "0", "--law", "chinchilla"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
