"""The web process's own memory: how glibc's malloc serves its many short-lived threads.

Two settings, both measured on live soaks (bench/RESULTS.md, issue 17):
- Arenas. Streamlit runs every rerun of every session on a new thread, and glibc gives a thread that
  finds the arenas busy an arena of its own, up to 8 per core; memory freed in one arena serves only
  the threads that use it. One live viewer grew the process 1.2 KB per episode of the watched run with
  glibc's default and 0.6 KB with 2 arenas.
- The mmap threshold. glibc mmaps a block of 128 KiB or more and, each time such a block is freed,
  raises that threshold to its size (up to 32 MiB). A tick's figure JSON and the growing history
  columns are such blocks: after a few, they come from the heap instead and leave holes there that
  are rarely whole free pages, so the process keeps them. A fixed threshold keeps them mmapped (given
  back on free): a pair of soaks at the same time grew 1.0 KB and 0.53 KB per episode with the
  threshold fixed from the process's start (MALLOC_MMAP_THRESHOLD_). Fixed in the process, after the
  imports, the trim threshold must be fixed too (fix_malloc_thresholds says why).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

from rl_core.config import WEB_MALLOC_ARENAS, WEB_MMAP_THRESHOLD

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


@functools.cache  # app.py asks on every run: look the library up once
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return None
    return libc


def limit_malloc_arenas(arenas: int = WEB_MALLOC_ARENAS) -> bool:
    """Let the threads created from now on share at most ``arenas`` glibc malloc arenas. Returns
    whether the limit was set: not on another C library, and not when MALLOC_ARENA_MAX is in the
    environment (whoever started the process chose). Setting it again is harmless."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    libc = _libc()
    return libc is not None and libc.mallopt(M_ARENA_MAX, arenas) == 1


def fix_malloc_thresholds(mmap_threshold: int = WEB_MMAP_THRESHOLD) -> bool:
    """Mmap every block of ``mmap_threshold`` bytes or more, and give free memory at the heap's top
    back once it reaches twice that, for the life of the process (glibc stops moving either once
    set). Both: by the time this runs, imports have freed large blocks, and glibc has raised its trim
    threshold with its mmap threshold (to twice the largest freed block, up to 64 MiB); fixing only the
    mmap threshold left that, and a freed heap top stayed resident (tests/test_memory.py).

    Returns whether they were set: not on another C library, and not when the environment chose
    (MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_, or GLIBC_TUNABLES naming either). Set in the
    process, not its environment: the local Ray instance the app starts would inherit that."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    chosen = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & os.environ.keys()
    if chosen or "mmap_threshold" in tunables or "trim_threshold" in tunables:
        return False
    libc = _libc()
    return (
        libc is not None
        and libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
        and libc.mallopt(M_TRIM_THRESHOLD, 2 * mmap_threshold) == 1
    )
