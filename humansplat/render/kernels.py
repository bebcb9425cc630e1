"""What the compiled (numba) render kernels share: the optional numba import, their compile options
and the process-wide thread pools that run them.

Kernels are compiled on first use (seconds) and cached on disk by numba (``cache=True``). They
release the GIL (``nogil=True``) and split their work over ``torch.get_num_threads()`` Python
threads: no numba threading layer is involved, so concurrent renders (the app's parallel requests)
are safe. A kernel run by :func:`run_split` takes ``share, shares`` as its last two arguments and
does the share of the work numbered ``share``; the shares must write disjoint outputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

__all__ = ["compiled_available", "jit", "run_split", "workers"]

try:  # numba is a CPU speed-up, not a requirement: without it the PyTorch paths run
    import numba
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def compiled_available() -> bool:
    """True when numba is importable (the compiled kernels can run)."""
    return numba is not None


def jit(fn: Callable, fastmath: Any = False) -> Callable | None:
    """``fn`` compiled by numba (cached on disk, GIL released, NumPy's error model: a float division by
    zero gives inf or nan, no exception check), or None without numba."""
    if numba is None:
        return None
    return numba.njit(cache=True, nogil=True, fastmath=fastmath, error_model="numpy")(fn)


def workers() -> int:
    """Threads a compiled render uses: torch's CPU thread count (at least 1)."""
    return max(1, torch.get_num_threads())


def _pool(count: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``count`` threads; one per size even when two requests ask at once."""
    with _POOLS_LOCK:
        if count not in _POOLS:
            _POOLS[count] = ThreadPoolExecutor(max_workers=count, thread_name_prefix="humansplat-raster")
        return _POOLS[count]


def run_split(kernel: Callable, args: tuple, shares: int | None = None) -> None:
    """Run ``kernel(*args, share, shares)`` for every share, on :func:`workers` threads.

    ``shares`` defaults to the thread count; more shares than threads balance uneven work (a pool
    thread that finishes early takes the next share).
    """
    count = workers()
    shares = count if shares is None else max(1, shares)
    if count == 1 or shares == 1:
        for share in range(shares):
            kernel(*args, share, shares)
        return
    for done in [_pool(count).submit(kernel, *args, share, shares) for share in range(shares)]:
        done.result()
