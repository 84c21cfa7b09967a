"""Who ran a sweep, where: the provenance each invocation merges into sweep.json.

The run store itself (run directories, locks, records, events, sweep.json, the summary) is
`scaling.rundir`.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from scaling.hardware import visible_gpus
from scaling.provenance import git_commit, versions


def provenance(command: str | None = None) -> dict[str, Any]:
    """Who ran what where: command line, code version (git sha, dirty flag), machine."""
    import platform

    sha, dirty = git_commit()
    return {"command": command, "git_sha": sha, "git_dirty": dirty, "versions": versions(),
            "machine": {"hostname": socket.gethostname(), "platform": platform.platform(),
                        "processor": platform.processor() or platform.machine(),
                        "cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "gpus": _gpu_names()},
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _gpu_names() -> list[str]:
    return [gpu.name for gpu in visible_gpus()]
