"""The job registry as a service (rl_core/compute/service.py): jobs live in a detached Ray actor of the runs
store, not in the process that submitted them.

Each scenario runs in driver processes of its own, as app processes would: the test process keeps
its jobs in process (conftest), and one process has one Ray connection.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rl_core.compute.engine import find_local_instance, stop_local_instance

ROOT = Path(__file__).resolve().parent.parent

PRELUDE = """
import json, os, sys, time
from pathlib import Path
from rl_core.config import AgentConfig
from rl_core.compute.service import RegistryClient

def tiny(**changes):
    base = dict(nn_hidden_layers=[8], batch_size=8, memory_size=200, n_steps_warm_up_memory=8,
                n_episodes=3, eval_every_episodes=0, eval_episodes=2)
    return AgentConfig(**{**base, **changes})

def until(predicate, timeout=480.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit("timed out")

client = RegistryClient()
"""


def drive(runs: Path, body: str, timeout: float = 900, extra_env: dict[str, str] | None = None) -> dict:
    """Run ``body`` in a fresh driver process (as an app process would) and return its last JSON line."""
    env = {**os.environ, "QLAB_RUNS_DIR": str(runs), "SDL_VIDEODRIVER": "dummy", **(extra_env or {})}
    env.pop("QLAB_ENGINE", None)
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    runs = tmp_path_factory.mktemp("service") / "runs"
    runs.mkdir()
    yield runs
    stop_local_instance(runs)


def test_a_job_outlives_the_process_that_submitted_it_and_is_saved_under_its_reserved_name(store):
    first = drive(
        store,
        """
        job = client.submit("alice", tiny(n_episodes=40), name="outlives")
        print(json.dumps({"job": job, "pid": os.getpid()}))
        sys.stdout.flush()
        os._exit(0)  # gone at once, as a killed web process is: no clean-up of any kind
        """,
    )
    assert (store / "outlives").is_dir()  # reserved at submit
    assert find_local_instance(store) is not None  # the engine is not the driver's child: still up
    second = drive(
        store,
        f"""
        snap = until(lambda: (s := client.snapshot({first["job"]!r})) is not None and s.done and s)
        print(json.dumps({{"state": snap.state, "saved": str(snap.saved_path), "episodes": len(snap.episodes),
                          "owner": snap.owner}}))
        """,
    )
    assert second == {"state": "finished", "saved": str(store / "outlives"), "episodes": 40, "owner": "alice"}
    from rl_core.artifacts.storage import load_agent

    assert load_agent(store / "outlives").agent.config.n_episodes == 40


def test_a_second_process_sees_a_job_live_and_its_stop_reaches_the_worker(store):
    first = drive(
        store,
        """
        job = client.submit("bob", tiny(n_episodes=100_000, eval_every_episodes=2), name="shared-live")
        print(json.dumps({"job": job}))
        """,
    )
    second = drive(
        store,
        """
        mine = until(lambda: client.snapshots(owner="bob", kind="training"))
        job = mine[-1].job_id
        seen = until(lambda: len(client.snapshot(job).episodes) >= 5 and len(client.snapshot(job).episodes))
        later = until(lambda: len(client.snapshot(job).episodes) > seen + 3 and len(client.snapshot(job).episodes))
        client.stop(job)
        snap = until(lambda: client.snapshot(job).done and client.snapshot(job))
        numbered = [e.episode for e in snap.episodes] == list(range(1, len(snap.episodes) + 1))
        print(json.dumps({"job": job, "grew": later > seen, "state": snap.state, "saved": str(snap.saved_path),
                          "kept_as": [type(snap.episodes).__name__, type(snap.evaluations).__name__],
                          "numbered": numbered, "evaluated_at": [e.episode for e in snap.evaluations]}))
        """,
    )
    assert second["job"] == first["job"] and second["grew"]
    # the mirror keeps the history as columns, each sync's episodes and evaluations appended in order
    assert second["kept_as"] == ["EpisodeHistory", "EvaluationHistory"] and second["numbered"]
    evaluated_at = second["evaluated_at"]
    assert evaluated_at and evaluated_at == sorted(set(evaluated_at))
    assert second["state"] == "stopped" and second["saved"] == str(store / "shared-live")


def test_a_killed_registry_fails_its_jobs_in_one_line_gives_their_names_back_and_takes_new_ones(store):
    out = drive(
        store,
        """
        import ray
        from rl_core.compute.service import registry_handle
        job = client.submit("carol", tiny(n_episodes=100_000), name="lost-run")
        until(lambda: client.snapshot(job).episodes)
        before = ray.get(registry_handle(client.out_dir).info.remote())["incarnation"]
        ray.kill(registry_handle(client.out_dir), no_restart=False)  # Ray restarts it, empty
        snap = until(lambda: client.snapshot(job).state == "failed" and client.snapshot(job))
        reserved = (client.out_dir / "lost-run").exists()
        after = ray.get(registry_handle(client.out_dir).info.remote())["incarnation"]
        again = client.submit("carol", tiny(), name="after-restart")
        done = until(lambda: client.snapshot(again).done and client.snapshot(again))
        print(json.dumps({"message": snap.message, "reserved": reserved, "restarted": before != after,
                          "again": done.state, "error": client.error}))
        """,
    )
    assert out["message"].startswith("failed: lost when the job service restarted"), out
    assert not out["reserved"]  # the lost job's reserved name is free again
    assert out["restarted"] and out["again"] == "finished" and out["error"] is None


def test_a_killed_raylet_fails_every_job_in_one_line_frees_their_names_and_ray_comes_back(tmp_path):
    """kill -9 of the local instance's raylet takes the whole instance down: the app process lives
    on (Ray's driver would exit a minute after losing its GCS), each job says so in one line and
    gives its reserved name back, and the instance is started again, so the queue goes on."""
    runs = tmp_path / "runs"
    runs.mkdir()
    try:
        out = drive(
            runs,
            """
            import signal, subprocess
            from rl_core.compute.engine import engine_status
            running = client.submit("erin", tiny(n_episodes=100_000), name="running-one")
            others = [client.submit(f"u{i}", tiny(n_episodes=100_000), name=f"queued-{i}") for i in range(2)]
            until(lambda: client.snapshot(running).episodes)
            until(lambda: client.snapshot(others[-1]).queue_position)
            temp_dir = json.loads((client.out_dir / ".engine" / "local-ray.json").read_text())["temp_dir"]
            raylets = subprocess.run(["pgrep", "-f", f"raylet.*{temp_dir}"], capture_output=True, text=True)
            for pid in raylets.stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            jobs = [running, *others]
            until(lambda: all(client.snapshot(j).state == "failed" for j in jobs), timeout=60)
            messages = sorted({client.snapshot(j).message for j in jobs})
            freed = [name for name in ("running-one", "queued-0", "queued-1") if not (client.out_dir / name).exists()]
            error = client.error
            until(lambda: engine_status().state == "ready" and client.error is None, timeout=240)
            again = client.submit("erin", tiny(), name="running-one")  # its name is free again
            done = until(lambda: client.snapshot(again).done and client.snapshot(again))
            print(json.dumps({"messages": messages, "freed": freed, "error": error, "again": done.state,
                              "saved": str(done.saved_path), "shown": client.snapshot(running).state}))
            """,
        )
    finally:
        stop_local_instance(runs)
    assert out["messages"] == [
        "failed: the local Ray instance stopped before it started; nothing was saved",
        "failed: the local Ray instance stopped while it ran; nothing was saved",
    ], out
    assert out["freed"] == ["running-one", "queued-0", "queued-1"]
    assert "\n" not in out["error"] and "the local Ray instance stopped" in out["error"]
    assert out["again"] == "finished" and out["saved"] == str(runs / "running-one")  # the queue goes on
    assert out["shown"] == "failed"  # the lost job stays shown, failed


def test_with_ray_gone_the_client_says_so_in_one_line_and_nothing_on_disk_is_lost(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    try:
        out = drive(
            runs,
            """
            from rl_core.compute.engine import stop_local_instance
            job = client.submit("dave", tiny(), name="kept")
            until(lambda: client.snapshot(job).done)
            stop_local_instance(client.out_dir)
            stopped_at = time.time()
            error = until(lambda: client.error, timeout=120)
            # Ray's driver exits the process once it has lost its GCS for the reconnect timeout (60 s
            # by default, 5 s here) unless told to wait; an app process must live on, and say why
            # (stopped on purpose: it is not started again)
            until(lambda: time.time() > stopped_at + 15, timeout=60)
            print(json.dumps({"error": error, "snapshot": client.snapshot(job).state, "later": client.error}))
            """,
            extra_env={"RAY_gcs_rpc_server_reconnect_timeout_s": "5"},  # the app must override it
        )
    finally:
        stop_local_instance(runs)
    assert "\n" not in out["error"] and "job registry cannot be reached" in out["error"], out
    assert out["snapshot"] == "finished"  # the page still shows what it knew
    assert "make stop-engine" in out["later"] and "restart the app" in out["later"], out
    assert (runs / "kept" / "model.pt").is_file()


def test_a_failing_sync_shows_pages_only_the_explained_error_never_the_raw_one_first(monkeypatch):
    """The mirror's error is set once per failed sync: pages read it at any moment, and a read
    between two assignments once showed the raw error instead of "`make stop-engine` stopped it"."""
    import threading

    from rl_core.compute import service
    from rl_core.compute.service import RegistryClient

    monkeypatch.setattr(service, "SYNC_SECONDS", 0.0)
    client = object.__new__(RegistryClient)
    client.error, client._closed = None, threading.Event()

    def sync():
        raise RuntimeError("ActorDiedError: the raw one")

    def after_failure(failing_for):
        time.sleep(0.002)  # judging Ray takes a moment (a process check, a file read)
        return "explained"

    client.sync, client._after_failure = sync, after_failure
    mirror = threading.Thread(target=client._mirror, daemon=True)
    mirror.start()
    seen = set()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        seen.add(client.error)
    client._closed.set()
    mirror.join(5)
    assert seen - {None} == {"explained"}


def test_changes_send_only_what_a_viewer_lacks(tmp_path):
    from rl_core.compute.registry import JobRegistry
    from rl_core.config import AgentConfig

    registry = JobRegistry(out_dir=tmp_path)
    config = AgentConfig(nn_hidden_layers=[8], batch_size=8, memory_size=200, n_steps_warm_up_memory=8, n_episodes=6)
    job = registry.submit("erin", config, name="deltas")
    snap = registry.wait(job, timeout=240)
    everything = registry.changes({})["jobs"][job]
    assert everything[0] == (0, 0) and len(everything[1].episodes) == 6 and everything[1].q_function is None
    held = (snap.version - 1, 4, len(snap.evaluations), None)  # a viewer one update behind
    base, delta = registry.changes({job: held})["jobs"][job]
    assert base == (4, len(snap.evaluations)) and [e.episode for e in delta.episodes] == [5, 6]
    current = (snap.version, 6, len(snap.evaluations), None)
    assert job not in registry.changes({job: current})["jobs"]  # nothing new: nothing sent


def test_a_page_waits_for_the_first_sync_once_in_all_not_at_every_read(tmp_path, monkeypatch):
    """A registry actor's first start can outlast FIRST_SYNC_SECONDS (it imports the training stack):
    the page's reads share one wait, so a run that reads five times is not held five times as long."""
    import threading
    import time

    import rl_core.compute.service as service
    from rl_core.compute.engine import EngineStatus

    answer = threading.Event()

    def unanswered_call(self, method, *args, timeout=0.0):
        answer.wait(30)
        raise service.EngineUnavailable("the test's registry does not answer")

    monkeypatch.setattr(service, "start_engine", lambda service=False: None)
    monkeypatch.setattr(service, "engine_status", lambda: EngineStatus("ready", "up", cpus=2))
    monkeypatch.setattr(service, "FIRST_SYNC_SECONDS", 0.5)
    monkeypatch.setattr(service.RegistryClient, "_call", unanswered_call)
    client = service.RegistryClient(tmp_path)
    try:
        started = time.monotonic()
        for _ in range(6):
            assert client.snapshots(owner="erin") == [] and client.snapshot("j") is None
        waited = time.monotonic() - started
        assert waited < 2.5, f"{waited:.1f} s: one wait per read (12 reads of 0.5 s) instead of one in all"
        assert not client.synced
    finally:
        client.close()
        answer.set()
        client._thread.join(timeout=10)
    assert not client._thread.is_alive()


def living_in_group(pgid: int) -> list[int]:
    """The processes of a process group that still run (zombies, which only wait to be reaped, left out)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, _ppid, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            except (OSError, ValueError):
                continue
            if int(group) == pgid and state != "Z":
                found.append(int(entry.name))
    return found


def test_an_instance_whose_start_was_cut_short_is_recorded_so_engine_stop_finds_and_stops_it(tmp_path, monkeypatch):
    """An app process stopped while its local Ray instance starts (a test's server stopped at once,
    a deploy) left an instance nobody knew of: no record, so `engine stop` could not find it and the
    next app process started a second one (two idle leaders were found after a CI run)."""
    import rl_core.compute.engine as engine

    def stopped_meanwhile(*args):
        raise KeyboardInterrupt  # the process ends while `ray start` is still coming up

    monkeypatch.setattr(engine, "_wait_until_up", stopped_meanwhile)
    runs = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        engine.start_local_instance(runs, cpus=1)
    record = json.loads((runs / engine.ENGINE_DIR / engine.LOCAL_FILE).read_text())
    pid = int(record["pid"])
    try:
        assert engine._is_our_ray(record)  # its leader runs, and is recorded
        # another app process finding it meanwhile waits for it, and never starts a second one
        with pytest.raises(engine.EngineUnavailable, match="still starting"):
            engine.find_local_instance(runs, wait=1.0)
        assert engine.stop_local_instance(runs).startswith("stopped the local Ray instance")
        deadline = time.monotonic() + 30
        while living_in_group(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not living_in_group(pid), "the instance's processes outlived engine stop"
    finally:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_an_instance_read_while_its_program_is_still_being_laid_out_is_not_taken_for_gone(monkeypatch):
    """Right after ``Popen`` returns, /proc/<pid>/cmdline can still be empty for a moment (the exec is
    not done laying out the new program): the check asks again instead of calling the instance gone,
    which in CI made a starting instance look absent."""
    import socket

    import rl_core.compute.engine as engine

    real = engine._read_cmdline
    empty_reads = [b"", b""]  # what the first two reads see, then the real arguments

    def read_cmdline(pid: int) -> bytes:
        return empty_reads.pop() if empty_reads else real(pid)

    monkeypatch.setattr(engine, "_read_cmdline", read_cmdline)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "start", "/tmp/qlab-ray-x"])
    try:
        record = {"pid": process.pid, "host": socket.gethostname(), "temp_dir": "/tmp/qlab-ray-x"}
        assert engine._is_our_ray(record)
        assert empty_reads == []  # both empty answers were seen, then it asked again
    finally:
        process.kill()
        process.wait()
    monkeypatch.setattr(engine, "_read_cmdline", lambda pid: b"")  # a kernel thread has no arguments, ever
    assert engine._cmdline(1, patience=0.1) == [b""]


def test_a_local_instance_slow_to_answer_is_waited_for_never_doubled(tmp_path, monkeypatch):
    """Its ``ray start`` alive but its port silent (a loaded machine): the engine waits, then says so in
    one line; it never starts a second instance for the store, whose empty registry would hide every
    job of the first (seen in bench/web_restart.py: two registry actors, a reconnecting client with 0 jobs)."""
    import socket
    import time

    import rl_core.compute.engine as engine

    folder = tmp_path / "runs" / engine.ENGINE_DIR
    folder.mkdir(parents=True)
    temp_dir = tmp_path / "ray-temp"
    # stands in for `ray start --block`: the cmdline the check reads holds "start" and the temp dir
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "start", str(temp_dir)])
    # a port bound but never listened on: connections are refused, and no other process (a Ray
    # worker of another test, on a busy machine) can take it meanwhile, as it could a port let go
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    try:
        silent = held.getsockname()[1]
        record = {"address": f"127.0.0.1:{silent}", "pid": process.pid, "host": socket.gethostname(),
                  "temp_dir": str(temp_dir), "started_at": time.time() - 3600}  # fmt: skip
        (folder / engine.LOCAL_FILE).write_text(json.dumps(record))
        launched = []
        monkeypatch.setattr(engine, "_spawn_ray", lambda *a: launched.append(a) or pytest.fail("a second instance"))
        monkeypatch.setattr(engine, "LOCAL_ANSWER_SECONDS", 1.5)
        with pytest.raises(engine.EngineUnavailable, match=f"pid {process.pid}.*runs but does not answer"):
            engine.find_local_instance(tmp_path / "runs", wait=1.5)
        with pytest.raises(engine.EngineUnavailable, match="runs but does not answer"):
            engine.start_local_instance(tmp_path / "runs")
        assert launched == []  # no second instance
    finally:
        held.close()
        process.kill()
        process.wait()
    assert engine.find_local_instance(tmp_path / "runs") is None  # its process gone: gone


def test_two_threads_asking_for_the_registry_at_once_make_one_actor(tmp_path, monkeypatch):
    """The mirror thread and a page's submit both ask a new client for its actor: one lookup, one
    handle (two made two registry actors of one store in CI, and the submitted job was not seen)."""
    import threading
    import time

    import ray

    import rl_core.compute.service as service
    from rl_core.compute.engine import EngineStatus

    made = []

    class Handle:
        class info:  # noqa: N801  (the actor method's name)
            @staticmethod
            def remote():
                return "up"

    def slow_handle(root):
        time.sleep(0.3)  # an actor's creation takes a while: the window the race needs
        made.append(Handle())
        return made[-1]

    monkeypatch.setattr(service, "start_engine", lambda service=False: None)
    monkeypatch.setattr(service, "engine_status", lambda: EngineStatus("ready", "up", cpus=2))
    monkeypatch.setattr(service, "require_engine", lambda timeout=0.0: None)
    monkeypatch.setattr(service, "registry_handle", slow_handle)
    monkeypatch.setattr(ray, "get", lambda ref, timeout=None: ref)
    monkeypatch.setattr(service.RegistryClient, "_mirror", lambda self: None)  # no sync thread here
    client = service.RegistryClient(tmp_path)
    handles = []
    threads = [threading.Thread(target=lambda: handles.append(client._actor())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(made) == 1 and len(handles) == 4 and all(h is made[0] for h in handles)
