"""Memory allocator settings for a backtest process (the CLI, its sweep workers, the benchmark).

A backtest allocates and frees many arrays of the same few sizes (one per bar: 4 MB for a
year of 1-minute bars). glibc's malloc serves each such block with a fresh ``mmap`` (or
trims the heap once it is freed), so the next array of that size page-faults its memory in
again: on the 2-core development VM a fresh 4 MB array costs 1.5-7 ms of page faults, the
arithmetic on it 0.2 ms. :func:`keep_freed_memory` lets freed blocks stay in the heap for
reuse (the process's memory peak is unchanged; it is simply not returned to the system
before the process ends).

Only backtest entry points call it: a long-running bot keeps glibc's defaults (its memory is
returned to the system).
"""

from __future__ import annotations

import sys

# glibc's mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_MAX_BYTES = 32 << 20  # blocks up to this come from the heap (glibc's upper limit for the threshold)

_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for a batch of same-sized arrays; True if applied (glibc only, once)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no such symbol)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX_BYTES))
    ok &= bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    ok &= bool(mallopt(_M_TOP_PAD, 64 << 20))
    _done = ok
    return ok
