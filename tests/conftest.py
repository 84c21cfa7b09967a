"""Shared test helpers (tests/plot_data.py) import from any test folder: pytest puts this
folder on sys.path because it holds a conftest.py and no __init__.py."""
