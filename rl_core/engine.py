"""The compute engine: Ray, connected once per process.

With nothing configured, ``ray.init()`` starts a local instance sized to this machine's cores
(no dashboard). With Ray's own ``RAY_ADDRESS`` set, the same call joins that cluster instead, and
this package's code travels with the job (``py_modules``), so the cluster's nodes need Q-Lab's
dependencies but no copy of Q-Lab and no shared filesystem.

The web app starts the engine in a background thread so that the first page draws at once;
whatever needs a worker waits for it then (``require_engine``), and a cluster that cannot be
reached is reported in one line while everything that needs no training keeps working.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class EngineUnavailable(RuntimeError):
    """Ray could not be started or reached; the message is one line for the user."""


@dataclass(frozen=True)
class EngineStatus:
    state: str  # "idle" | "starting" | "ready" | "failed"
    message: str
    cpus: int = 0  # the cluster's CPUs, once ready
    address: str = ""


_lock = threading.Lock()
_ready = threading.Event()
_status = EngineStatus("idle", "not started")
_thread: threading.Thread | None = None


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


def _init() -> None:
    global _status
    address = cluster_address()
    try:
        why = _reachable(address) if address else None
        if why:
            raise ConnectionError(why)
        import ray

        if not ray.is_initialized():
            common: dict[str, Any] = dict(
                include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, configure_logging=True
            )
            if address:
                import rl_core

                package = Path(rl_core.__file__).parent
                ray.init(runtime_env={"py_modules": [str(package)], "excludes": ["__pycache__", "*.pyc"]}, **common)
            else:
                ray.init(num_cpus=os.cpu_count() or 1, **common)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        _warm_workers(cpus)
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
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
    threading.Event().wait()


def _import_the_learning_code() -> None:
    import rl_core.jobs  # noqa: F401  (torch, gymnasium and the training code)
    import rl_core.training  # noqa: F401


def _warm_workers(cpus: int) -> None:
    """Have each CPU's worker process import torch and the training code now, in the background:
    Ray reuses its workers, so the first job starts in a fraction of a second rather than ~3 s."""
    import ray

    warm = ray.remote(num_cpus=1, max_retries=0)(_import_the_learning_code)
    for _ in range(cpus):
        warm.remote()


def start_engine() -> None:
    """Start (or join) Ray in a background thread, once per process; returns at once."""
    global _thread, _status
    with _lock:
        if _thread is not None:
            return
        _status = EngineStatus("starting", "starting the compute engine")
        _thread = threading.Thread(target=_init, name="qlab-engine-start", daemon=True)
        _thread.start()


def engine_status() -> EngineStatus:
    return _status


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
