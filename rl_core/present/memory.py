"""The web process's own memory: how many malloc arenas its many short-lived threads share.

Streamlit runs every rerun of every session on a new thread, and glibc gives a thread that finds the
arenas busy an arena of its own, up to 8 per core; memory freed in one arena serves only the threads
that use it. A 30-minute soak of one live viewer grew 1.2 KB per episode of the watched run with
glibc's default and 0.6 KB with MALLOC_ARENA_MAX=2 (bench/RESULTS.md, issue 17).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

from rl_core.config import WEB_MALLOC_ARENAS

M_ARENA_MAX = -8  # glibc's mallopt parameter for the number of arenas (malloc.h)


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
