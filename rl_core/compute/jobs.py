"""Jobs: what the registry (rl_core/compute/registry.py) queues and the pages read.

A job is run by one or several *tasks*, each in a Ray worker process (rl_core/compute/workers.py:
one CPU each, progress reported a few times a second, stop heard within REPORT_SECONDS). The job
turns its tasks' progress into a ``snapshot()``: a consistent copy made under the job's lock, the
only thing pages read, never a Ray call on the page's thread.

A finished agent travels back as bytes and is written by the registry's process alone into its
runs store, into the folder reserved for it when the job was submitted (``install_agent_files``):
no shared filesystem, and no job, rename or upload can take another's folder. A worker process that
dies (``kill -9``, OOM) fails its job with a plain message and frees its slot; the other jobs go on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rl_core.artifacts.folders import OWNER_FILE, claim_folder
from rl_core.artifacts.storage import AGENT_FILES
from rl_core.classroom.ownership import record_owner, release_reservation
from rl_core.compute.workers import Progress, WorkerHandle, WorkerUpdate
from rl_core.config import AgentConfig
from rl_core.learning.agent import FrozenQ, QAgent
from rl_core.learning.training import EpisodeRecord, EvalRecord, TensorBoardLogger, TrainEvent, train, training_metrics

if TYPE_CHECKING:
    from rl_core.compute.registry import JobRegistry


class JobState(StrEnum):
    """Where a job is: queued, running, then one of the finished states (equal to its plain text,
    so a snapshot read as JSON or compared with "running" still works)."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"  # ran all its episodes (or trials, seeds, architectures)
    SOLVED = "solved"  # a training that reached its target and stopped early
    STOPPED = "stopped"  # by its user
    DIVERGED = "diverged"  # a training whose loss or Q-values became infinite
    FAILED = "failed"  # an error, a dead worker, a registry that lost it


FINISHED_STATES = frozenset({JobState.FINISHED, JobState.SOLVED, JobState.STOPPED, JobState.DIVERGED, JobState.FAILED})
SNAPSHOT_SECONDS = 0.5  # how often a training sends a copy of its Q-function


class JobFailed(RuntimeError):
    """A job run to its end by a script or the CLI failed; the message is its one-line reason."""


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
        from rl_core.artifacts.storage import save_agent
        from rl_core.learning.evaluation import evaluate

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


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    """What every job's snapshot says of its status: a consistent copy made under the job's lock,
    the only thing pages read. Each kind of job adds its own fields (the subclasses below, and
    ImitationSnapshot, StudySnapshot, SeedsSnapshot)."""

    job_id: str
    name: str
    owner: str
    kind: str
    state: JobState
    message: str
    queue_position: int | None  # 1 = next to start; None unless queued
    updated_at: float  # time.time() when its newest data was produced (by the worker, for progress)
    version: int = 0  # grows whenever anything changes: what live views key their figures on
    reserved: str | None = None  # the run folder reserved for it, relative to the runs store

    @property
    def done(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass(frozen=True, kw_only=True)
class JobSnapshot(Snapshot):
    """A training's snapshot."""

    kind: str = "training"
    config: AgentConfig
    episodes: Sequence[EpisodeRecord]  # a tuple; in a web process's mirror, columns (learning.history)
    evaluations: Sequence[EvalRecord]  # the same
    env_steps: int
    seconds: float  # training time so far (0 while queued)
    saved_path: Path | None
    q_function: Any = None  # a FrozenQ of the latest weights (refreshed about twice a second)
    worker: dict[str, Any] | None = None  # where it runs: {"pid", "node_id"} once it has started
    q_version: int = 0  # grows with each new copy of the Q-function

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


@dataclass(frozen=True, kw_only=True)
class StudySnapshot(Snapshot):
    """A tuning study's run: the trials finished so far and, once over, its summary."""

    kind: str = "tuning"
    study: str
    finished_trials: list[int] = field(default_factory=list)  # their numbers, in the order they ended
    summary: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class SeedsSnapshot(Snapshot):
    """A seed sweep: one row per seed done (in the order they finished), and the seeds asked for."""

    kind: str = "seeds"
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    n_seeds: int = 0
    seeds: list[int] = field(default_factory=list)


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
        self.reserved: str | None = None  # its run folder, relative to the runs store (trainings)
        self.stop_requested = False
        self._lock = threading.Lock()
        self.version = 0
        self._state = JobState.QUEUED
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
    def state(self) -> JobState:
        return self._state

    @property
    def done(self) -> bool:
        return self._state in FINISHED_STATES

    def _set(self, **values: Any) -> None:
        if "state" in values:
            values["state"] = JobState(values["state"])  # ValueError for a state that does not exist
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
        return self.registry.queue_position(self.job_id) if self.registry and self._state is JobState.QUEUED else None

    def status_fields(self) -> dict[str, Any]:
        """The fields of ``Snapshot`` (call it under ``self._lock``)."""
        return {
            "job_id": self.job_id,
            "name": self.name,
            "owner": self.owner,
            "kind": self.kind,
            "state": self._state,
            "message": self._message,
            "queue_position": self.queue_position(),
            "updated_at": self._updated_at,
            "version": self.version,
            "reserved": self.reserved,
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
        self._set(state=JobState.RUNNING, message="starting a worker")
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
                **self.status_fields(),
                config=self.config,
                episodes=tuple(self._episodes),
                evaluations=tuple(self._evaluations),
                env_steps=self._env_steps,
                seconds=self._seconds,
                saved_path=self._saved_path,
                q_function=self._q_function,
                worker=self._worker,
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
        target = claim_folder(folder.parent, folder.name, store_root=True)  # a new, empty folder of our own
        os.rename(tmp, target)
        return target
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
