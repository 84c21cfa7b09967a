"""Typed errors the CLI maps to exit codes: bad input (ValueError and its subclasses) exits 2,
a fault of the environment (`EnvironmentFault`, OSError such as a full or read-only disk,
MemoryError) exits 1. Library code raises these; only `scaling.cli` decides how they print.
"""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "EnvironmentFault", "RunBusy", "StoreFault", "install_hint"]

DISTRIBUTION = "scaling-laws"
"""The name this package installs under (pyproject.toml's `name`): `scaling` on the package index
is an unrelated project, so the distribution has its own name while the import and the command
stay `scaling`."""


def install_hint(extra: str) -> str:
    """The command that installs an optional extra, e.g. `pip install 'scaling-laws[train]'`."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


class EnvironmentFault(Exception):
    """The machine, not the input, stops the command (a held lock, an unwritable store)."""


class RunBusy(EnvironmentFault):
    """Another process holds the run directory's lock (it is training that run)."""


class StoreFault(EnvironmentFault, OSError):
    """The run store cannot be written (read-only, full, no permission); names the path. Also an
    OSError, so code that tolerates a failed write (a summary cache) keeps doing so."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()
