"""`scaling` command line. Each command module parses options, calls one library function and
renders the result; heavy imports (torch, matplotlib) stay inside command bodies so that
`scaling plan` starts fast.
"""

from __future__ import annotations

from scaling.cli._app import app

# Each study type's sweep-spec table registers when its module is imported (scaling.sweep.tables):
# every command reads specs with [tune] and [design].
from scaling.design import goal as _design_table  # noqa: E402,F401
from scaling.tuning import spec as _tune_table  # noqa: E402,F401

# Importing a command module registers its commands on `app` (one line per module).
from scaling.cli import plan as _plan  # noqa: E402,F401
from scaling.cli import fit as _fit  # noqa: E402,F401
from scaling.cli import predict as _predict  # noqa: E402,F401
from scaling.cli import curves as _curves  # noqa: E402,F401
from scaling.cli import backtest as _backtest  # noqa: E402,F401
from scaling.cli import train as _train  # noqa: E402,F401
from scaling.cli import plot as _plot  # noqa: E402,F401
from scaling.cli import sweep as _sweep  # noqa: E402,F401
from scaling.cli import report as _report  # noqa: E402,F401
from scaling.cli import tune as _tune  # noqa: E402,F401
from scaling.cli import design as _design  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
