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
  threshold fixed from the process's start (MALLOC_MMAP_THRESHOLD_); another pair, 1.91 and 1.15 MB per
  10 minutes. Set with mallopt once app.py runs (after the imports, with the trim threshold too) it
  changed nothing measurable (1.81), so it is set in the environment the launchers give the web
  process (``python -m rl_core.present.memory streamlit run app.py``: make app, deploy/serve.py).
  The local Ray instance the app starts goes without what the launcher added (without_web_malloc).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from collections.abc import Mapping, Sequence

from rl_core.config import WEB_MALLOC_ARENAS, WEB_MMAP_THRESHOLD

M_ARENA_MAX = -8  # glibc's mallopt parameter for the number of arenas (malloc.h)
LAUNCHER_ADDED = "QLAB_WEB_MALLOC_ADDED"  # the variables web_malloc_env added, comma-separated


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


def web_malloc_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` for a web process: glibc's malloc settings (2 arenas, the fixed mmap threshold)
    from the process's start, except those ``environ`` already chooses. LAUNCHER_ADDED names the ones
    added, so that the local Ray instance the app starts goes without them."""
    wanted = {"MALLOC_ARENA_MAX": str(WEB_MALLOC_ARENAS), "MALLOC_MMAP_THRESHOLD_": str(WEB_MMAP_THRESHOLD)}
    added = [name for name in wanted if name not in environ]
    env = {**environ, **{name: wanted[name] for name in added}}
    if added:
        env[LAUNCHER_ADDED] = ",".join(added)
    return env


def without_web_malloc(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the malloc settings a web launcher added (for the processes the web
    process starts: its Ray instance, whose workers train)."""
    added = set(environ.get(LAUNCHER_ADDED, "").split(",")) | {LAUNCHER_ADDED}
    return {name: value for name, value in environ.items() if name not in added}


def main(command: Sequence[str]) -> None:
    """Run ``command`` (``streamlit run app.py ...``) in this process with the web malloc settings."""
    if not command:
        raise SystemExit("usage: python -m rl_core.present.memory streamlit run app.py [options]")
    os.execvpe(command[0], list(command), web_malloc_env(os.environ))


if __name__ == "__main__":
    main(sys.argv[1:])
