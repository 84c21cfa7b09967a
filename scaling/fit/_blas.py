"""Run small optimisations with single-threaded BLAS (threadpoolctl).

scipy's L-BFGS-B calls BLAS on tiny matrices; OpenBLAS then wakes its thread pool, whose
threads busy-wait. On a shared 2-core machine this made one Approach 3 polish 30x slower
(0.47 s against 0.016 s measured here), and bootstrap workers oversubscribed the cores.
threadpoolctl finds every loaded BLAS (OpenBLAS, MKL, BLIS, Accelerate's copies in numpy and
scipy) and limits it for the duration of a fit, restoring the previous count afterwards;
`benchmarks/bench_blas.py` measures the effect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Inside the block, every loaded BLAS uses one thread."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
