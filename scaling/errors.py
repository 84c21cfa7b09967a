"""Typed errors the CLI maps to exit codes: bad input (ValueError and its subclasses) exits 2,
a fault of the environment (`EnvironmentFault`, OSError such as a full or read-only disk,
MemoryError) exits 1. Library code raises these; only `scaling.cli` decides how they print.
"""

from __future__ import annotations

__all__ = ["EnvironmentFault", "RunBusy", "StoreFault"]


class EnvironmentFault(Exception):
    """The machine, not the input, stops the command (a held lock, an unwritable store)."""


class RunBusy(EnvironmentFault):
    """Another process holds the run directory's lock (it is training that run)."""


class StoreFault(EnvironmentFault):
    """The run store cannot be read or written (permissions, a full disk); names the path."""
