"""Every `console` block of README.md and of the documentation site's pages (docs/**/*.md) runs,
and prints what the page shows.

A block is a sequence of `$ command` lines, each followed by the output it prints. The commands
of one block run in order in one fresh folder (so `fit ... --out fit.json` feeds the next
`plan --law fit.json`), with the committed study reachable as `runs/cpu-isoflop`. Output is
compared line by line, token by token: words exactly, numbers to the precision printed (one unit
in the last printed digit, so a platform's last-bit rounding does not fail the test), column
padding ignored.

An HTML comment on the line before a block marks the exceptions (the `readme:` prefix is read in
every page):
`<!-- readme: illustrative -->` (timings, training, an excerpt: not run) and
`<!-- readme: slow -->` (run only under `-m slow`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
MARK = re.compile(r"<!--\s*readme:\s*(illustrative|slow)\s*-->")
NUMBER = re.compile(r"^([\[(]?)([+-]?\d+(?:\.(\d+))?(?:e[+-]?\d+)?)([KMBT%]?)([\]),;:]*)$")


@dataclass(frozen=True)
class Example:
    """One `$ command` of a console block and the lines the page shows it printing."""

    page: str
    line: int
    command: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    mark: str | None
    examples: tuple[Example, ...]


def read_blocks(text: str, page: str = "README.md") -> list[Block]:
    """A page's console blocks, each with its mark (None, "illustrative" or "slow")."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        start, body = i + 1, []
        previous = lines[i - 1] if i else ""
        i += 1
        while lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        mark = MARK.search(previous)
        examples: list[Example] = []
        for offset, row in enumerate(body):
            if row.startswith("$ "):
                command = row[2:].split("  #")[0].strip()
                examples.append(Example(page, start + offset + 1, command, ()))
            elif examples:
                last = examples[-1]
                examples[-1] = Example(page, last.line, last.command, last.expected + (row,))
        blocks.append(Block(page, start, mark.group(1) if mark else None, tuple(examples)))
        i += 1
    return blocks


BLOCKS = [block for page in PAGES for block in read_blocks(page.read_text(), str(page.relative_to(ROOT)))]


def _tokens_match(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    left, right = NUMBER.match(expected), NUMBER.match(actual)
    if not (left and right) or left.groups()[0::3] != right.groups()[0::3]:
        return False  # different words, or the same number with other brackets or units
    if (left.group(3) or "") and len(left.group(3)) != len(right.group(3) or ""):
        return False
    digits = len(left.group(3) or "")
    mantissa_left, mantissa_right = (float(m.group(2).split("e")[0]) for m in (left, right))
    exponent = [m.group(2).partition("e")[2] for m in (left, right)]
    return exponent[0] == exponent[1] and abs(mantissa_left - mantissa_right) <= 1.01 * 10.0 ** -digits


def assert_output_matches(example: Example, output: str) -> None:
    expected = [row for row in example.expected if row.strip()]
    actual = [row for row in output.splitlines() if row.strip()]
    context = f"{example.page} line {example.line}: $ {example.command}\n--- printed:\n{output}"
    assert len(actual) == len(expected), context
    for want, got in zip(expected, actual):
        if set(want.strip()) <= {"-", " "} and set(got.strip()) <= {"-", " "}:
            continue  # a table rule: its widths follow the columns
        want_tokens, got_tokens = want.split(), got.split()
        assert len(want_tokens) == len(got_tokens) and all(
            _tokens_match(w, g) for w, g in zip(want_tokens, got_tokens)), f"{context}\n--- expected line:\n{want}"


def run_block(block: Block, folder: Path) -> None:
    (folder / "runs").mkdir()
    (folder / "runs" / "cpu-isoflop").symlink_to(ROOT / "runs" / "cpu-isoflop")
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    for example in block.examples:
        assert example.command.startswith("scaling "), f"{example.page} line {example.line}: not a scaling command"
        argv = [sys.executable, "-m", "scaling", *example.command.split()[1:]]
        result = subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, timeout=600)
        assert result.returncode == 0, f"{example.page} line {example.line}: $ {example.command}\n{result.stdout}"
        assert_output_matches(example, result.stdout)


def _params(mark: str | None) -> list:
    marks = {None: (), "slow": (pytest.mark.slow,)}
    return [pytest.param(block, id=f"{block.page}:{block.line}", marks=marks[block.mark])
            for block in BLOCKS if block.mark == mark or (mark is None and block.mark == "slow")]


def test_readme_has_examples_to_check():
    runnable = [block for block in BLOCKS if block.mark != "illustrative"]
    assert len(runnable) >= 8 and all(block.examples for block in runnable)
    assert any(block.page == "README.md" for block in runnable)  # the README's own example runs too
    assert {block.page for block in runnable} >= {"docs/plan.md", "docs/fit.md", "docs/designing.md"}


@pytest.mark.parametrize("block", _params(None))
def test_console_block_prints_what_the_readme_shows(block: Block, tmp_path: Path):
    run_block(block, tmp_path)


@pytest.mark.parametrize(("expected", "actual", "same"), [
    ("2.79B", "2.79B", True), ("2.329", "2.330", True), ("2.329", "2.331", False),
    ("[2.43B,", "[2.44B,", True), ("2.43B", "2.43M", False), ("1e+21", "1e+22", False),
    ("(+4.39%)", "(+4.40%)", True), ("total", "totals", False), ("0.4", "0.45", False),
])
def test_numbers_compare_to_their_printed_precision(expected, actual, same):
    assert _tokens_match(expected, actual) is same
