"""The web process's malloc: arenas limited and the mmap threshold fixed from its start by its
launcher (the environment glibc reads), and kept from the Ray instance it starts; seen in glibc's own
report (malloc_info)."""

import os
import subprocess
import sys
import textwrap

import pytest

from rl_core.present.memory import LAUNCHER_ADDED, _libc, limit_malloc_arenas, web_malloc_env, without_web_malloc

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


def run_alone(program: str, mode: str) -> int:
    """The last number ``program`` prints, run in a fresh process without this environment's malloc
    settings (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES); mode "web": in the
    environment the web launcher gives."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
    if mode == "web":
        env = web_malloc_env(env)
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
def test_in_the_web_environment_a_large_block_is_mmapped_after_a_larger_one_was_freed():
    assert run_alone(COUNT_MMAPPED, "default") == 0  # glibc's default: the 1 MiB block came from the heap
    assert run_alone(COUNT_MMAPPED, "web") == 1


@pytest.mark.skipif(_libc() is None, reason="glibc only")
def test_in_the_web_environment_the_threads_share_two_arenas():
    assert arenas_in_a_process("web") <= 2


def test_the_web_environment_keeps_what_the_environment_chose_and_ray_loses_only_what_it_added():
    chosen = {"PATH": "/bin", "MALLOC_ARENA_MAX": "4"}
    web = web_malloc_env(chosen)
    assert web["MALLOC_ARENA_MAX"] == "4" and web["MALLOC_MMAP_THRESHOLD_"] == str(256 * 1024)
    assert web[LAUNCHER_ADDED] == "MALLOC_MMAP_THRESHOLD_"
    assert without_web_malloc(web) == chosen  # the user's own choice reaches Ray too
    assert without_web_malloc(web_malloc_env({"PATH": "/bin"})) == {"PATH": "/bin"}
    assert without_web_malloc({"PATH": "/bin", "MALLOC_ARENA_MAX": "8"}) == {"PATH": "/bin", "MALLOC_ARENA_MAX": "8"}


def test_the_launcher_runs_the_command_in_the_web_environment():
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": "."}
    show = "import os; print(os.environ['MALLOC_ARENA_MAX'], os.environ['MALLOC_MMAP_THRESHOLD_'])"
    done = subprocess.run(
        [sys.executable, "-m", "rl_core.present.memory", sys.executable, "-c", show],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", str(256 * 1024)]


def test_the_local_ray_instance_starts_without_the_web_malloc_settings(monkeypatch, tmp_path):
    from rl_core.compute import engine

    for name, value in web_malloc_env({}).items():
        monkeypatch.setenv(name, value)
    started = {}

    class Started:
        def __init__(self, command, env, **kwargs):
            started.update(env)

    monkeypatch.setattr(engine.subprocess, "Popen", Started)
    engine._spawn_ray(tmp_path, 6379, tmp_path / "ray", cpus=1)
    assert started and not {"MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_", LAUNCHER_ADDED} & started.keys()
