"""How a newcomer first meets the command line: version, bare help, `python -m`, completion."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

import scaling
from scaling.cli import app

runner = CliRunner()


def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"scaling {scaling.__version__}"


def test_bare_command_prints_help_and_exits_0():
    result = runner.invoke(app, [])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "plan" in result.output and "error:" not in result.output


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "scaling", "plan", "--flops", "1e21", "--law", "chinchilla",
                             "--format", "json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert runner.invoke(app, ["plan", "--flops", "1e21", "--law", "chinchilla", "--format", "json"]).output \
        == result.stdout


def test_shell_completion_script_is_available():
    # typer decides at start-up whether --show-completion names its shell or detects it; detection
    # needs a parent shell, which CI's detached jobs lack, so the test names the shell.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = subprocess.run([sys.executable, "-m", "scaling", "--show-completion", "bash"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "complete -o default" in result.stdout and "_COMPLETE=complete_bash" in result.stdout
