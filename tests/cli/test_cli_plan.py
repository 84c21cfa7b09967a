"""`scaling plan`, `compare`, `laws` through typer's test runner, and the bad-input table."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling.cli import app
from scaling.laws.presets import PRESETS

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_plan_table_has_every_preset():
    result = invoke("plan", "--flops", "1e21")
    assert result.exit_code == 0, result.output
    for name in PRESETS:
        assert name in result.output
    assert "Eq. 5.5" in result.output and "non-embedding" in result.output
    assert "not comparable" in result.output


def test_plan_json_shape():
    result = invoke("plan", "--flops", "1e21", "--format", "json")
    data = json.loads(result.output)
    assert data["flops"] == 1e21
    assert [p["label"] for p in data["plans"]] == list(PRESETS)
    assert [p["law"] for p in data["plans"]] == [p.law for p in PRESETS.values()]
    for plan in data["plans"]:
        assert {"label", "law", "params", "tokens", "tokens_per_param", "flops", "loss", "params_convention"} <= set(plan)
        assert plan["flops"] == 1e21
    chinchilla = data["plans"][0]
    assert chinchilla["tokens_per_param"] == pytest.approx(chinchilla["tokens"] / chinchilla["params"])
    assert data["plans"][list(PRESETS).index("kaplan2020")]["loss"] is None


def test_plan_params_mode_reports_computed_flops():
    data = json.loads(invoke("plan", "--params", "1e9", "--law", "tokens-per-param-20", "--format", "json").output)
    (plan,) = data["plans"]
    assert plan["params"] == pytest.approx(1e9) and plan["tokens"] == pytest.approx(2e10)
    assert plan["flops"] == pytest.approx(6 * 1e9 * 2e10)


def test_plan_tokens_mode_and_csv():
    result = invoke("plan", "--tokens", "1e12", "--law", "chinchilla", "--law", "kaplan2020", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["label"] for r in rows] == ["chinchilla", "kaplan2020"]
    assert float(rows[0]["tokens"]) == pytest.approx(1e12)


def test_plan_hardware_and_gpu_hours_budget():
    data = json.loads(invoke("plan", "--gpu-hours", "1000", "--gpu", "h100", "--mfu", "0.5",
                             "--law", "chinchilla", "--format", "json").output)
    assert data["flops"] == pytest.approx(1000 * 3600 * 989e12 * 0.5)
    assert data["plans"][0]["gpu_hours"] == pytest.approx(1000)
    data = json.loads(invoke("plan", "--days", "2", "--gpus", "8", "--gpu", "a100", "--law", "chinchilla",
                             "--format", "json").output)
    assert data["plans"][0]["days"] == pytest.approx(2)


def test_compare_single_budget_and_range():
    result = invoke("compare", "--flops", "5.76e23")
    assert result.exit_code == 0, result.output
    assert "kaplan2020" in result.output and "Pearce & Song" in result.output
    data = json.loads(invoke("compare", "--range", "1e19:1e23", "--law", "kaplan2020", "--law", "chinchilla",
                             "--format", "json").output)
    assert len(data["budgets"]) == 5
    table = invoke("compare", "--range", "1e19:1e23", "--law", "kaplan2020", "--law", "chinchilla").output
    assert len([line for line in table.splitlines() if line.startswith("1e+")]) == 5


def test_laws_lists_provenance():
    result = invoke("laws")
    assert result.exit_code == 0
    for preset in PRESETS.values():
        assert preset.label in result.output and preset.dataset in result.output
    assert "WebText2" in result.output and "SentencePiece" in result.output
    assert "not comparable" in result.output
    data = json.loads(invoke("laws", "--format", "json").output)
    assert {row["params_convention"] for row in data["laws"]} == {"total", "non-embedding"}


BAD_INPUT = [
    (["plan", "--flops", "0"], "--flops"),
    (["plan", "--flops", "-1e21"], "--flops"),
    (["plan", "--flops", "nan"], "--flops"),
    (["plan", "--flops", "inf"], "--flops"),
    (["plan", "--flops", "1e400"], "--flops"),
    (["plan", "--flops", "lots"], "--flops"),
    (["plan", "--params", "0"], "--params"),
    (["plan", "--tokens", "nan"], "--tokens"),
    (["plan", "--flops", "1e21", "--law", "gpt5"], "--law"),
    (["plan", "--flops", "1e21", "--law", "missing-fit.json"], "--law"),
    (["plan", "--flops", "1e21", "--gpu", "v100"], "--gpu"),
    (["plan", "--flops", "1e21", "--gpu", "h100", "--gpus", "0"], "--gpus"),
    (["plan", "--flops", "1e21", "--gpu", "h100", "--mfu", "1.5"], "--mfu"),
    (["plan", "--flops", "1e21", "--params", "1e9"], "--flops"),
    (["plan", "--flops", "1e21", "--gpu-hours", "10", "--gpu", "h100"], "--gpu-hours"),
    (["plan", "--gpu-hours", "10"], "--gpu"),
    (["plan", "--flops", "1e21", "--mfu", "0.5"], "--mfu"),
    (["plan"], "--flops"),
    (["plan", "--flops", "1e21", "--format", "xml"], "--format"),
    (["compare", "--flops", "1e21", "--range", "1e19:1e21"], "--range"),
    (["compare", "--range", "1e22:1e19"], "--range"),
    (["compare", "--range", "1e19"], "--range"),
    (["compare", "--range", "1e19:1e400"], "--range"),
    (["compare", "--flops", "-5"], "--flops"),
    (["compare", "--flops", "1e21", "--under", "nope"], "--under"),
    (["compare", "--range", "1e-300:1e300"], "--range"),
    (["compare", "--range", "1e5:1e40"], "--range"),
    (["compare", "--flops", "1e-300"], "flops"),
    (["plan", "--flops", "1e300"], "flops"),
    (["plan", "--flops", "1e-300"], "flops"),
    (["plan", "--params", "1e300"], "params"),
    (["plan", "--tokens", "1e-300"], "tokens"),
    (["plan", "--gpu-hours", "1e300", "--gpu", "h100"], "--gpu-hours"),
]


@pytest.mark.parametrize(("args", "option"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_naming_the_option(args, option):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert option in lines[0]
    assert "Traceback" not in result.output


def test_every_command_has_help():
    for command in ("plan", "compare", "laws"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_plan_imports_no_torch_or_matplotlib():
    code = ("import sys; from typer.testing import CliRunner; from scaling.cli import app; "
            "r = CliRunner().invoke(app, ['plan', '--flops', '1e21']); assert r.exit_code == 0; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'scipy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_missing_optional_dependency_is_one_line(monkeypatch):
    # `scaling train` without the [train] extra: one line naming the extra, exit 2.
    import builtins

    from scaling.cli import app

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    for module in [m for m in sys.modules if m == "torch" or m.startswith(("torch.", "scaling.training.train"))]:
        monkeypatch.delitem(sys.modules, module)
    result = CliRunner().invoke(app, ["train", "--params", "1e4", "--tokens", "1e5", "--out", "unused"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: this command needs torch: pip install 'scaling-laws[train]'"


def test_a_plan_from_a_fit_names_its_loss_unit_and_an_extrapolation() -> None:
    fit = str(Path(__file__).parents[2] / "runs" / "cpu-isoflop" / "fits" / "total.approach_3.json")
    far = runner.invoke(app, ["plan", "--flops", "1e21", "--law", fit])
    assert far.exit_code == 0, far.output
    assert "C 1e+21 is 8.0 decades past the largest run fitted (1e+13 FLOPs): an extrapolation" in far.output
    assert "loss in the unit of the loss column fitted" in far.output
    near = runner.invoke(app, ["plan", "--flops", "1e14", "--law", fit])  # one decade past: no note
    assert near.exit_code == 0 and "decades past" not in near.output
    preset = runner.invoke(app, ["plan", "--flops", "1e21"])  # the published laws: no fit, no such notes
    assert "decades past" not in preset.output and "loss column fitted" not in preset.output
