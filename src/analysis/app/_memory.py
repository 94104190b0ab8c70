"""The process's memory allocator, tuned for registry-sized work (the program and the explorer's kernel)."""

from __future__ import annotations

import sys

__all__ = ["keep_freed_memory"]

#: glibc ``mallopt`` parameters (malloc.h): M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX,
#: M_ARENA_MAX.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -3, -4, -8


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed memory for reuse instead of handing it back to the system.

    A registry-sized run builds and drops many arrays of tens to hundreds of
    megabytes. By default glibc maps each large one afresh and unmaps it when
    freed, so the kernel zeroes every page again for the next one: on a
    million episodes that was a quarter of the summary command's time
    (``perf``: ``clear_page_erms``) and made its run time swing by seconds.
    Serving every block from the heap and never trimming it lets freed memory
    be reused; peak memory stays about the same (``benchmarks/bench.py``
    prints it). One arena for every thread: the summary's models run on
    worker threads, and with an arena each, memory one had freed was not
    reused by the other (peak 5.0 GB against 4.4 GB on a million episodes). Results are unchanged. Called by the command-line program
    for its own process and by the explorer for the Jupyter kernel it runs in
    (a kernel holding a registry's records re-selects them on every click);
    never by the package's other functions. Returns False where there is no
    glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return all(libc.mallopt(param, value) == 1 for param, value in (
            (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_TOP_PAD, 256 << 20), (_M_MMAP_THRESHOLD, 32 << 20),
            (_M_MMAP_MAX, 0), (_M_ARENA_MAX, 1)))
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        return False
