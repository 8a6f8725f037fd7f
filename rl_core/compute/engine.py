"""The compute engine: Ray, connected once per process.

Three ways in, one call (``start_engine``):

- ``RAY_ADDRESS`` set: join that cluster; this package's code travels with the job
  (``py_modules``), so the cluster's nodes need Q-Lab's dependencies but no copy of Q-Lab.
- The web app with nothing configured (``start_engine(service=True)``): find, or start, the local
  Ray instance of this runs store. It runs in a session of its own (``ray start --block``), not as a
  child of the web process, so killing or restarting the web process leaves it and its jobs
  running, and a second app process on another port joins the same instance. Its address is kept
  in ``<runs>/.engine/local-ray.json``; ``python -m rl_core engine stop`` stops it, and only it
  (never a Ray instance Q-Lab did not start).
- Anything else (the CLI, scripts, tests): ``ray.init()`` starts a private local instance that
  ends with the process, sized to this machine's cores (no dashboard).

The web app starts the engine in a background thread so that the first page draws at once;
whatever needs a worker waits for it then (``require_engine``), and a cluster that cannot be
reached is reported in one line while everything that needs no training keeps working.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_core.present.memory import without_web_malloc


class EngineUnavailable(RuntimeError):
    """Ray could not be started or reached; the message is one line for the user."""


@dataclass(frozen=True)
class EngineStatus:
    state: str  # "idle" | "starting" | "ready" | "failed"
    message: str
    cpus: int = 0  # the cluster's CPUs, once ready
    address: str = ""


NAMESPACE = "qlab"  # Ray namespace of Q-Lab's named actors (the job registry)
ENGINE_DIR = ".engine"  # under the runs folder: the local instance's address file, lock and log
LOCAL_FILE = "local-ray.json"
START_SECONDS = 90.0  # how long a freshly started local instance may take to accept connections
RECONNECT_EVERY_SECONDS = 20.0  # at most one reconnection to Ray per this long (a cluster still away)
# A driver whose Ray (GCS) is gone exits the whole process after this many seconds, Ray's default
# being 60: seen here, a killed raylet took the web process down with it a minute later. The web
# process must outlive its Ray and reconnect (restart_engine), so it waits as long as it lives.
GCS_PATIENCE_ENV = {"RAY_gcs_rpc_server_reconnect_timeout_s": str(10 * 365 * 24 * 3600)}
STARTING = "Starting the compute engine (Ray)…"

_lock = threading.Lock()
_ready = threading.Event()
_status = EngineStatus("idle", "not started")
_thread: threading.Thread | None = None
_service = False  # what start_engine was asked for: restart_engine connects the same way again
_keep_alive = threading.Event()  # the start thread waits on it; a reconnection lets the old one end
_connected_local: dict[str, Any] | None = None  # the store's local instance this process joined
_last_restart = 0.0
_generation = 0  # counts this process's connections to Ray: handles from an older one are dead


ENGINE_MODE_ENV = "QLAB_ENGINE"  # "service" (the web app's default) or "inprocess"


def service_mode() -> bool:
    """Whether the web app keeps its jobs in the registry service (a detached Ray actor that
    outlives the web process), the default, or in the web process itself (``QLAB_ENGINE=inprocess``:
    what page tests use, each with a runs folder and Ray instance of its own)."""
    return os.environ.get(ENGINE_MODE_ENV, "service").strip().lower() != "inprocess"


def cluster_address() -> str | None:
    """The cluster named by Ray's own convention, or None for a local instance."""
    return os.environ.get("RAY_ADDRESS") or None


def _reachable(address: str, timeout: float = 3.0) -> str | None:
    """Why ``host:port`` cannot be reached (None if a TCP connection opens, or the address is not
    of that form). Ray itself retries an unreachable address for minutes before giving up."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
        return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def _init(service: bool, keep_alive: threading.Event) -> None:
    global _status, _connected_local, _generation
    address = cluster_address()
    where = f"the Ray cluster at {address}" if address else "a local Ray instance"
    try:
        why = _reachable(address) if address else None
        if why:
            raise ConnectionError(why)
        import ray

        if not ray.is_initialized():  # in a Ray worker (the registry actor) it is already
            if address or service:
                os.environ.update(GCS_PATIENCE_ENV)  # read by Ray's core worker when it starts
                _no_auto_connect()
            common: dict[str, Any] = dict(
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=True,
                namespace=NAMESPACE,
            )
            if address:
                import rl_core

                package = Path(rl_core.__file__).parent
                ray.init(runtime_env={"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"]}, **common)
            elif service:
                local = find_local_instance() or start_local_instance()
                where = f"the local Ray instance at {local['address']}"
                ray.init(address=local["address"], _node_ip_address="127.0.0.1", **common)
                _connected_local = local
            else:
                ray.init(num_cpus=os.cpu_count() or 1, **common)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        _warm_workers(cpus)
        _generation += 1
        _status = EngineStatus("ready", f"{where} with {cpus} CPUs", cpus=cpus, address=address or "local")
    except Exception as exc:  # Ray raises many kinds (ConnectionError, RuntimeError, ValueError...)
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        where = f"cannot reach the Ray cluster at {address}" if address else "cannot start a local Ray instance"
        _status = EngineStatus("failed", f"The compute engine is unavailable: {where} ({detail}).")
    finally:
        _ready.set()
    # This thread must outlive the process's use of Ray: Ray starts its local services with
    # PR_SET_PDEATHSIG, and Linux sends that signal when the *thread* that forked them ends.
    # Seen here: with the thread gone, gcs_server and raylet died at once and the driver lost GCS.
    keep_alive.wait()


def _no_auto_connect() -> None:
    """A Ray call made while this process is not connected (reconnecting, or exiting) must fail,
    not quietly start a private Ray instance inside the web process, as Ray does by default."""
    try:
        import ray._private.auto_init_hook as auto_init

        auto_init.enable_auto_connect = False
    except ImportError:  # moved in another Ray version: RAY_ENABLE_AUTO_CONNECT=0 does the same
        pass


def _import_the_learning_code() -> None:
    import rl_core.compute.jobs  # noqa: F401  (torch, gymnasium and the training code)
    import rl_core.learning.training  # noqa: F401


def _warm_workers(cpus: int) -> None:
    """Have each CPU's worker process import torch and the training code now, in the background:
    Ray reuses its workers, so the first job starts in a fraction of a second rather than ~3 s."""
    import ray

    warm = ray.remote(num_cpus=1, max_retries=0)(_import_the_learning_code)
    for _ in range(cpus):
        warm.remote()


def start_engine(service: bool = False) -> None:
    """Start (or join) Ray in a background thread, once per process; returns at once.

    ``service`` (the web app): with no ``RAY_ADDRESS``, join the runs store's own local instance,
    starting it first if none is running, instead of a private one that ends with this process.
    """
    global _thread, _status, _service
    with _lock:
        if _thread is not None:
            return
        _service = service
        _status = EngineStatus("starting", STARTING)
        _thread = threading.Thread(target=_init, args=(service, _keep_alive), name="qlab-engine-start", daemon=True)
        _thread.start()


def ray_lost() -> tuple[str, bool] | None:
    """Why this process's Ray is gone, and whether for good, or None while it may be up.

    For good: the store's local instance this process joined has ended (its ``ray start`` process
    is gone: a killed raylet or GCS takes the whole instance down), so every job in it is lost.
    Not for good: a cluster that cannot be reached now, whose jobs may well go on.
    """
    if _status.state != "ready":
        return None
    local = _connected_local
    if local is not None:
        if _is_our_ray(local):
            return None
        return "the local Ray instance stopped", True
    address = cluster_address()
    if address and (why := _reachable(address)) is not None:
        return f"the Ray cluster at {address} cannot be reached ({why})", False
    return None


def local_instance_was_stopped() -> bool:
    """Whether the local instance this process joined was stopped on purpose (``engine stop``
    removes its record): such an instance is not started again behind the user's back."""
    if _connected_local is None:
        return False
    try:
        recorded = json.loads((_engine_dir() / LOCAL_FILE).read_text())
    except (OSError, ValueError):
        return True
    return not isinstance(recorded, dict)


def restart_engine(reason: str, every: float = RECONNECT_EVERY_SECONDS) -> bool:
    """Drop this process's connection to Ray and connect again, in the background, the way it
    first connected (the store's local instance is started anew when it is gone). At most once per
    ``every`` seconds; False when not done now (too soon, or already starting)."""
    global _thread, _status, _keep_alive, _last_restart
    with _lock:
        if _thread is None or _status.state == "starting" or time.monotonic() - _last_restart < every:
            return False
        _last_restart = time.monotonic()
        _status = EngineStatus("starting", f"Starting the compute engine (Ray) again: {reason}…")
        _ready.clear()
        old, _keep_alive = _keep_alive, threading.Event()
        _thread = threading.Thread(target=_reconnect, args=(_service, old, _keep_alive), name="qlab-engine-restart")
        _thread.daemon = True
        _thread.start()
        return True


def _reconnect(service: bool, old: threading.Event, keep_alive: threading.Event) -> None:
    global _connected_local
    import ray

    # ray.shutdown with its GCS gone returned in 5 s here; a stuck one must not stop the reconnection
    done = threading.Thread(target=ray.shutdown, name="qlab-engine-shutdown", daemon=True)
    done.start()
    done.join(60.0)
    old.set()  # the previous start thread may end now: what it started is gone
    _connected_local = None
    _init(service, keep_alive)


def engine_status() -> EngineStatus:
    return _status


def engine_generation() -> int:
    """How many times this process has connected to Ray: a Ray handle made under an older
    connection does not work under this one."""
    return _generation


def require_engine(timeout: float = 120.0) -> EngineStatus:
    """Block until the engine is ready; EngineUnavailable (one line) if it failed or took too long."""
    start_engine()
    if not _ready.wait(timeout):
        raise EngineUnavailable(f"The compute engine did not start within {timeout:.0f} s.")
    if _status.state != "ready":
        raise EngineUnavailable(_status.message)
    return _status


def cluster_cpus() -> int:
    """CPUs the cluster has now (nodes may join or leave); at least 1."""
    import ray

    try:
        return max(1, int(ray.cluster_resources().get("CPU", 0)))
    except Exception:
        return max(1, _status.cpus)


def nodes_used() -> dict[str, int]:
    """How many alive nodes the cluster has, by node id (for the cluster benchmark and tests)."""
    import ray

    return {n["NodeID"]: int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")}


# --- the runs store's own local Ray instance (the web app's, when no cluster is configured) -------


def _engine_dir(runs: Path | None = None) -> Path:
    from rl_core.artifacts.folders import runs_dir

    return (runs or runs_dir()) / ENGINE_DIR


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return _pid_alive(pid)


def _is_our_ray(info: dict[str, Any]) -> bool:
    """The recorded process is still the ``ray start`` Q-Lab ran for this store (a pid can be reused)."""
    pid = int(info.get("pid") or 0)
    if pid <= 0 or info.get("host") != socket.gethostname() or not _pid_alive(pid):
        return False
    cmdline = _cmdline(pid)
    return b"start" in cmdline and str(info.get("temp_dir", "")).encode() in cmdline


def _read_cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def _cmdline(pid: int, patience: float = 1.0) -> list[bytes]:
    """The process's arguments ([] if it is gone). Read in the instant after ``Popen`` returns, a
    new process's arguments can still be empty: the kernel has closed the pipe Popen waits on but
    not yet laid out the new program's arguments (seen once in CI: a starting instance taken for
    gone). So an empty answer is asked again for up to ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while True:
        try:
            raw = _read_cmdline(pid)
        except OSError:
            return []
        if raw or time.monotonic() >= deadline:
            return raw.split(b"\0")
        time.sleep(0.02)


LOCAL_ANSWER_SECONDS = 60.0  # how long a running local instance may take to answer before it is reported


def find_local_instance(runs: Path | None = None, wait: float | None = None) -> dict[str, Any] | None:
    """The address record of this store's running local instance, or None when none runs.

    An instance whose ``ray start`` process is alive is running even when its port does not answer
    within one 3 s try (a loaded machine): it gets ``wait`` seconds (None: LOCAL_ANSWER_SECONDS, or
    what is left of START_SECONDS while it is still starting), then EngineUnavailable. Taking it
    for gone would start a second instance for the same store, with an empty registry of its own,
    and every job of the first would vanish from the pages.
    """
    path = _engine_dir(runs) / LOCAL_FILE
    info = _read_record(path)
    if info is None or not _is_our_ray(info):
        return None
    patience = LOCAL_ANSWER_SECONDS if wait is None else wait
    if wait is None:
        patience = max(patience, float(info.get("started_at") or 0) + START_SECONDS - time.time())
    deadline = time.monotonic() + patience
    while True:
        address = str(info.get("address", ""))
        # "up" is False from `ray start` until it says Ray runs (its GCS may answer before its
        # raylet has registered); a record without it is an instance that was up when recorded.
        # Past its start time, a record still "starting" is one whose starter died: its port says.
        starting = not info.get("up", True) and time.time() < float(info.get("started_at") or 0) + START_SECONDS
        why = "it is still starting" if starting else _reachable(address)
        if why is None:
            return info
        if not _is_our_ray(info):
            return None  # it ended meanwhile: gone after all
        if time.monotonic() >= deadline:
            raise EngineUnavailable(
                f"this runs folder's local Ray instance (pid {info['pid']}, {address}) runs but does not answer "
                f"({why}); `make stop-engine` stops it"
            )
        time.sleep(1.0)
        info = _read_record(path)
        if info is None:
            return None  # its start failed, or it was stopped


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_local_instance(runs: Path | None = None, cpus: int | None = None) -> dict[str, Any]:
    """Start this store's local Ray instance in a session of its own and record its address.

    A lock file makes two app processes starting at once share one instance: the second waits
    for the first and finds it.
    """
    folder = _engine_dir(runs)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_local_instance(runs)
        if found:
            return found
        key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:10]
        # Short: Ray's socket paths under it must fit a Unix socket name (108 bytes).
        temp_dir = Path(tempfile.gettempdir()) / f"qlab-ray-{key}"
        failure = ""
        for _attempt in range(2):  # on a loaded machine Ray's own start can time out once
            port = _free_port()
            process, log_offset = _spawn_ray(folder, port, temp_dir, cpus)
            info = {
                "address": f"127.0.0.1:{port}",
                "pid": process.pid,
                "host": socket.gethostname(),
                "temp_dir": str(temp_dir),
                "started_at": time.time(),
                "up": False,
            }
            # Recorded at once, not once Ray is up: a process stopped while Ray starts (seconds to a
            # minute) would otherwise leave an instance nobody knows of, which `engine stop` cannot
            # find and the next app process doubles. Anyone finding the record meanwhile waits for
            # the port to answer (find_local_instance).
            _write_record(folder, info)
            failure = _wait_until_up(process, folder / "ray.log", log_offset)
            if not failure:
                info["up"] = True
                _write_record(folder, info)
                return info
            (folder / LOCAL_FILE).unlink(missing_ok=True)
        raise EngineUnavailable(f"the local Ray instance did not start ({failure}; see {folder / 'ray.log'})")


def _write_record(folder: Path, info: dict[str, Any]) -> None:
    tmp = folder / f".{LOCAL_FILE}.tmp"
    tmp.write_text(json.dumps(info))
    os.replace(tmp, folder / LOCAL_FILE)


def _spawn_ray(folder: Path, port: int, temp_dir: Path, cpus: int | None) -> tuple[subprocess.Popen, int]:
    """Run ``ray start --head --block`` in a session of its own: (its process, where its output
    begins in ray.log)."""
    ray_exe = Path(sys.executable).with_name("ray")
    command = [
        str(ray_exe) if ray_exe.exists() else "ray",
        "start",
        "--head",
        "--port",
        str(port),
        "--node-ip-address",
        "127.0.0.1",
        "--num-cpus",
        str(cpus or os.cpu_count() or 1),
        "--temp-dir",
        str(temp_dir),
        "--include-dashboard=false",
        "--disable-usage-stats",
        "--block",
    ]
    # Loopback only and private to this store: no token (Ray 2.60 turns token auth on when
    # ~/.ray/auth_token exists, and a driver not in token mode is then refused).
    # nor the web process's own malloc settings (rl_core/present/memory.py): they are tuned for its threads
    env = {k: v for k, v in without_web_malloc(os.environ).items() if k != "RAY_ADDRESS" and k not in GCS_PATIENCE_ENV}
    env["RAY_AUTH_MODE"] = "disabled"
    log_path = folder / "ray.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    return process, offset


def _wait_until_up(process: subprocess.Popen, log_path: Path, offset: int) -> str:
    """Why ``ray start`` did not come up (it exited, or took too long: then what it had started of
    Ray's services is killed); "" once it says Ray runs."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        with open(log_path, "rb") as log:
            log.seek(offset)
            if b"Ray runtime started" in log.read():
                return ""
        if process.poll() is not None:
            _kill_group(process.pid)  # what it had started of Ray's services
            return f"ray start exited with code {process.returncode}"
        time.sleep(0.3)
    _kill_group(process.pid)
    return f"ray start took over {START_SECONDS:.0f} s"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def stop_local_instance(runs: Path | None = None, grace: float = 5.0) -> str:
    """Stop this store's local instance, if Q-Lab started it and it runs; say what happened.

    Only the recorded ``ray start`` process group is signalled: every other Ray instance on the
    machine (a cluster's node, another user's) is left alone.
    """
    path = _engine_dir(runs) / LOCAL_FILE
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return "no local Ray instance of Q-Lab's is recorded for this runs folder"
    if not isinstance(info, dict) or not _is_our_ray(info):
        path.unlink(missing_ok=True)
        return "the recorded local Ray instance is not running"
    pid = int(info["pid"])
    # Only the leader gets SIGTERM: `ray start --block` then stops its processes in order, in ~3 s
    # when no worker runs. With a worker (the registry actor) it waited 30 s, and so did a SIGTERM
    # to the whole group: past a short grace everything is killed (the GCS keeps nothing on disk,
    # and agents are written to a temporary name first).
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while _running(pid) and time.monotonic() < deadline:
        try:  # our child when this process started it: reap it
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:  # whatever outlived the leader's grace
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    path.unlink(missing_ok=True)
    return f"stopped the local Ray instance at {info.get('address')}"
