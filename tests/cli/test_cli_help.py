"""Every command's --help, read at 80 columns as a newcomer's terminal shows it: nothing cut,
brackets printed as written, the bundled specs as shipped, an example that parses, and every
option with a fixed set of values typed as a choice."""

from __future__ import annotations

import shlex

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from scaling.cli import app
from scaling.errors import DISTRIBUTION
from scaling.sweep.specfile import bundled_specs

runner = CliRunner()
GROUP = get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]


def help_text(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_command_list_names_every_command_in_full():
    text = help_text()
    listing = text[text.index("Commands:"):]
    assert not [line for line in listing.splitlines() if line.rstrip().endswith(("...", "…"))]
    for name in COMMANDS:
        summary = GROUP.commands[name].help.split(".")[0].split(";")[0]  # type: ignore[attr-defined]
        assert " ".join(summary.split()) in " ".join(listing.split()), name


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_whole_at_80_columns_and_shows_an_example(command: str):
    text = help_text(command)
    lines = text.splitlines()
    # a cut sentence (a usage line ends in "..." where an argument takes several values)
    assert not [line for line in lines if line.rstrip().endswith(("...", "…")) and not line.startswith("Usage:")]
    start = lines.index("  Examples:")
    examples = [line.strip() for line in lines[start + 1:] if line.strip()]
    assert examples and all(line.startswith(f"scaling {command}") for line in examples)
    # Every line but an example fits 80 columns (an example is a command: it is not wrapped).
    assert all(len(line) <= 80 for line in lines[:start]), [line for line in lines if len(line) > 80]
    for example in examples:  # each example parses: its options exist and its values are valid
        argv = shlex.split(example)[2:]
        GROUP.commands[command].make_context(command, argv, resilient_parsing=False)  # type: ignore[attr-defined]


def test_brackets_are_printed_as_written():
    # rich markup would read "[mlflow]" as a style tag and print nothing
    assert f"{DISTRIBUTION}[mlflow]" in "".join(help_text("sweep").split())


def test_sweep_help_lists_every_bundled_spec():
    text = " ".join(help_text("sweep").split())
    assert f"({', '.join(bundled_specs())})" in text and len(bundled_specs()) >= 6


@pytest.mark.parametrize("command, option, choices", [
    ("design", "--approach", ["2", "3"]),
    ("design", "--quantity", ["params", "loss"]),
    ("design", "--format", ["table", "json", "toml"]),
    ("plan", "--gpu", ["a100", "a100-pcie", "h100", "h100-pcie", "h100-nvl", "h200", "h200-nvl", "l40s", "b200"]),
    ("plan", "--params-convention", ["total", "non-embedding"]),
    ("sweep", "--backend", ["local", "ray"]),
    ("backtest", "--approach", ["2", "3"]),
    ("train", "--device", None),
    ("fit", "--approach", None),
])
def test_options_with_a_fixed_set_of_values_are_typed_choices(command: str, option: str, choices: list[str] | None):
    parameter = next(p for p in GROUP.commands[command].params if option in p.opts)  # type: ignore[attr-defined]
    assert parameter.type.name == "choice", f"{command} {option} is {parameter.type.name}"
    if choices is not None:
        assert list(parameter.type.choices) == choices
    result = runner.invoke(app, [command, option, "no-such-value"])
    assert result.exit_code == 2 and option in result.output


def test_backtest_choices_are_the_approaches_it_backtests():
    from scaling.analysis.backtest import APPROACHES
    from scaling.cli.backtest import BacktestApproach

    assert tuple(a.value for a in BacktestApproach) == APPROACHES
