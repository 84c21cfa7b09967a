"""Which code ran: this package's version, the versions of the libraries that can change a number,
and the commit of the checkout this package runs from (and whether it had edits).

Read by the run records (`scaling.training.runtime.versions`) and by a sweep's sweep.json
(`scaling.sweep.store.provenance`). Only the package's own checkout counts: an installed wheel, or
a package sitting inside some other repository (a virtual environment in a project), has none.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

__version__ = "0.1.0"
"""This package's version (re-exported as `scaling.__version__`; pyproject.toml reads it here)."""

CHECKOUT = Path(__file__).resolve().parent.parent
"""The folder holding the `scaling` package: a git checkout of this project when run from source."""


LIBRARIES = ("numpy", "torch", "ray")
"""The installed libraries whose versions a run record and sweep.json carry."""


@functools.cache
def versions() -> dict[str, str]:
    """Python, this package, and each of LIBRARIES that is installed (from its metadata: nothing is
    imported, so the sweep's parent process stays free of torch)."""
    from importlib import metadata  # lazy: `import scaling` stays fast (30 ms of metadata machinery)

    found = {"python": platform.python_version(), "scaling": __version__}
    for package in LIBRARIES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


@functools.cache
def git_commit() -> tuple[str | None, bool | None]:
    """(HEAD's sha, whether tracked files differ from it) of the package's checkout, or (None, None)."""
    if not (CHECKOUT / ".git").exists():
        return None, None
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return sha, (bool(status) if status is not None else None)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None
