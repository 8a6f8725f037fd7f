"""The web process's malloc arenas: limited at start-up, counted by glibc itself (malloc_info)."""

import subprocess
import sys
import textwrap

import pytest

from rl_core.present.memory import _libc, limit_malloc_arenas

# 8 threads alive at once, each allocating from C, then glibc's own report of its arenas
COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from rl_core.present.memory import limit_malloc_arenas
    if sys.argv[1] == "limit":
        assert limit_malloc_arenas(2)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    barrier = threading.Barrier(8)
    kept = []
    def allocate():
        kept.append(libc.malloc(4000))
        barrier.wait()  # all alive together: none can inherit another's freed arena
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    with tempfile.NamedTemporaryFile(suffix=".xml") as report:
        fp = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        print(open(report.name).read().count('<heap nr="'))
    """
)


def arenas_in_a_process(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}  # no MALLOC_ARENA_MAX from this environment
    done = subprocess.run(
        [sys.executable, "-c", COUNT_ARENAS, mode], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_the_threads_of_a_limited_process_share_two_arenas():
    assert arenas_in_a_process("free") > 2  # glibc's default: a thread gets its own arena
    assert arenas_in_a_process("limit") <= 2


def test_malloc_arena_max_in_the_environment_is_left_to_decide(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
