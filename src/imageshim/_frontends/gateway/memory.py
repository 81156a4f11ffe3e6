"""The gateway's memory after a burst: what glibc's allocator keeps, and giving it back.

What was measured (benchmarks/bench_gateway.py, 16 requests of 10 x 8 MiB images): the process stayed at
2.7-5.8 GiB long after the burst, for three reasons:

1. garbage in reference cycles (an httpx response and its stream refer to each other) is freed only by
   the cycle collector, which an idle process never runs (the cycle is now cut where the body is read);
2. glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MiB), so later
   8-32 MiB blocks (decoded images, base64 strings) come from the heap, which is only returned to the
   system from its top: freed memory in the middle stays resident;
3. what the gateway keeps on purpose: hosted images (``store_max_bytes``) and replies kept for retries.

:func:`tune` fixes the mmap threshold at 1 MiB at start (blocks of 1 MiB and more are then mapped and
unmapped on their own, returned as soon as they are freed), and :func:`release` (every minute, from the
sweeper) runs the cycle collector and ``malloc_trim``. Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

__all__ = ["release", "tune"]

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
_THRESHOLD = 1 << 20


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def tune() -> bool:
    """Blocks of 1 MiB and more are mapped on their own (returned when freed); whether it was set."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, _THRESHOLD))


def release() -> None:
    """Free garbage in reference cycles and return free heap memory to the system."""
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
