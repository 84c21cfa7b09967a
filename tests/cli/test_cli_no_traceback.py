"""No traceback from any command: every command driven with generated bad values and bad files
must end in exit 0, 1 (environment) or 2 (bad input) with at most a one-line error.

Training and throughput measurement are stubbed after validation (the bounds check, the spec
parse and the config run for real), so examples stay fast; the default run keeps to a few
dozen examples, the `slow` variant to several hundred.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scaling.cli import app

FIXTURE = Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json"

NUMBERS = st.sampled_from(["0", "-1", "nan", "inf", "-inf", "1e400", "1e-400", "abc", "", "1e30", "3",
                           "0.5", "1e21", "7e9", "1,2", "2e12", "100000"])
FILE_KINDS = ("missing", "empty", "binary", "dir", "json_trunc", "json_list", "json_edited", "csv_bad_cols",
              "csv_text", "csv_one_row", "csv_constant", "csv_ok", "toml_bad", "toml_types", "toml_huge")


def _write(folder: Path, kind: str, draw_value: str) -> str:
    """A file (or folder, or missing path) of `kind` under `folder`; returns its path."""
    suffix = {"json": ".json", "csv": ".csv", "toml": ".toml"}.get(kind.split("_")[0], ".json")
    path = folder / f"{kind}{suffix}"
    if kind == "missing":
        return str(folder / "absent.json")
    if kind == "dir":
        (folder / "d").mkdir(exist_ok=True)
        return str(folder / "d")
    text: str | bytes
    if kind == "empty":
        text = ""
    elif kind == "binary":
        text = b"\xff\xfe\x00\x01PAR1"
    elif kind == "json_trunc":
        text = FIXTURE.read_text()[: 50 + len(draw_value)]
    elif kind == "json_list":
        text = "[1, 2, 3]"
    elif kind == "json_edited":
        document = json.loads(FIXTURE.read_text())
        document["coefficients"]["alpha"] = draw_value
        text = json.dumps(document)
    elif kind == "csv_bad_cols":
        text = "a,b\n1,2\n"
    elif kind == "csv_text":
        text = f"params,tokens,loss\n{draw_value},1e9,3\n1e7,x,2\n"
    elif kind == "csv_one_row":
        text = "params,tokens,loss\n1e7,1e9,3.0\n" * 8
    elif kind == "csv_constant":
        text = "params,tokens,loss\n" + "".join(f"{1e6 * (i + 1)},{1e9 * (i % 3 + 1)},2.0\n" for i in range(9))
    elif kind == "csv_ok":
        text = "params,tokens,loss\n" + "".join(
            f"{n},{d},{1.8 + 400 * n ** -0.34 + 410 * d ** -0.28}\n"
            for n in (1e6, 1e7, 1e8) for d in (1e8, 1e9, 1e10))
    elif kind == "toml_bad":
        text = "name = ["
    elif kind == "toml_types":
        text = (f'name = "t"\ndata = "synthetic:markov:seed=0,vocab=16"\ndevice = "cpu"\n[shape]\n'
                f'n_layer = "{draw_value}"\n[isoflop]\nbudgets = [1e8]\nsizes = {{ d_model = [8] }}\n')
    else:  # toml_huge
        text = ('name = "t"\ndata = "synthetic:markov:seed=0,vocab=16"\ndevice = "cpu"\n[shape]\nn_layer = 1\n'
                f'seq_len = 16\nvocab_size = 16\n[isoflop]\nbudgets = [1e8, {draw_value or 1}]\n'
                'sizes = { d_model = [8, 16] }\n')
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], dict[str, str]]:
    folder = Path(tempfile.mkdtemp(prefix="cli-fuzz-"))
    value = draw(NUMBERS)
    file = _write(folder, draw(st.sampled_from(FILE_KINDS)), value)
    number = lambda: draw(NUMBERS)  # noqa: E731
    command = draw(st.sampled_from(["plan", "compare", "laws", "fit", "runs", "sweep", "train", "plot", "backtest",
                                    "design"]))
    if command == "plan":
        args = ["plan"] + draw(st.sampled_from([["--flops", number()], ["--params", number()], ["--tokens", number()],
                                                ["--gpu-hours", number(), "--gpu", "h100"], ["--days", number()]]))
        args += draw(st.sampled_from([[], ["--law", file], ["--law", "nope"], ["--unique-tokens", number()],
                                      ["--inference-tokens", number()], ["--loss", number()], ["--mfu", number()],
                                      ["--gpus", number()], ["--format", draw(st.sampled_from(["json", "csv", "x"]))]]))
    elif command == "compare":
        args = ["compare"] + draw(st.sampled_from([["--flops", number()], ["--range", f"{number()}:{number()}"]]))
        args += draw(st.sampled_from([[], ["--law", file], ["--under", file], ["--law", "kaplan2020"]]))
    elif command == "laws":
        args = ["laws", "--format", draw(st.sampled_from(["json", "table", "yaml"]))]
    elif command == "fit":
        args = ["fit", file, "--approach", draw(st.sampled_from(["1", "2", "3", "kaplan", "all", "9"]))]
        args += draw(st.sampled_from([[], ["--bootstrap", draw(st.sampled_from(["0", "2", "-1", "x"]))],
                                      ["--delta", number()], ["--level", number()], ["--drop-highest", number()],
                                      ["--fix", f"E={value}"], ["--column", f"params={value}"],
                                      ["--flops", number()], ["--out", str(folder / "no" / "f.json")],
                                      ["--format", "json"]]))
    elif command == "runs":
        args = ["runs", draw(st.sampled_from([str(folder), file])), "--format",
                draw(st.sampled_from(["table", "json", "csv"]))]
    elif command == "sweep":
        args = ["sweep", file, "--dry-run", "--out", str(folder / "store")]
        args += draw(st.sampled_from([[], ["--workers", number()], ["--retries", number()]]))
    elif command == "train":
        args = ["train", "--tokens", number(), "--device", "cpu", "--out", str(folder / "run"), "--quiet"]
        args += draw(st.sampled_from([["--shape", draw(st.sampled_from(["1,8,1", "1,8,3", "a,b,c", "0,8,1", value]))],
                                      ["--params", number()]]))
        args += draw(st.sampled_from([[], ["--lr", number()], ["--batch-size", number()], ["--seq-len", number()],
                                      ["--data", draw(st.sampled_from([file, "tokens:x:vocab=2", "synthetic:nope"]))]]))
    elif command == "plot":
        kind = draw(st.sampled_from(["frontier", "contours", "allocations", "residuals", "isoflop", "curves", "pie"]))
        args = ["plot", kind, draw(st.sampled_from([file, "chinchilla", "nope"])),
                "--out", draw(st.sampled_from([str(folder / "f.png"), str(folder / "f.txt"), str(folder / "x" / "f.png")]))]
        args += draw(st.sampled_from([[], ["--dpi", number()], ["--range", f"{number()}:{number()}"],
                                      ["--bootstrap", draw(st.sampled_from(["0", "3", "-2"]))]]))
    elif command == "design":
        args = ["design", "--target", number(), "--study-flops", number()]
        args += draw(st.sampled_from([[], ["--runs", file], ["--prior", draw(st.sampled_from([file, "kaplan2020", "nope"]))],
                                      ["--approach", draw(st.sampled_from(["2", "3", "9"]))], ["--quantity", "loss"],
                                      ["--max-run-flops", number()], ["--min-run-flops", number()],
                                      ["--until-width", number()], ["--prior-spread", number()], ["--spec", file],
                                      ["--format", draw(st.sampled_from(["toml", "json", "csv"]))]]))
    else:
        args = ["backtest", draw(st.sampled_from([file, "chinchilla-2022", "nope"]))]
        args += draw(st.sampled_from([[], ["--points", number()], ["--min-budgets", number()],
                                      ["--drop-highest", number()]]))
    return args, {"folder": str(folder)}


@pytest.fixture(autouse=True)
def _stub_work(monkeypatch):
    """Stop before the expensive part, after every check: training and throughput timing."""
    import scaling.sweep.dryrun as dryrun

    monkeypatch.setattr(dryrun, "_probe", lambda *args, **kwargs: None)  # the dry run's timing probe
    if importlib.util.find_spec("torch") is None:
        return  # without torch, train and sweep stop at "this command needs torch": one line too
    import scaling.training.train as train_module

    def stub_train(cfg, run_dir, **_):
        raise ValueError("(stub) training reached after validation")

    monkeypatch.setattr(train_module, "train", stub_train)


def _check(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args} raised {type(result.exception).__name__}: {result.exception}") \
            from result.exception
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1, (args, result.output)
    if result.exit_code in (1, 2) and not errors and "Usage:" not in result.output:
        # train exits 1 for a run that did not end ok, and says so on its own line
        assert args[0] == "train", (args, result.output)


SETTINGS = {"deadline": None, "derandomize": True,
            "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


@settings(max_examples=40, **SETTINGS)
@given(case=command_lines())
def test_no_command_ends_in_a_traceback(case):
    _check(case[0])


@pytest.mark.slow
@settings(max_examples=400, **SETTINGS)
@given(case=command_lines())
def test_no_command_ends_in_a_traceback_many(case):
    _check(case[0])
