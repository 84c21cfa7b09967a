"""`scaling plot KIND DATA --out FILE`: every kind writes its file; bad input is one line, exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plot_data import write_sweep
from scaling.cli import app
from scaling.plot.figures import KINDS

runner = CliRunner()
FIT = str(Path(__file__).parents[1] / "fixtures" / "fitresult_schema1_chinchilla.json")

CASES = {
    "isoflop": ["porian-2024-owt2-tuned", "--bootstrap", "20"],
    "frontier": [FIT],
    "contours": ["chinchilla-unrounded"],
    "allocations": ["kaplan2020,chinchilla-unrounded"],
    "residuals": [FIT, "--runs", "chinchilla-2022"],
}


def test_every_kind_is_offered():
    from scaling.cli.plot import Kind

    assert {k.value for k in Kind} == set(KINDS) == {"isoflop", "frontier", "contours", "curves",
                                                      "allocations", "residuals", "branches"}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_writes_a_png(tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    result = runner.invoke(app, ["plot", kind, *CASES[kind], "--out", str(out), "--dpi", "40"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in result.output


def test_curves_of_a_sweep_directory(tmp_path):
    out = tmp_path / "curves.png"
    result = runner.invoke(app, ["plot", "curves", str(write_sweep(tmp_path)), "--bootstrap", "5",
                                  "--out", str(out), "--dpi", "40"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_format_follows_the_extension(tmp_path, suffix, magic):
    out = tmp_path / f"allocations{suffix}"
    result = runner.invoke(app, ["plot", "allocations", "chinchilla,kaplan2020", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("args, message", [
    (["plot", "contours", "chinchilla", "--out", "x.jpg"], ".png, .svg, .pdf"),
    (["plot", "contours", "kaplan2020", "--out", "x.png"], "predicts no loss"),
    (["plot", "contours", "nope", "--out", "x.png"], "unknown law"),
    (["plot", "violin", "chinchilla", "--out", "x.png"], "violin"),
    (["plot", "allocations", "chinchilla", "--range", "1e20:1e18", "--out", "x.png"], "LO < HI"),
    (["plot", "allocations", "chinchilla", "--range", "ten", "--out", "x.png"], "LO:HI"),
    (["plot", "residuals", "chinchilla", "--out", "x.png"], ".json"),
    (["plot", "residuals", FIT, "--out", "x.png"], "need the runs"),
    (["plot", "isoflop", "no/such/dir", "--out", "x.png"], "no such file"),
    (["plot", "contours", "chinchilla", "--out", "no/such/dir/x.png"], "no such directory"),
])
def test_bad_input_is_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not any(tmp_path.iterdir())


def test_plan_fit_and_compare_never_import_matplotlib():
    code = ("import sys; from scaling.cli import app; import scaling.planning.optimal, scaling.analysis.compare, scaling.fit.engine; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow  # a fresh interpreter importing matplotlib (9 s loaded); the kinds above draw PNGs in-process
def test_headless_subprocess_writes_png(tmp_path):
    # A fresh process without a display: the command must not need an interactive backend.
    out = tmp_path / "a.png"
    env = {"PATH": "", "MPLBACKEND": "", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", "from scaling.cli import main; main()", "plot", "allocations", "chinchilla",
                    "--out", str(out), "--dpi", "30"], check=True, env=env, capture_output=True)
    assert out.stat().st_size > 1000
