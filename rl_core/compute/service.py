"""The job registry as a service: one detached, named Ray actor per runs store, and its clients.

Jobs, their queue and their progress live in the compute engine, not in a web process: the
registry (``registry.JobRegistry``, with its pump and progress hub) runs inside a Ray actor that is
``detached`` (it outlives the process that made it) and named after the runs store, so every app
process that serves this store, and any one started later, finds the same jobs with their live
progress, owners and places in the queue. A web process killed or restarted mid-lesson loses
nothing: the actor goes on training, saves each finished agent into the folder reserved for it
(it runs on the store's machine: it is pinned to the node of the app process that made it), and
the restarted process finds everything again.

``RegistryClient`` is an app process's end: one mirror thread asks the actor every
``SYNC_SECONDS`` for what changed since its copy (only new episodes travel), and pages read that
copy without a Ray call. If the actor is lost (Ray restarts it empty) the jobs it held are
reported failed, with their reason, and their reserved names are given back; if Ray itself is
gone, ``error`` says so in one line and nothing on disk is touched.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pickle
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rl_core.artifacts.folders import runs_dir
from rl_core.classroom.ownership import release_reservation
from rl_core.compute.engine import (
    NAMESPACE,
    EngineUnavailable,
    engine_generation,
    engine_status,
    local_instance_was_stopped,
    ray_lost,
    require_engine,
    restart_engine,
    start_engine,
)
from rl_core.compute.jobs import FINISHED_STATES, Job, JobFailed, JobSnapshot, JobState, Snapshot
from rl_core.compute.registry import JobLimitReached
from rl_core.compute.workers import one_line
from rl_core.config import AgentConfig
from rl_core.learning.history import EpisodeHistory, EvaluationHistory

REGISTRY_PREFIX = "qlab-registry-"
STORE_ID_FILE = ".store-id"
SYNC_SECONDS = 0.5  # the mirror's cadence, half a live tick: charts lag training by about this plus the pump's 0.2 s
CALL_SECONDS = 30.0
START_SECONDS = 180.0
FIRST_SYNC_SECONDS = 15.0  # a page's first read waits this long for the copy, once Ray is up
LOST = "failed: lost when the job service restarted (its worker stopped; nothing was saved)"
CLOSE_SECONDS = 12.0  # close() waits this long for a sync in flight (its call times out at 10 s)
KEPT_LOST = 500  # jobs declared lost that a copy keeps showing
UNANSWERED_SECONDS = 60.0  # a registry silent this long, with Ray seemingly up: connect to Ray again

__all__ = ["JobFailed", "JobLimitReached", "RegistryActor", "RegistryClient", "registry_name", "store_id"]


def store_id(root: Path) -> str:
    """The runs store's id (made once, in ``<root>/.store-id``): names its registry actor, and lets
    the actor check that it sees the same folder as the app processes."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / STORE_ID_FILE
    try:
        with open(path, "x") as f:
            f.write(uuid.uuid4().hex[:16])
    except FileExistsError:
        pass
    return path.read_text().strip()


def registry_name(root: Path) -> str:
    return REGISTRY_PREFIX + store_id(root)


class RegistryActor:
    """The body of the registry actor: a ``JobRegistry`` and the calls its clients make."""

    def __init__(self, out_dir: str, store: str):
        from rl_core.compute.registry import JobRegistry

        self.out_dir = Path(out_dir)
        try:
            seen = (self.out_dir / STORE_ID_FILE).read_text().strip()
        except OSError:
            seen = ""
        if seen != store:
            raise RuntimeError(f"the job registry's node does not see the runs folder {out_dir}")
        # What the jobs read on their own (tuning studies' agents and default storage, the board's
        # cache) follows the store the actor serves, whatever environment Ray started it in.
        os.environ["QLAB_RUNS_DIR"] = str(self.out_dir)
        self.incarnation = uuid.uuid4().hex  # a restarted actor starts empty: clients notice by this
        self.registry = JobRegistry(out_dir=self.out_dir, holds_the_store=True)

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "capacity": self.registry.capacity(),
            "running": self.registry.running_count(),
        }

    def submit(
        self,
        owner: str,
        config: AgentConfig,
        name: str | None,
        tensorboard: bool,
        preset: str | None = None,
        active_limit: int | None = None,
        space: str | None = None,
    ) -> str:
        return self.registry.submit(
            owner, config, name=name, tensorboard=tensorboard, preset=preset, active_limit=active_limit, space=space
        )

    def add(self, job: bytes, checked: bool, active_limit: int | None = None) -> str:
        unpickled: Job = pickle.loads(job)
        return self.registry.add_checked(unpickled, active_limit) if checked else self.registry.add(unpickled)

    def stop(self, job_id: str) -> None:
        self.registry.stop(job_id)

    def stop_owner(self, owner: str) -> int:
        return self.registry.stop_owner(owner)

    def changes(self, known: dict[str, tuple[int, int, int, int | None]]) -> dict[str, Any]:
        return {**self.registry.changes(known), "incarnation": self.incarnation}

    def q_function(self, job_id: str) -> Any:
        job = self.registry.get(job_id)
        return getattr(job, "_q_function", None)


def registry_handle(root: Path) -> Any:
    """The store's registry actor, made on this node if it does not exist yet."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    name = registry_name(root)
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        pass
    actor = ray.remote(RegistryActor).options(
        name=name,
        namespace=NAMESPACE,
        lifetime="detached",
        get_if_exists=True,  # two app processes starting at once share one
        num_cpus=0,
        max_restarts=-1,
        max_task_retries=0,
        max_concurrency=64,  # the pump is a thread of its own; calls from many app processes overlap
        scheduling_strategy=NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False),
    )
    created = actor.remote(str(root), store_id(root))
    try:  # whoever holds the name is the registry: every client talks to that one
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return created


def _held(snap: Any) -> tuple[int, int, int, int | None]:
    """What a mirrored snapshot holds, as the registry's ``changes`` reads it."""
    if isinstance(snap, JobSnapshot):
        return snap.version, len(snap.episodes), len(snap.evaluations), snap.queue_position
    return snap.version, 0, 0, snap.queue_position


def _as_lost(snap: Snapshot) -> Snapshot:
    return dataclasses.replace(snap, state=JobState.FAILED, message=LOST, queue_position=None)


class RegistryClient:
    """An app process's view of the store's registry actor: the same calls as ``JobRegistry``."""

    def __init__(self, out_dir: Path | None = None):
        self.out_dir = Path(out_dir or runs_dir())
        start_engine(service=True)
        self.error: str | None = None  # one line when the registry cannot be reached
        self._handle: Any = None
        self._handle_generation = -1
        # Jobs this copy itself declared lost: no registry holds them any more, and they stay
        # shown (failed, with why) rather than vanish at the next sync; the newest KEPT_LOST only.
        self._lost: dict[str, None] = {}
        self._sync_lock = threading.Lock()
        self._sync_wait_lock = threading.Lock()
        self._actor_lock = threading.Lock()
        self._snaps: dict[str, Any] = {}
        self._capacity = max(1, engine_status().cpus)
        self._running = 0
        self._incarnation: str | None = None
        self._q_cache: dict[str, tuple[int, Any]] = {}
        self._synced = threading.Event()  # set by the first sync: until then the copy is empty, not "no jobs"
        self._first_sync_deadline: float | None = None  # one wait for all reads, not one per read
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._mirror, name="qlab-registry-mirror", daemon=True)
        self._thread.start()

    # --- talking to the actor ---
    def _actor(self) -> Any:
        # One thread finds or makes the actor: the mirror thread and a page's submit asking at once
        # each made one (seen in CI: two registry actors of one store, the job submitted to one and
        # the copy synced from the other, so the page never saw it).
        with self._actor_lock:
            if self._handle is None or self._handle_generation != engine_generation():
                import ray

                self._handle = None
                require_engine(timeout=START_SECONDS)
                generation = engine_generation()
                handle = registry_handle(self.out_dir)
                # A new actor imports the training stack first: seconds, a minute on a loaded machine.
                ray.get(handle.info.remote(), timeout=START_SECONDS)
                self._handle, self._handle_generation = handle, generation
                # Stop mirroring before Ray's own exit handler (registered at ray.init, and exit
                # handlers run last first) shuts Ray down: a call after that ends the process.
                atexit.register(self.close)
            return self._handle

    def _call(self, method: str, *args: Any, timeout: float = CALL_SECONDS) -> Any:
        import ray

        try:
            handle = self._actor()
            if not ray.is_initialized():  # shut down meanwhile (reconnecting, exiting): touching it exits
                raise EngineUnavailable("The job registry cannot be reached: not connected to Ray now.")
            return ray.get(getattr(handle, method).remote(*args), timeout=timeout)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
                raise cause from None  # the registry's own refusal (queue full, bad config, ...)
            raise EngineUnavailable(f"the job registry failed: {one_line(exc)}") from None
        except EngineUnavailable:
            raise
        except Exception as exc:  # RayActorError, GetTimeoutError, a lost connection to Ray...
            self._handle = None
            raise EngineUnavailable(
                f"The job registry cannot be reached ({type(exc).__name__}): running jobs go on if Ray is up; "
                "nothing on disk is lost."
            ) from None

    def _mirror(self) -> None:
        failing_since: float | None = None
        while not self._closed.is_set():
            try:
                self.sync()
                self.error = None
                failing_since = None
            except Exception as exc:  # the thread must outlive any trouble; pages show ``error``
                failing_since = failing_since or time.monotonic()
                try:
                    said = self._after_failure(time.monotonic() - failing_since)
                except Exception as trouble:
                    said = one_line(trouble)
                # set once: a page reading between two assignments showed the raw error for a moment
                self.error = said or (str(exc) if isinstance(exc, EngineUnavailable) else one_line(exc))
            self._closed.wait(SYNC_SECONDS)

    def _after_failure(self, failing_for: float) -> str | None:
        """What a sync that failed says about Ray, and what to do: a local instance that has ended
        took every job with it (each fails in one line and gives its name back); the engine then
        connects again (starting the instance anew, unless it was stopped on purpose) and the queue
        goes on. A cluster away is tried again every while; its jobs are judged once it answers.
        Returns what pages should say, or None for the sync's own error."""
        status = engine_status()
        if status.state == "failed":
            restart_engine("the last try failed")
            return None
        lost = ray_lost()
        if lost is not None:
            why, for_good = lost
            if for_good:
                self.fail_unfinished(f"failed: {why} while it ran; nothing was saved")
                if local_instance_was_stopped():
                    return (
                        f"The job registry cannot be reached ({why}: `make stop-engine` stopped it); "
                        "restart the app to start it again. Nothing on disk is lost."
                    )
            restart_engine(why)
            return f"The job registry cannot be reached ({why}); connecting again. Nothing on disk is lost."
        if failing_for > UNANSWERED_SECONDS:
            restart_engine("the job registry has not answered for a minute")
        return None

    def fail_unfinished(self, message: str) -> int:
        """Mark every job of the copy that had not ended as failed with ``message`` ("before it
        started" for a queued one) and give its reserved name back; how many there were."""
        with self._sync_lock:
            snaps = dict(self._snaps)
            lost = [snap for snap in snaps.values() if snap.state not in FINISHED_STATES]
            for snap in lost:
                said = message.replace("while it ran", "before it started") if snap.queue_position else message
                snaps[snap.job_id] = dataclasses.replace(snap, state=JobState.FAILED, message=said, queue_position=None)
                self._note_lost(snap, snaps)
            self._snaps = snaps
            self._running = 0
        return len(lost)

    def _note_lost(self, snap: Snapshot, snaps: dict[str, Any]) -> None:
        """Keep a lost job's last state for the pages (the newest KEPT_LOST) and give its reserved
        name back: nothing will ever save into it."""
        if snap.reserved:
            release_reservation(self.out_dir / snap.reserved)
        self._lost[snap.job_id] = None
        while len(self._lost) > KEPT_LOST:
            oldest = next(iter(self._lost))
            del self._lost[oldest]
            snaps.pop(oldest, None)

    def close(self) -> None:
        """Stop following the registry (the jobs go on: they are the actor's)."""
        self._closed.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(CLOSE_SECONDS)

    def sync(self) -> None:
        """Bring the copy up to date with the registry (the mirror thread does it every SYNC_SECONDS)."""
        with self._sync_lock:
            known = {job_id: _held(snap) for job_id, snap in self._snaps.items()}
            reply = self._call("changes", known, timeout=10.0)
            kept = set(reply["ids"])
            restarted = self._incarnation is not None and reply["incarnation"] != self._incarnation
            self._incarnation = reply["incarnation"]
            snaps = dict(self._snaps)
            for job_id, snap in list(snaps.items()):
                if job_id in kept:
                    continue
                done = snap.state in FINISHED_STATES
                if done and not restarted and job_id not in self._lost:
                    del snaps[job_id]  # forgotten by the registry (its agent stays on disk)
                elif not done:
                    snaps[job_id] = _as_lost(snap)
                    self._note_lost(snap, snaps)
            for job_id, (base, snap) in reply["jobs"].items():
                if isinstance(snap, JobSnapshot) and base != (0, 0):
                    old = snaps.get(job_id)
                    if not isinstance(old, JobSnapshot) or (len(old.episodes), len(old.evaluations)) != base:
                        snaps.pop(job_id, None)  # out of step: the next sync sends it whole
                        continue
                    snap = dataclasses.replace(  # appended in place
                        snap,
                        episodes=EpisodeHistory.of(old.episodes) + snap.episodes,
                        evaluations=EvaluationHistory.of(old.evaluations) + snap.evaluations,
                    )
                elif isinstance(snap, JobSnapshot):  # a long run's history kept as columns (56 B an episode)
                    snap = dataclasses.replace(
                        snap,
                        episodes=EpisodeHistory.of(snap.episodes),
                        evaluations=EvaluationHistory.of(snap.evaluations),
                    )
                snaps[job_id] = snap
            self._snaps = snaps
            self._capacity, self._running = max(1, int(reply["capacity"])), int(reply["running"])
            self._synced.set()

    @property
    def synced(self) -> bool:
        """Whether the copy holds the registry's jobs yet (False until the first sync)."""
        return self._synced.is_set()

    def _await_first_sync(self) -> None:
        """A page reading before the first sync would see no jobs (a user's running training
        missing from a new app process's Train page): once Ray is up, wait for the copy, at most
        FIRST_SYNC_SECONDS in all. A page reads several times a run, and a registry actor's first
        start (it imports the training stack) can take longer than that on a loaded machine: a wait
        per read made one run last a minute."""
        if self._synced.is_set() or engine_status().state != "ready":
            return
        with self._sync_wait_lock:
            if self._first_sync_deadline is None:
                self._first_sync_deadline = time.monotonic() + FIRST_SYNC_SECONDS
        remaining = self._first_sync_deadline - time.monotonic()
        if remaining > 0:
            self._synced.wait(remaining)

    # --- submitting ---
    def runs_root(self) -> Path:
        return self.out_dir

    def submit(
        self,
        owner: str,
        config: AgentConfig,
        name: str | None = None,
        tensorboard: bool = False,
        preset: str | None = None,
        active_limit: int | None = None,
        space: str | None = None,
    ) -> str:
        self._check_engine()
        job_id = self._call("submit", owner, config.validate(), name, tensorboard, preset, active_limit, space)
        return self._holding(job_id)

    def add(self, job: Job) -> str:
        self._check_engine()
        return self._holding(self._call("add", pickle.dumps(job), False))

    def add_checked(self, job: Job, active_limit: int | None = None) -> str:
        self._check_engine()
        return self._holding(self._call("add", pickle.dumps(job), True, active_limit))

    def _check_engine(self) -> None:
        """Refuse at once, in one line, while Ray is being started again (after a first
        connection): the first start is waited for, as the page says it starts."""
        status = engine_status()
        if status.state == "failed" or (status.state == "starting" and engine_generation() > 0):
            raise EngineUnavailable(f"{status.message.rstrip('.…')}: try again in a moment.")

    def _holding(self, job_id: str, tries: int = 5) -> str:
        """Return ``job_id`` once the copy holds its job, so a page reading it right after submitting
        finds it (a few syncs at most; seen once in CI: a snapshot read just after submit was None)."""
        for attempt in range(tries):
            self.sync()
            if job_id in self._snaps:
                break
            time.sleep(0.1 * (attempt + 1))
        return job_id

    # --- reading (the copy: no Ray call) ---
    def snapshot(self, job_id: str) -> Any:
        self._await_first_sync()
        return self._snaps.get(job_id)

    def snapshots(self, owner: str | None = None, kind: str | None = None) -> list[Any]:
        self._await_first_sync()
        return [
            snap
            for snap in list(self._snaps.values())
            if (owner is None or snap.owner == owner) and (kind is None or snap.kind == kind)
        ]

    def q_function(self, snap: JobSnapshot) -> Any:
        """The training's latest Q-function, fetched from the registry only when it is new."""
        cached = self._q_cache.get(snap.job_id)
        if cached is not None and cached[0] == snap.q_version:
            return cached[1]
        try:
            q = self._call("q_function", snap.job_id, timeout=10.0)
        except EngineUnavailable:
            return cached[1] if cached else None
        self._q_cache[snap.job_id] = (snap.q_version, q)
        return q

    def queue_position(self, job_id: str) -> int | None:
        snap = self._snaps.get(job_id)
        return None if snap is None else snap.queue_position

    def running_count(self) -> int:
        return self._running

    def capacity(self) -> int:
        return self._capacity

    @property
    def max_running(self) -> int:
        return self._capacity

    # --- stopping ---
    def stop(self, job_id: str) -> None:
        self._call("stop", job_id)

    def stop_owner(self, owner: str) -> int:
        return int(self._call("stop_owner", owner))

    def wait(self, job_id: str, timeout: float | None = None) -> Any:
        """Block until the job ends (scripts and tests); returns its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            snap = self._snaps.get(job_id)
            if snap is not None and snap.state in FINISHED_STATES:
                return snap
            time.sleep(0.05)
        return self._snaps.get(job_id)
