"""Shared test configuration: optional dependencies skip with a reason instead of failing.

Shared helpers (tests/plot_data.py) import from any test folder: pytest puts this folder on
sys.path because it holds a conftest.py and no __init__.py.

`@pytest.mark.needs("torch")` (or "ray", ...) on a test skips it where that module is not
installed; a test module that imports one at the top uses `pytest.importorskip` instead.
"""

from __future__ import annotations

import importlib.util

import pytest

EXTRA = {"torch": "train", "ray": "ray", "nbclient": "dev"}
"""Module -> the pyproject extra that installs it, for the skip reason."""


def missing_reason(module: str) -> str:
    return f"needs {module}: pip install -e '.[{EXTRA.get(module, 'dev')}]'"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker in item.iter_markers("needs"):
            for module in marker.args:
                if importlib.util.find_spec(module) is None:
                    item.add_marker(pytest.mark.skip(reason=missing_reason(module)))
