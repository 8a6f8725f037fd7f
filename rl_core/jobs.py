"""Background work on Ray: every heavy job runs in Ray worker processes, never in this process.

Two halves:

- In a worker process, a ``JobWorker`` actor runs one *task* (a training, an imitation run...) in
  a thread of its own and keeps what the task reports (episodes, evaluations, the latest Q-function)
  for whoever asks; ``stop()`` sets the task's stop flag. One actor holds one CPU.
- In this process (the web app or the CLI), a ``JobRegistry`` keeps every job in a first-come
  queue, starts as many as the cluster has CPUs, and runs one light *pump* thread that collects
  progress from the actors a few times a second. Pages only read ``snapshot()``: consistent copies
  made under the job's lock, never a Ray call on the page's thread.

A finished agent travels back as bytes and is written by this process alone into its runs store,
into the folder reserved for it when the job was submitted: no shared filesystem, and no job,
rename or upload can take another's folder. A worker process that dies (``kill -9``, OOM) fails its
job with a plain message and frees its slot; the other jobs go on.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .agent import FrozenQ, QAgent
from .config import MAX_FINISHED_JOBS_KEPT, MAX_QUEUED_JOBS_PER_OWNER, MAX_QUEUED_JOBS_TOTAL, AgentConfig
from .engine import EngineUnavailable, cluster_cpus, engine_status, require_engine, start_engine
from .ownership import record_owner, release_reservation, reserve_run
from .storage import AGENT_FILES, OWNER_FILE, claim_folder, default_run_name, runs_dir
from .training import EpisodeRecord, EvalRecord, TensorBoardLogger, TrainEvent, train, training_metrics

FINISHED_STATES = ("finished", "solved", "stopped", "diverged", "failed")
WORKER_DIED = "failed: the worker running it died (its process was killed or ran out of memory)"
SNAPSHOT_SECONDS = 0.5  # how often a training sends a copy of its Q-function
REPORT_SECONDS = 0.25  # how often a worker sends its progress and hears whether to stop
PUMP_SECONDS = 0.2  # how often the registry collects progress (chart lag stays well under 1.5 s)


class JobFailed(RuntimeError):
    """A job run to its end by a script or the CLI failed; the message is its one-line reason."""


class JobLimitReached(RuntimeError):
    """The queue is full for this user or for the whole server; the message says which."""


def one_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip().splitlines()[0][:300]


# --- the worker side -----------------------------------------------------------------------


class Progress:
    """What a task reports from its worker: events in order, and a few 'latest' slots.

    A reporter thread in the worker sends what accumulated to the hub every REPORT_SECONDS and
    hears back whether to stop, so a stop reaches the task even in the middle of a long episode.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Any] = []
        self._latest: dict[str, Any] = {}

    def emit(self, event: Any) -> None:
        with self._lock:
            self._events.append((time.time(), event))  # stamped: the live view's lag is measured from here

    def set_latest(self, key: str, value: Any) -> None:
        with self._lock:
            self._latest[key] = value

    def take(self) -> bytes | None:
        """Everything since the last take, pickled (the hub keeps bytes and never imports torch)."""
        with self._lock:
            if not self._events and not self._latest:
                return None
            events, latest = self._events, self._latest
            self._events, self._latest = [], {}
        return pickle.dumps((events, latest), protocol=pickle.HIGHEST_PROTOCOL)


class ProgressHub:
    """One small actor per registry (no CPU held): workers push progress, the pump drains it."""

    def __init__(self) -> None:
        self.inbox: dict[str, list[bytes]] = {}
        self.stops: set[str] = set()

    def push(self, unit_id: str, payload: bytes | None) -> bool:
        """Store a worker's progress; True tells the worker to stop."""
        if payload is not None:
            self.inbox.setdefault(unit_id, []).append(payload)
        return unit_id in self.stops

    def drain(self) -> dict[str, list[bytes]]:
        inbox, self.inbox = self.inbox, {}
        return inbox

    def stop(self, unit_id: str) -> None:
        self.stops.add(unit_id)

    def forget(self, unit_id: str) -> None:
        self.stops.discard(unit_id)
        self.inbox.pop(unit_id, None)


def run_task(task: Any, hub: Any, unit_id: str) -> Any:
    """The body of a Ray task: run ``task`` while a thread reports its progress and hears stops."""
    import ray
    import torch

    torch.set_num_threads(1)  # one CPU per worker: the scheduler counts on it
    progress, stop_event, finished = Progress(), threading.Event(), threading.Event()
    progress.set_latest("worker", {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()})

    def report() -> None:
        try:
            if ray.get(hub.push.remote(unit_id, progress.take())):
                stop_event.set()
        except Exception:  # a lost hub must not end the training: it still returns its agent
            pass

    def reporter() -> None:
        while not finished.wait(REPORT_SECONDS):
            report()

    thread = threading.Thread(target=reporter, name="qlab-reporter", daemon=True)
    thread.start()
    try:
        return task.run(progress, stop_event)
    finally:
        finished.set()
        thread.join()
        report()  # the last events arrive before the result does


_remote: dict[str, Any] = {}


def _remote_functions() -> dict[str, Any]:
    """Ray's remote versions of run_task and ProgressHub (made lazily: importing this module must
    not import Ray). A task holds one CPU and is never retried: a dead worker fails its job."""
    if not _remote:
        import ray

        _remote["run_task"] = ray.remote(num_cpus=1, max_retries=0)(run_task)
        _remote["hub"] = ray.remote(num_cpus=0, max_restarts=-1)(ProgressHub)
    return _remote


class HubClient:
    """This process's end of the hub, drained without ever blocking the pump.

    One drain call is in flight at a time; each pump tick collects it if it has arrived, files
    its payloads into per-worker inboxes and sends the next. Drains are numbered, so that a worker
    whose task has ended is closed only after a drain sent *after* that moment has arrived: its
    last report, pushed before its result, is then surely in.
    """

    def __init__(self) -> None:
        self.actor = _remote_functions()["hub"].remote()
        self.inboxes: dict[str, list[bytes]] = {}
        self.sent = 1
        self.received = 0
        self._in_flight = self.actor.drain.remote()

    def drain(self) -> None:
        import ray

        if not ray.wait([self._in_flight], timeout=0)[0]:
            return
        try:
            payloads = ray.get(self._in_flight)
        except ray.exceptions.RayActorError:  # restarting (Ray restarts the hub): try again next tick
            payloads = {}
        for unit_id, items in payloads.items():
            if unit_id in self.inboxes:
                self.inboxes[unit_id].extend(items)
        self.received = self.sent
        self.sent += 1
        self._in_flight = self.actor.drain.remote()


@dataclass
class WorkerUpdate:
    events: list[Any] = field(default_factory=list)
    latest: dict[str, Any] | None = None
    finished: bool = False
    outcome: Any = None
    error: str | None = None  # set when the task raised or its worker died
    produced_at: float | None = None  # the worker's time.time() when it recorded the newest event


class WorkerHandle:
    """This process's end of one Ray task: polled without blocking by the registry's pump."""

    def __init__(self, task: Any, hub: HubClient):
        self.unit_id = uuid.uuid4().hex
        self.hub = hub
        hub.inboxes[self.unit_id] = []
        # SPREAD: on a cluster, concurrent jobs go to different nodes rather than filling the first
        self.ref = (
            _remote_functions()["run_task"].options(scheduling_strategy="SPREAD").remote(task, hub.actor, self.unit_id)
        )
        self.closed = False
        self.ended_at_drain: int | None = None  # the drain number in flight when the task was seen ended

    def _take_inbox(self, update: WorkerUpdate) -> None:
        for payload in self.hub.inboxes.get(self.unit_id, []):
            stamped, latest = pickle.loads(payload)
            update.events.extend(event for _, event in stamped)
            if stamped:
                update.produced_at = stamped[-1][0]
            if latest:
                update.latest = {**(update.latest or {}), **latest}
        self.hub.inboxes[self.unit_id] = []

    def poll(self) -> WorkerUpdate:
        """New progress since the last poll, and the outcome once the task has ended."""
        import ray

        update = WorkerUpdate()
        if self.closed:
            return update
        self._take_inbox(update)
        if self.ended_at_drain is None:
            if not ray.wait([self.ref], timeout=0)[0]:
                return update
            self.ended_at_drain = self.hub.sent
        if self.hub.received <= self.ended_at_drain:
            return update  # the worker's last report may still be on its way: a tick or two
        try:
            update.outcome = ray.get(self.ref)
        except (
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.RayActorError,
            ray.exceptions.OwnerDiedError,
        ):
            update.error = WORKER_DIED
        except ray.exceptions.TaskCancelledError:
            update.error = "stopped"
        except ray.exceptions.RayTaskError as exc:
            update.error = f"failed: {one_line(exc.cause) if exc.cause else one_line(exc)}"
        except Exception as exc:  # a Ray error of another kind: report it, never raise into the pump
            update.error = f"failed: {one_line(exc)}"
        update.finished = True
        self.close()
        return update

    def stop(self) -> None:
        """Ask the task to wind down (it returns what it has); reaches it within REPORT_SECONDS."""
        if not self.closed:
            self.hub.actor.stop.remote(self.unit_id)

    def cancel(self) -> None:
        """End the task at once, losing its work (for units whose partial result is worthless)."""
        if not self.closed:
            import ray

            ray.cancel(self.ref, force=True)
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.inboxes.pop(self.unit_id, None)
        self.hub.actor.forget.remote(self.unit_id)


# --- tasks: what a worker runs -------------------------------------------------------------


@dataclass
class TrainingOutcome:
    status: str
    message: str
    seconds: float
    env_steps: int
    episodes: int
    files: dict[str, bytes] | None  # the agent folder, file by file (None when nothing is saved)
    final_evaluation: dict[str, float] | None = None
    q_function: Any = None


@dataclass
class TrainingTask:
    """Train one agent; optionally evaluate it; send its folder back as bytes."""

    config: AgentConfig
    save: bool = True
    final_eval_episodes: int = 0  # > 0: a greedy evaluation of the saved weights (seeds 0..n-1)
    snapshots: bool = True  # send a Q-function copy every SNAPSHOT_SECONDS
    preset: str | None = None  # what the run started from, kept in metrics.json ("custom from X" when changed)

    def run(self, progress: Progress, stop_event: threading.Event) -> TrainingOutcome:
        from .evaluation import evaluate
        from .storage import save_agent

        agent = QAgent(self.config)
        frozen_at = 0.0

        def on_event(event: TrainEvent) -> None:
            nonlocal frozen_at
            progress.emit(event)
            now = time.monotonic()
            if self.snapshots and now - frozen_at >= SNAPSHOT_SECONDS:
                frozen_at = now  # copied between two steps: never a half-updated network
                progress.set_latest("q_function", FrozenQ.of(agent))

        result = train(agent, callback=on_event, stop_event=stop_event)
        files = None
        if self.save and result.status != "diverged" and result.episodes:
            with tempfile.TemporaryDirectory(prefix="qlab-agent-") as tmp:
                metrics = training_metrics(agent, result)
                if self.preset:
                    metrics["preset"] = self.preset
                folder = save_agent(agent, Path(tmp) / "agent", metrics=metrics, history=result.episodes)
                files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        final = None
        if self.final_eval_episodes > 0 and result.status not in ("stopped", "diverged"):
            ev = evaluate(agent, self.config.env_id, n_episodes=self.final_eval_episodes, seed=0)
            final = {"mean": ev.mean, "std": ev.std, "min": ev.min, "max": ev.max, "solved_share": ev.solved_share}
        return TrainingOutcome(
            result.status,
            result.message,
            result.seconds,
            result.env_steps,
            len(result.episodes),
            files,
            final,
            FrozenQ.of(agent) if self.snapshots else None,
        )


# --- the web-process side ------------------------------------------------------------------


@dataclass(frozen=True)
class JobSnapshot:
    job_id: str
    name: str
    owner: str
    state: str  # "queued" | "running" | one of FINISHED_STATES
    message: str
    queue_position: int | None  # 1 = next to start; None unless queued
    config: AgentConfig
    episodes: tuple[EpisodeRecord, ...]
    evaluations: tuple[EvalRecord, ...]
    env_steps: int
    seconds: float  # training time so far (0 while queued)
    saved_path: Path | None
    updated_at: float  # time.time() when its newest data was produced (by the worker, for progress)
    q_function: Any = None  # a FrozenQ of the latest weights (refreshed about twice a second)
    kind: str = "training"
    worker: dict[str, Any] | None = None  # where it runs: {"pid", "node_id"} once it has started
    version: int = 0  # grows whenever anything above changes: what live views key their figures on
    q_version: int = 0  # grows with each new copy of the Q-function

    @property
    def done(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def episode(self) -> int:
        return len(self.episodes)

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the pace so far (an upper bound when the run may stop once solved)."""
        if not self.episodes or self.done:
            return None
        per_episode = self.seconds / len(self.episodes)
        return per_episode * (self.config.n_episodes - len(self.episodes))


def snapshot_field(snap: Any, name: str) -> Any:
    """A field of any job's snapshot (trainings and imitation runs have dataclasses, studies and
    seed sweeps dicts)."""
    return snap[name] if isinstance(snap, dict) else getattr(snap, name)


class Job:
    """A unit of background work as the registry sees it: queued, then running, then finished.

    Subclasses say how many CPUs they hold (``cpus``), start their workers (``start``), fold in
    their progress (``poll``, called by the pump thread only) and stop them (``stop_workers``).
    All state that readers see is changed under ``self._lock``.
    """

    kind = "job"

    def __init__(self, owner: str, name: str, cpus: int = 1):
        self.job_id = uuid.uuid4().hex[:12]
        self.owner = owner
        self.name = name
        self.cpus = max(1, cpus)
        self.registry: JobRegistry | None = None
        self.stop_requested = False
        self._lock = threading.Lock()
        self.version = 0
        self._state = "queued"
        self._message = "waiting for a free slot"
        self._updated_at = time.time()
        self._finished_at: float | None = None
        self._ended = threading.Event()

    # Every change a reader can see sets _updated_at (under the lock): that is also what counts a
    # new version, so a viewer with the same version has seen everything.
    @property
    def _updated_at(self) -> float:
        return self._stamp

    @_updated_at.setter
    def _updated_at(self, value: float) -> None:
        self._stamp = value
        self.version += 1

    def __getstate__(self) -> dict[str, Any]:
        """A job travels to the registry actor pickled, before it starts: without its locks."""
        state = self.__dict__.copy()
        for unpicklable in ("_lock", "_ended", "registry"):
            state.pop(unpicklable, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self.registry = None

    # state, as readers see it
    @property
    def state(self) -> str:
        return self._state

    @property
    def done(self) -> bool:
        return self._state in FINISHED_STATES

    def _set(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, f"_{key}", value)
            self._updated_at = time.time()

    def finish(self, state: str, message: str) -> None:
        """Enter a final state (once): the pump frees the slot and the job lets go of its workers."""
        if self.done:
            return
        self.stop_workers()
        self._set(state=state, message=message, finished_at=time.time())
        self.on_finished()
        self._ended.set()

    def queue_position(self) -> int | None:
        return self.registry.queue_position(self.job_id) if self.registry and self._state == "queued" else None

    def status_fields(self) -> dict[str, Any]:
        """What every job's snapshot says of its status, as a dict (call it under ``self._lock``)."""
        return {
            "job_id": self.job_id,
            "name": self.name,
            "owner": self.owner,
            "kind": self.kind,
            "state": self._state,
            "message": self._message,
            "done": self._state in FINISHED_STATES,
            "queue_position": self.queue_position(),
            "updated_at": self._updated_at,
            "version": self.version,
        }

    # what subclasses implement
    def start(self) -> None:
        raise NotImplementedError

    def poll(self) -> None:
        raise NotImplementedError

    def stop_workers(self) -> None:
        """Let go of the workers at once (the job is over)."""
        raise NotImplementedError

    def request_stop(self) -> None:
        """Ask a running job to wind down (called on the asking thread; ``stop_requested`` is set
        already, and ``poll`` on the pump thread acts on it)."""

    def on_finished(self) -> None:
        """Release what a finished job no longer needs (reservations, heavy objects)."""

    def snapshot(self) -> Any:
        raise NotImplementedError


class SingleTaskJob(Job):
    """A job that is one task on one worker: start it, fold in its progress, finish with its outcome."""

    def __init__(self, owner: str, name: str):
        super().__init__(owner, name)
        self.worker: WorkerHandle | None = None

    def make_task(self) -> Any:
        raise NotImplementedError

    def apply(self, update: WorkerUpdate) -> None:
        """Fold new events (and latest slots) into the job's state, under its lock."""

    def complete(self, outcome: Any) -> tuple[str, str]:
        """The final (state, message) from the task's outcome."""
        raise NotImplementedError

    def failure_note(self) -> str:
        return ""

    def start(self) -> None:
        assert self.registry is not None and self.registry.hub is not None
        self._set(state="running", message="starting a worker")
        self.worker = WorkerHandle(self.make_task(), self.registry.hub)

    def poll(self) -> None:
        if self.worker is None:
            return
        if self.stop_requested:
            # again on every poll: a Stop pressed while the pump was starting this job found no
            # worker to tell (the hub keeps a stop until the worker asks, so repeats are harmless)
            self.worker.stop()
        update = self.worker.poll()
        if update.events or update.latest:
            self.apply(update)
        if update.finished:
            if update.error:
                self.finish("failed", update.error + self.failure_note())
            else:
                self.finish(*self.complete(update.outcome))

    def request_stop(self) -> None:
        """Ask the worker to stop: it ends what it is doing and still returns what it has."""
        if self.worker is not None:
            self.worker.stop()

    def stop_workers(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.worker = None


class TrainingJob(SingleTaskJob):
    """One Q-learning run on one worker; its agent is saved into the folder reserved at submit."""

    kind = "training"

    def __init__(
        self,
        owner: str,
        config: AgentConfig,
        name: str,
        folder: Path,
        tensorboard_dir: Path | None = None,
        preset: str | None = None,
    ):
        super().__init__(owner, name)
        self.config = config
        self.preset = preset
        self.folder = folder  # reserved on disk already
        self.tensorboard_dir = tensorboard_dir
        self._board: TensorBoardLogger | None = None
        self._episodes: list[EpisodeRecord] = []
        self._evaluations: list[EvalRecord] = []
        self._env_steps = 0
        self._seconds = 0.0
        self._saved_path: Path | None = None
        self._q_function: Any = None
        self._q_version = 0
        self._worker: dict[str, Any] | None = None

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(
                job_id=self.job_id,
                name=self.name,
                owner=self.owner,
                state=self._state,
                message=self._message,
                queue_position=self.queue_position(),
                config=self.config,
                episodes=tuple(self._episodes),
                evaluations=tuple(self._evaluations),
                env_steps=self._env_steps,
                seconds=self._seconds,
                saved_path=self._saved_path,
                updated_at=self._updated_at,
                q_function=self._q_function,
                kind=self.kind,
                worker=self._worker,
                version=self.version,
                q_version=self._q_version,
            )

    def make_task(self) -> TrainingTask:
        if self.tensorboard_dir is not None:
            self._board = TensorBoardLogger(self.tensorboard_dir)  # written here: no shared filesystem
        return TrainingTask(self.config, preset=self.preset)

    def apply(self, update: WorkerUpdate) -> None:
        with self._lock:
            for event in update.events:
                if isinstance(event, EpisodeRecord):
                    self._episodes.append(event)
                    self._env_steps, self._seconds = event.env_steps, event.seconds
                    self._message = f"episode {event.episode} of {self.config.n_episodes}"
                else:
                    self._evaluations.append(event)
            if update.latest:
                if "q_function" in update.latest:
                    self._q_function = update.latest["q_function"]
                    self._q_version += 1
                self._worker = update.latest.get("worker", self._worker)
            self._updated_at = update.produced_at or time.time()
        if self._board is not None:
            for event in update.events:
                self._board(event)

    def complete(self, outcome: TrainingOutcome) -> tuple[str, str]:
        saved = None
        if outcome.files:
            saved = install_agent_files(outcome.files, self.folder)
            record_owner(saved, self.owner)
        self._set(
            saved_path=saved,
            seconds=outcome.seconds,
            env_steps=outcome.env_steps,
            q_function=outcome.q_function or self._q_function,
            q_version=self._q_version + 1,
        )
        return outcome.status, outcome.message + (f"; saved as {saved.name}" if saved else "; nothing saved")

    def failure_note(self) -> str:
        return f" after {len(self._episodes)} episodes; nothing saved" if self._episodes else ""

    def on_finished(self) -> None:
        release_reservation(self.folder)  # only if no agent landed there
        if self._board is not None:
            self._board.close()
            self._board = None
        if self.tensorboard_dir is not None and self.tensorboard_dir.is_dir():
            record_owner(self.tensorboard_dir, self.owner)


class JobRegistry:
    """Every job of this process: a first-come queue, CPU slots, and the pump that polls workers.

    ``capacity`` is the cluster's CPU count unless given (re-read as nodes join). A job holding
    ``cpus`` CPUs starts once it is first in the queue and that many are free.
    """

    def __init__(
        self,
        out_dir: Path | None = None,
        capacity: int | None = None,
        max_queued_per_owner: int = MAX_QUEUED_JOBS_PER_OWNER,
        max_queued_total: int = MAX_QUEUED_JOBS_TOTAL,
        finished_kept: int = MAX_FINISHED_JOBS_KEPT,
    ):
        self.out_dir = out_dir
        self.fixed_capacity = capacity
        self.max_queued_per_owner = max_queued_per_owner
        self.max_queued_total = max_queued_total
        self.finished_kept = finished_kept
        self._jobs: dict[str, Job] = {}
        self._waiting: list[str] = []
        self._running: set[str] = set()
        self._cond = threading.Condition()
        self._capacity = capacity or 0
        self._capacity_read_at = 0.0
        self._pump: threading.Thread | None = None
        self.hub: HubClient | None = None  # made by the pump once the engine is up
        start_engine()

    # --- submitting ---
    def runs_root(self) -> Path:
        return self.out_dir or runs_dir()

    def submit(
        self,
        owner: str,
        config: AgentConfig,
        name: str | None = None,
        tensorboard: bool = False,
        preset: str | None = None,
    ) -> str:
        """Queue a training run; its folder is reserved on disk now. With ``tensorboard`` it also
        logs to <runs>/tensorboard/<name>; ``preset`` (what it started from) goes in its metrics.json."""
        config.validate()
        self._check_room(owner)
        root = self.runs_root()
        folder = reserve_run(root, name or default_run_name(config), owner)
        board = root / "tensorboard" / folder.name if tensorboard else None
        try:
            return self.add(TrainingJob(owner, config, folder.name, folder, tensorboard_dir=board, preset=preset))
        except BaseException:
            release_reservation(folder)
            raise

    def _check_room(self, owner: str) -> None:
        status = engine_status()
        if status.state == "failed":
            raise EngineUnavailable(status.message)
        with self._cond:
            waiting = [self._jobs[j] for j in self._waiting]
            if len(waiting) >= self.max_queued_total:
                raise JobLimitReached(
                    f"The server's queue is full ({self.max_queued_total} jobs waiting); "
                    "try again when a run has finished."
                )
            mine = sum(1 for job in waiting if job.owner == owner)
            if mine >= self.max_queued_per_owner:
                raise JobLimitReached(
                    f"You already have {mine} jobs waiting (the most allowed is "
                    f"{self.max_queued_per_owner}); stop one or wait for it to start."
                )

    def add(self, job: Job) -> str:
        """Queue any job (the room check is the caller's: ``submit`` does it for trainings)."""
        job.registry = self
        with self._cond:
            self._jobs[job.job_id] = job
            self._waiting.append(job.job_id)
            self._prune_finished()
            self._cond.notify_all()
        self._ensure_pump()
        return job.job_id

    def add_checked(self, job: Job) -> str:
        """Queue a job after the same room check as ``submit``."""
        self._check_room(job.owner)
        return self.add(job)

    # --- reading ---
    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def snapshot(self, job_id: str) -> Any:
        job = self._jobs.get(job_id)
        return job.snapshot() if job else None

    def jobs_of(self, owner: str) -> list[Job]:
        return [job for job in list(self._jobs.values()) if job.owner == owner]

    def snapshots(self, owner: str | None = None, kind: str | None = None) -> list[Any]:
        """Snapshots of every job (of one owner, of one kind), oldest first."""
        return [
            job.snapshot()
            for job in list(self._jobs.values())
            if (owner is None or job.owner == owner) and (kind is None or job.kind == kind)
        ]

    def q_function(self, snap: JobSnapshot) -> Any:
        """The latest copy of a training's Q-function as of ``snap`` (None when it has none yet).
        The same call on the registry service's client fetches it only when it is looked at."""
        return snap.q_function

    def changes(self, known: Mapping[str, tuple[int, int, int, int | None]]) -> dict[str, Any]:
        """What changed since a viewer's copy: ``known`` maps job ids to (version, episodes held,
        evaluations held, queue position). Each changed job comes back as (base, snapshot): a
        training's snapshot holds only the episodes and evaluations after ``base`` (what the
        viewer holds), and no Q-function (``q_function`` fetches it when it is looked at).
        ``ids`` lists every job still kept, so a viewer can drop the others."""
        jobs: dict[str, tuple[tuple[int, int], Any]] = {}
        for job in list(self._jobs.values()):
            held = known.get(job.job_id)
            position = job.queue_position()
            if held is not None and held[0] == job.version and held[3] == position:
                continue
            snap = job.snapshot()
            base = (0, 0)
            if isinstance(snap, JobSnapshot):
                if held is not None and held[1] <= len(snap.episodes) and held[2] <= len(snap.evaluations):
                    base = (held[1], held[2])
                snap = dataclasses.replace(
                    snap, episodes=snap.episodes[base[0] :], evaluations=snap.evaluations[base[1] :], q_function=None
                )
            jobs[job.job_id] = (base, snap)
        return {"jobs": jobs, "ids": list(self._jobs), "capacity": self.capacity(), "running": len(self._running)}

    def queue_position(self, job_id: str) -> int | None:
        try:
            return self._waiting.index(job_id) + 1
        except ValueError:
            return None

    def running_count(self) -> int:
        return len(self._running)

    def capacity(self) -> int:
        """CPUs jobs may hold at once: the cluster's, re-read every few seconds."""
        if self.fixed_capacity:
            return self.fixed_capacity
        now = time.monotonic()
        if now - self._capacity_read_at > 3.0 and engine_status().state == "ready":
            self._capacity, self._capacity_read_at = cluster_cpus(), now
        return max(1, self._capacity)

    @property
    def max_running(self) -> int:
        return self.capacity()

    # --- stopping ---
    def stop(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is None or job.done:
            return
        job.stop_requested = True
        if job.job_id in self._running:
            job.request_stop()
        with self._cond:
            self._cond.notify_all()

    def stop_owner(self, owner: str) -> int:
        """Stop every unfinished job of one owner; returns how many there were."""
        jobs = [job for job in self.jobs_of(owner) if not job.done]
        for job in jobs:
            self.stop(job.job_id)
        return len(jobs)

    def wait(self, job_id: str, timeout: float | None = None) -> Any:
        """Block until the job ends (for the CLI, tests and scripts); returns its snapshot."""
        job = self._jobs[job_id]
        job._ended.wait(timeout)
        return job.snapshot()

    # --- the pump ---
    def _ensure_pump(self) -> None:
        with self._cond:
            if self._pump is None:
                self._pump = threading.Thread(target=self._pump_loop, name="qlab-job-pump", daemon=True)
                self._pump.start()

    def _pump_loop(self) -> None:
        while True:
            try:
                self._pump_once()
            except Exception:  # the pump must outlive any one job's trouble
                traceback.print_exc()
            with self._cond:
                self._cond.wait(PUMP_SECONDS)

    def _pump_once(self) -> None:
        self._dispatch()
        if self.hub is not None and self._running:
            self.hub.drain()
        for job_id in list(self._running):
            job = self._jobs[job_id]
            if not job.done:
                try:
                    job.poll()
                except Exception as exc:
                    job.finish("failed", f"failed: {one_line(exc)}")
            if job.done:
                with self._cond:
                    self._running.discard(job_id)
                    self._cond.notify_all()

    def _dispatch(self) -> None:
        """Start queued jobs, first come first served, while their CPUs fit; drop stopped ones."""
        with self._cond:
            for job_id in [j for j in self._waiting if self._jobs[j].stop_requested]:
                self._waiting.remove(job_id)
                self._jobs[job_id].finish("stopped", "stopped before it started")
        if not self._waiting:
            return
        try:
            require_engine(timeout=0.05)
        except EngineUnavailable as exc:
            if engine_status().state != "failed":
                for job_id in list(self._waiting):
                    self._jobs[job_id]._set(message="waiting for the compute engine to start")
                return
            with self._cond:
                waiting, self._waiting = self._waiting, []
            for job_id in waiting:
                self._jobs[job_id].finish("failed", f"failed: {exc}")
            return
        if self.hub is None:
            self.hub = HubClient()
        capacity = self.capacity()
        while True:
            with self._cond:
                if not self._waiting:
                    return
                job = self._jobs[self._waiting[0]]
                held = sum(self._jobs[j].cpus for j in self._running)
                job.cpus = min(job.cpus, capacity)  # a sweep wider than the cluster runs narrower
                if held + job.cpus > capacity:
                    return
                self._waiting.pop(0)
                self._running.add(job.job_id)
            try:
                job.start()
            except Exception as exc:
                job.finish("failed", f"failed to start: {one_line(exc)}")

    def _prune_finished(self) -> None:
        """Forget the oldest finished jobs beyond ``finished_kept`` per owner (their agents stay on disk)."""
        by_owner: dict[str, list[Job]] = {}
        for job in self._jobs.values():
            if job.done:
                by_owner.setdefault(job.owner, []).append(job)
        for jobs in by_owner.values():
            jobs.sort(key=lambda j: j._finished_at or 0.0)
            for job in jobs[: max(0, len(jobs) - self.finished_kept)]:
                del self._jobs[job.job_id]


# --- run folders: names reserved on disk ---------------------------------------------------


def install_agent_files(files: dict[str, bytes], folder: Path) -> Path:
    """Write an agent that came back from a worker into its reserved folder, atomically.

    The files go to a hidden sibling first; the reservation (a folder holding only its owner
    record) is then swapped for it in one rename, so a reader sees either the reservation or the
    whole agent. If the folder is no longer just our reservation, the agent goes to a fresh name
    beside it: nothing anyone else put there is ever replaced. The caller records the owner.
    """
    unknown = sorted(set(files) - set(AGENT_FILES))
    if unknown:
        raise ValueError(f"a worker sent an unexpected file {unknown[0]!r}")
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        for file_name, data in files.items():
            (tmp / file_name).write_bytes(data)
        if folder.is_dir() and sorted(p.name for p in folder.iterdir()) == [OWNER_FILE]:
            (folder / OWNER_FILE).unlink()
            os.rename(tmp, folder)  # replaces the now-empty reserved folder
            return folder
        target = claim_folder(folder.parent, folder.name)  # a new, empty folder of our own
        os.rename(tmp, target)
        return target
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
