"""The web process's malloc: arenas limited and the mmap and trim thresholds fixed at start-up, seen
in glibc's own report (malloc_info) and in the process's resident memory."""

import subprocess
import sys
import textwrap

import pytest

from rl_core.present.memory import _libc, fix_malloc_thresholds, limit_malloc_arenas

MALLOC_INFO = """
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
def malloc_info():
    with tempfile.NamedTemporaryFile(suffix=".xml") as report:
        fp = libc.fopen(report.name.encode(), b"w")
        libc.malloc_info(0, fp)
        libc.fclose(fp)
        return open(report.name).read()
"""

# 8 threads alive at once, each allocating from C, then glibc's own report of its arenas
COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, sys, tempfile, threading
    from rl_core.present.memory import limit_malloc_arenas
    if sys.argv[1] == "limit":
        assert limit_malloc_arenas(2)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    exec(MALLOC_INFO)
    barrier = threading.Barrier(8)
    kept = []
    def allocate():
        kept.append(libc.malloc(4000))
        barrier.wait()  # all alive together: none can inherit another's freed arena
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(malloc_info().count('<heap nr="'))
    """
)

# A 4 MiB block freed (glibc's default then raises its threshold to 4 MiB), then a 1 MiB block kept:
# how many blocks glibc holds mmapped before and after that 1 MiB block
COUNT_MMAPPED = textwrap.dedent(
    """
    import ctypes, re, sys, tempfile
    from rl_core.present.memory import fix_malloc_thresholds
    if sys.argv[1] == "fixed":
        assert fix_malloc_thresholds(256 * 1024)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    exec(MALLOC_INFO)
    def mmapped():
        return int(re.search(r'<total type="mmap" count="(\\d+)"', malloc_info()).group(1))
    libc.free(libc.malloc(4 * 1024 * 1024))
    before = mmapped()
    kept = libc.malloc(1024 * 1024)
    print(mmapped() - before)
    """
)

# What imports do: a 16 MiB block freed (glibc then raises its mmap threshold to 16 MiB and its trim
# threshold to 32). Then the thresholds fixed (or not), 20 MB of 200 KB blocks (under the fixed mmap
# threshold: from the heap) written and freed: the MB still resident afterwards, above the start
HEAP_TOP_KEPT = textwrap.dedent(
    """
    import ctypes, sys
    from rl_core.present.memory import fix_malloc_thresholds
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = (ctypes.c_void_p,)
    def rss_mb():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
    libc.free(libc.malloc(16 * 1024 * 1024))
    if sys.argv[1] == "fixed":
        assert fix_malloc_thresholds(256 * 1024)
    start = rss_mb()
    blocks = [libc.malloc(200 * 1024) for _ in range(100)]
    for block in blocks:
        ctypes.memset(block, 1, 200 * 1024)
    for block in blocks:
        libc.free(block)
    print(round(rss_mb() - start))
    """
)


def run_alone(program: str, mode: str) -> int:
    """The last number ``program`` prints, run in a fresh process without this environment's malloc
    settings (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    code = f"MALLOC_INFO = {MALLOC_INFO!r}\n{program}"
    done = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def arenas_in_a_process(mode: str) -> int:
    return run_alone(COUNT_ARENAS, mode)


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_the_threads_of_a_limited_process_share_two_arenas():
    assert arenas_in_a_process("free") > 2  # glibc's default: a thread gets its own arena
    assert arenas_in_a_process("limit") <= 2


def test_malloc_arena_max_in_the_environment_is_left_to_decide(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_with_the_threshold_fixed_a_large_block_is_mmapped_after_a_larger_one_was_freed():
    assert run_alone(COUNT_MMAPPED, "default") == 0  # glibc's default: the 1 MiB block came from the heap
    assert run_alone(COUNT_MMAPPED, "fixed") == 1


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_with_the_thresholds_fixed_after_a_large_block_was_freed_a_freed_heap_top_goes_back():
    assert run_alone(HEAP_TOP_KEPT, "default") >= 15  # the raised trim threshold keeps the 20 MB
    assert run_alone(HEAP_TOP_KEPT, "fixed") <= 2


@pytest.mark.parametrize(
    "name, value",
    [
        ("MALLOC_MMAP_THRESHOLD_", "131072"),
        ("MALLOC_TRIM_THRESHOLD_", "131072"),
        ("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072"),
        ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072"),
    ],
)
def test_a_threshold_chosen_in_the_environment_is_left_alone(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    assert fix_malloc_thresholds() is False
