"""Hostile input through the real CLI, one table: every case ends within seconds, with its exit
code and, for an error, exactly one line on stderr that names the option, field or file to fix,
and never a traceback. Work is refused before it is done: huge counts, resamples, files and
sizes are checked against their caps first, so each case is fast.

The sweep dry run's timing probe (it trains a few short runs) is stubbed; everything before it,
spec parsing, planning and the resource bounds, runs for real.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scaling.cli import app

FIT = str(Path(__file__).parents[2] / "notebooks" / "fits" / "chinchilla-2022-approach3.json")
SECONDS = 10
"""Each case's time limit (seconds): a hang fails the test instead of stalling the suite."""

SPEC = """name = "hostile"
data = "synthetic:markov:seed=0,vocab=16"
device = "cpu"
seeds = [0]
[shape]
n_layer = 1
seq_len = 16
vocab_size = 16
"""
GRID = '[isoflop]\nbudgets = [1e8]\nsizes = { d_model = [8] }\n'
GOOD_ROWS = "".join(f"{n},{d},{1.8 + 400 * n ** -0.34 + 410 * d ** -0.28}\n"
                    for n in (1e6, 1e7, 1e8) for d in (1e8, 1e9, 1e10))

FILES: dict[str, str | bytes] = {
    "ok.csv": "params,tokens,loss\n" + GOOD_ROWS,
    "wide.csv": "params,tokens,loss\n" + ",".join(["1"] * 100_000) + "\n",
    "latin1.csv": "params,tokens,loss\n1e6,1e9,3.0\n".encode() + b"caf\xe9\n",
    "empty.csv": "",
    "rows.csv": "params,tokens\n" + "1e9,2e10\n" * 100_001,
    "hugeint.csv": "params,tokens,loss\n" + "".join(f"{10**400},1e9,{2 + i}\n" for i in range(9)),
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "count.toml": SPEC + "[isoflop]\nbudgets = [1e8]\nsizes = { min = 1e3, max = 1e4, count = 1000000000 }\n",
    "runs.toml": SPEC + ("[isoflop]\nbudgets = { min = 1e10, max = 1e12, count = 1000 }\n"
                         "sizes = { min = 1e4, max = 1e6, count = 1000 }\n"),
    "tpp.toml": SPEC + "[grid]\nsizes = [1e4]\ntokens_per_param = [1e-9]\n",
    "compile.toml": SPEC + GRID + '[train]\ncompile = "no"\n',
    "eval.toml": SPEC + GRID + "[train]\neval_points = 1000000000\n",
    "size.toml": SPEC + "[isoflop]\nbudgets = [1e30]\nsizes = [1e20]\n",
    "deep-size.toml": SPEC.replace("n_layer = 1", "n_layer = 2") + "[isoflop]\nbudgets = [1e40]\nsizes = [1e15]\n",
    "width.toml": SPEC + "[isoflop]\nbudgets = [1e30]\nsizes = { d_model = [9223372036854775807] }\n",
    "seed.toml": SPEC.replace("seeds = [0]", "seeds = [18446744073709551615]") + GRID,
    "flops.toml": SPEC + "[isoflop]\nbudgets = [1e300]\nsizes = { d_model = [8] }\n",
    "centre.toml": SPEC + "[isoflop]\nbudgets = [1e10]\nsizes = { center_tokens_per_param = 0 }\n",
    "name.toml": SPEC.replace('"hostile"', '"a\\u001b[2Jb"') + GRID,
    "bf16.toml": SPEC + GRID + "[train]\nbf16 = 1\n",
    "threads.toml": SPEC + GRID + f"[train]\nthreads = {2**63 - 1}\n",
    "base-width.toml": SPEC.replace("vocab_size = 16", f'vocab_size = 16\nparametrization = "mup"\nbase_width = {2**63 - 1}')
    + GRID,
    "design.toml": SPEC + "[design]\ntarget = 1e39\nstudy_flops = 1e300\n",
    "tune.toml": SPEC + GRID + "[tune]\nlr = [0.01]\nbatch_size = [4]\nbootstrap = 1000000000\n",
}

# (id, arguments ({d}: the folder of FILES), exit code, what the error line must name)
CASES = [
    ("plan-1e40", ["plan", "--flops", "1e40"], 0, None),
    ("plan-1e40-kaplan", ["plan", "--flops", "1e40", "--law", "kaplan2020"], 0, None),
    ("plan-1e37-kaplan", ["plan", "--flops", "1e37", "--law", "kaplan2020"], 0, None),
    ("plan-above-cap", ["plan", "--flops", "1e41"], 2, "--flops"),
    ("plan-gpu-hours-huge", ["plan", "--gpu-hours", "1e300", "--gpu", "h100"], 2, "--gpu-hours 1e+300"),
    ("plan-days-tiny", ["plan", "--days", "1e-300", "--gpu", "h100"], 2, "--days 1e-300"),
    ("plan-price-huge", ["plan", "--flops", "1e20", "--gpu", "h100", "--price-per-gpu-hour", "1e308"], 2,
     "--price-per-gpu-hour"),
    ("plan-deep-json", ["plan", "--flops", "1e20", "--law", "{d}/deep.json"], 2, "deep.json"),
    ("plan-bad-schedule", ["plan", "--flops", "1e20", "--schedule", "wsd:cooldown_fraction=nan"], 2, "--schedule"),
    ("plan-curve-fit-missing", ["plan", "--flops", "1e20", "--schedule", "cosine", "--curve-fit", "{d}/none.json"], 2,
     "--curve-fit"),
    ("plan-curve-fit-not-curve", ["plan", "--flops", "1e20", "--schedule", "cosine", "--curve-fit", FIT], 2,
     "--curve-fit"),
    ("plan-curve-fit-deep", ["plan", "--flops", "1e20", "--schedule", "cosine", "--curve-fit", "{d}/deep.json"], 2,
     "--curve-fit"),
    ("fit-bootstrap-huge", ["fit", "{d}/ok.csv", "--bootstrap", "1000000000"], 2, "--bootstrap"),
    ("fit-bootstrap-two", ["fit", "{d}/ok.csv", "--bootstrap", "2"], 2, "--bootstrap 2 is too few"),
    ("fit-seed-negative", ["fit", "{d}/ok.csv", "--seed", "-1"], 2, "--seed"),
    ("fit-seed-huge", ["fit", "{d}/ok.csv", "--seed", str(2**64)], 2, "--seed"),
    ("fit-flops-huge", ["fit", "{d}/ok.csv", "--flops", "1e300"], 2, "--flops"),
    ("fit-jobs-huge", ["fit", "{d}/ok.csv", "--jobs", "1000000"], 2, "--jobs"),
    ("fit-wide-row", ["fit", "{d}/wide.csv"], 2, "wide.csv: a row has 100,000 fields"),
    ("fit-not-utf8", ["fit", "{d}/latin1.csv"], 2, "latin1.csv: not UTF-8"),
    ("fit-empty-csv", ["fit", "{d}/empty.csv"], 2, "empty.csv: empty"),
    ("fit-int-past-float", ["fit", "{d}/hugeint.csv"], 2, "params"),
    ("fit-nul-path", ["fit", "{d}/ok.csv", "--out", "{d}/a\x00b.json"], 2, "--out"),
    ("predict-wide-row", ["predict", FIT, "--csv", "{d}/wide.csv"], 2, "wide.csv: a row has 100,000 fields"),
    ("predict-not-utf8", ["predict", FIT, "--csv", "{d}/latin1.csv"], 2, "latin1.csv: not UTF-8"),
    ("predict-int-past-float", ["predict", FIT, "--csv", "{d}/hugeint.csv"], 2, "hugeint.csv: column params"),
    ("predict-many-rows", ["predict", FIT, "--csv", "{d}/rows.csv"], 2, "rows.csv: 100,001 rows"),
    ("backtest-wide-row", ["backtest", "{d}/wide.csv"], 2, "wide.csv"),
    ("backtest-drop-highest", ["backtest", "{d}/ok.csv", "--drop-highest", "100000000"], 2, "--drop-highest"),
    ("sweep-range-count", ["sweep", "{d}/count.toml", "--dry-run"], 2, "count.toml"),
    ("sweep-too-many-runs", ["sweep", "{d}/runs.toml", "--dry-run"], 2, "plans 1,000,000 runs"),
    ("sweep-tokens-per-param", ["sweep", "{d}/tpp.toml", "--dry-run"], 2, "grid.tokens_per_param"),
    ("sweep-compile-no", ["sweep", "{d}/compile.toml", "--dry-run"], 2, "compile must be true, false"),
    ("sweep-eval-points", ["sweep", "{d}/eval.toml", "--dry-run"], 2, "eval.toml: eval_points"),
    ("sweep-bf16-one", ["sweep", "{d}/bf16.toml", "--dry-run"], 2, "bf16 must be true, false"),
    ("sweep-threads", ["sweep", "{d}/threads.toml", "--dry-run"], 2, "threads.toml: threads must be at most"),
    ("sweep-base-width", ["sweep", "{d}/base-width.toml", "--dry-run"], 2, "shape.base_width"),
    ("sweep-size-cap", ["sweep", "{d}/size.toml", "--dry-run"], 2, "size.toml: sizes"),
    ("sweep-fixed-depth-huge", ["sweep", "{d}/deep-size.toml", "--dry-run"], 2, "would take"),
    ("sweep-width-cap", ["sweep", "{d}/width.toml", "--dry-run"], 2, "sizes.d_model"),
    ("sweep-seed-cap", ["sweep", "{d}/seed.toml", "--dry-run"], 2, "seed.toml: seeds"),
    ("sweep-flops-cap", ["sweep", "{d}/flops.toml", "--dry-run"], 2, "isoflop.budgets"),
    ("sweep-centre-zero", ["sweep", "{d}/centre.toml", "--dry-run"], 2, "center_tokens_per_param"),
    ("sweep-name-escape", ["sweep", "{d}/name.toml", "--dry-run"], 2, "sweep name"),
    ("sweep-design-flops", ["sweep", "{d}/design.toml", "--dry-run"], 2, "study_flops"),
    ("sweep-tune-bootstrap", ["sweep", "{d}/tune.toml", "--dry-run"], 2, "tune.bootstrap"),
    ("sweep-workers", ["sweep", "cpu-smoke", "--dry-run", "--workers", "1000000000"], 2, "--workers"),
    ("sweep-retries", ["sweep", "cpu-smoke", "--dry-run", "--retries", "1000000000"], 2, "--retries"),
    ("design-flops", ["design", "--target", "1e20", "--study-flops", "1e300"], 2, "--study-flops"),
    ("design-seed", ["design", "--target", "1e20", "--study-flops", "1e18", "--seed", "-5"], 2, "--seed"),
    ("report-bootstrap", ["report", "--out", "{d}/r.html", "--bootstrap", "1000000000"], 2, "--bootstrap"),
    ("plot-bootstrap", ["plot", "isoflop", "{d}/ok.csv", "--out", "{d}/p.png", "--bootstrap", "1000000000"], 2,
     "--bootstrap"),
    ("report-range", ["report", "--out", "{d}/r.html", "--range", "1e10:1e300"], 2, "--range"),
    ("tune-bootstrap", ["tune", "cpu-tune", "--bootstrap", "1000000000"], 2, "--bootstrap"),
    ("train-seed", ["train", "--params", "1e5", "--tokens", "1e6", "--seed", str(2**40)], 2, "--seed"),
    ("train-threads", ["train", "--params", "1e5", "--tokens", "1e6", "--threads", str(2**40)], 2, "--threads"),
    ("train-mup-width", ["train", "--params", "1e5", "--tokens", "1e6", "--mup-base-width", str(2**70)], 2,
     "--mup-base-width"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile")
    for name, content in FILES.items():
        (path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.fixture(autouse=True)
def _no_probe(monkeypatch):
    import scaling.sweep.dryrun as dryrun

    monkeypatch.setattr(dryrun, "_probe", lambda *args, **kwargs: None)


def _alarm(signum, frame):
    raise TimeoutError(f"over {SECONDS} s")


TORCH_CASES = [
    # the shape rule's search is bounded, so a size past any machine is refused by the time bound
    ("train-huge-params", ["train", "--params", "1e30", "--tokens", "1e6", "--out", "{d}/run"], 2, "would take"),
    ("train-curve-fit-missing", ["train", "--params", "1e5", "--tokens", "1e6", "--curve-fit", "{d}/none.json"], 2,
     "--curve-fit"),
    ("train-curve-fit-not-curve", ["train", "--params", "1e5", "--tokens", "1e6", "--curve-fit", FIT], 2, "--curve-fit"),
]


@pytest.mark.parametrize("case_id, args, code, names",
                         CASES + [pytest.param(*case, marks=pytest.mark.needs("torch")) for case in TORCH_CASES],
                         ids=[c[0] for c in CASES + TORCH_CASES])
def test_hostile_case(case_id, args, code, names, folder, monkeypatch):
    monkeypatch.chdir(folder)  # anything a case writes by default stays in the scratch folder
    argv = [a.replace("{d}", str(folder)) for a in args]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS)
    try:
        result = CliRunner().invoke(app, argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{case_id}: {type(result.exception).__name__}: {result.exception}") from result.exception
    assert result.exit_code == code, (case_id, result.output)
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if code:
        assert len(errors) == 1, (case_id, result.stderr)
        assert names in errors[0], (case_id, errors[0])
        assert errors[0].isprintable()  # NUL bytes and terminal escapes print as escapes
    else:
        assert not errors


def test_json_stdout_carries_only_the_document():
    # Whatever a library prints while the command runs, from Python or to file descriptor 1
    # (where Ray's C++ core and child processes write), goes to stderr.
    script = (
        "import os, sys\n"
        "import scaling.cli.render as render\n"
        "real = render.json_text\n"
        "def noisy(*args, **kwargs):\n"
        "    print('stray print'); sys.stdout.flush(); os.write(1, b'stray fd write\\n')\n"
        "    return real(*args, **kwargs)\n"
        "render.json_text = noisy\n"
        "from scaling.cli import main\n"
        "sys.argv = ['scaling', 'plan', '--flops', '1e21', '--format', 'json']\n"
        "main()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"].startswith("scaling.")
    assert "stray print" in done.stderr and "stray fd write" in done.stderr


def test_ray_address_with_nothing_listening_fails_fast():
    from scaling.errors import EnvironmentFault
    from scaling.sweep.backends import probe_address

    with socket.socket() as holder:  # a port that was free a moment ago and has no listener
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(EnvironmentFault, match=f"--address 127.0.0.1:{port}: no Ray cluster answers"):
        probe_address(f"127.0.0.1:{port}")
    assert time.monotonic() - start < 6
    probe_address("auto")  # forms ray.init resolves itself are left to it


@pytest.mark.parametrize("spec, names", [
    ("synthetic:markov:vocab=99999999999", "vocab must be from 2 to 1024"),
    ("synthetic:markov:tokens=1e30", "tokens must be an integer"),
    ("synthetic:markov:alpha=x", "alpha must be a number"),
    ("synthetic:markov:seed=-1", "seed must be from 0"),
    ("tokens:{d}/ok.csv:vocab=99999999999999999999", "vocab must be from 2"),
    ("tokens:{d}/ok.csv:vocab=50000", "ok.csv: not a token file of uint16"),
])
def test_data_specs_are_refused_before_their_allocation(spec, names, folder):
    from scaling.training.data.corpus import load_corpus

    with pytest.raises(ValueError, match=names):
        load_corpus(spec.replace("{d}", str(folder)))


def test_a_runs_file_past_the_size_cap_is_refused_unread(tmp_path):
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as file:
        file.truncate(300 * 2**20)  # sparse: 300 MiB on paper, nothing written
    result = CliRunner().invoke(app, ["fit", str(huge)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {huge}: 300 MiB is larger than the 256 MiB a runs file may be"
