"""Every notebook runs top to bottom (nbclient, kernel python3) and is committed without outputs.

Part of the default run, so CI executes them: a notebook that raises fails here. Figures meant as
documentation live in docs/figures/, not in notebook outputs.
"""

from pathlib import Path

import pytest

pytest.importorskip("nbclient", reason="needs nbclient: pip install -e '.[dev]'")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def test_the_three_notebooks_exist():
    assert [p.name for p in PATHS] == ["01_chinchilla_replication.ipynb", "02_kaplan_vs_chinchilla.ipynb",
                                       "03_fit_your_sweep.ipynb"]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before commit"


@pytest.mark.parametrize("path", [pytest.param(p, marks=() if p.name.startswith("01") else pytest.mark.slow)
                                  for p in PATHS], ids=[p.stem for p in PATHS])  # 01 in the default run
def test_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # notebook 03's sweep goes here, cleaned by pytest
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, naming the cell, when any cell raises
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
