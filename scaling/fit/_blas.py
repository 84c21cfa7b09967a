"""Run small optimisations with single-threaded OpenBLAS.

scipy's L-BFGS-B calls BLAS on tiny matrices; OpenBLAS then wakes its thread pool, whose
threads busy-wait. On a shared 2-core machine this made one Approach 3 polish 30x slower
(0.47 s against 0.016 s measured here), and bootstrap workers oversubscribed the cores. This
sets the thread count of every loaded OpenBLAS (numpy's and scipy's copies) for the duration
of a fit, as threadpoolctl does, and restores it afterwards; where the libraries cannot be
found it does nothing (only speed depends on it).
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Symbol name pairs (get, set) across OpenBLAS builds: plain, scipy-openblas32 and 64-bit.
_SYMBOLS = (("openblas_get_num_threads", "openblas_set_num_threads"),
            ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
            ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"))


def _openblas_handles() -> list[tuple[Any, Any]]:
    maps = Path("/proc/self/maps")
    if not maps.is_file():
        return []
    paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read_text())))
    handles = []
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            if hasattr(library, get_name) and hasattr(library, set_name):
                handles.append((getattr(library, get_name), getattr(library, set_name)))
                break
    return handles


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Inside the block, every loaded OpenBLAS uses one thread."""
    handles = _openblas_handles()
    before = [get() for get, _ in handles]
    for _, set_threads in handles:
        set_threads(1)
    try:
        yield
    finally:
        for (_, set_threads), count in zip(handles, before):
            set_threads(count)
