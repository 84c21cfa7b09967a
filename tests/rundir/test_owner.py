"""scaling.rundir is the one owner of the run store's files: no other module names one.

Every string constant in scaling/ outside scaling/rundir/ that is a store file's name (or a path
ending in one) counts as a raw read or write of it, except docstrings and messages (a file named
inside a longer sentence). The names come from the owner itself (scaling.rundir.files), so a
new file kind is covered as soon as it is declared there.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import scaling
from scaling.rundir import files

ROOT = Path(scaling.__file__).parent
OWNER = ROOT / "rundir"
NAMES = (files.CONFIG, files.RECORD, files.CURVE, files.EVENTS, files.SWEEP_META, files.SUMMARY, files.CHECKPOINT,
         files.SWEEP_LOCK)
_KEPT = files.BRANCH_STATE.split("{step}")
PATTERN = re.compile(r"(^|/)(" + "|".join(re.escape(n) for n in NAMES)
                     + "|" + re.escape(_KEPT[0]) + r"[^/]*" + re.escape(_KEPT[1]) + r")$")


def raw_uses(source: str) -> list[tuple[int, str]]:
    """(line, constant) of each store file name used as a path in `source` (docstrings skipped)."""
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and PATTERN.search(node.value)]


def test_only_the_owner_names_run_store_files():
    found = [f"{path.relative_to(ROOT.parent)}:{line}: {value!r}"
             for path in sorted(ROOT.rglob("*.py")) if OWNER not in path.parents
             for line, value in raw_uses(path.read_text())]
    assert found == [], "run-store files opened outside scaling/rundir/:\n" + "\n".join(found)


def test_the_check_sees_raw_paths_and_skips_docstrings_and_messages():
    planted = '''
"""Reads record.json."""
import json
def f(run_dir, sweep_dir):
    """Opens curve.parquet."""
    json.loads((run_dir / "record.json").read_text())
    open(f"{sweep_dir}/events.jsonl", "a")
    raise ValueError(f"no sweep.json in {sweep_dir}")
'''
    assert sorted(value for _, value in raw_uses(planted)) == ["/events.jsonl", "record.json"]
