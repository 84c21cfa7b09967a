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


class StoreFault(EnvironmentFault, OSError):
    """The run store cannot be written (read-only, full, no permission); names the path. Also an
    OSError, so code that tolerates a failed write (a summary cache) keeps doing so."""

    def __str__(self) -> str:
        return str(self.strerror) if self.strerror else super().__str__()
