"""Background work: a thread per job, a lock-protected progress snapshot, a process-wide registry.

The worker thread only ever touches its own job object; readers (a Streamlit fragment, a test)
take a ``snapshot()``, a consistent copy made under the job's lock. At most ``max_running`` jobs
train at once; the rest wait in a first-come queue and know their place in it.
"""

from __future__ import annotations

import os
import re
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

from .agent import FrozenQ, QAgent
from .config import AgentConfig
from .training import EpisodeRecord, EvalRecord, TensorBoardLogger, TrainEvent, chain, train, training_metrics

FINISHED_STATES = ("finished", "solved", "stopped", "diverged", "failed")


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
    updated_at: float  # time.time() of the last event the worker recorded
    q_function: Any = None  # a FrozenQ of the latest weights (refreshed at most twice a second)

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


class BackgroundJob:
    """A piece of work in its own thread: queued, then running, then one of FINISHED_STATES.

    Subclasses implement ``work()``, which returns the final (state, message), records its
    progress under ``self._lock``, and checks ``self.stop_event``. Any exception becomes the
    state "failed" with its one-line reason: a crash never leaves the thread or the app.
    """

    def __init__(self, registry: "JobRegistry", owner: str, name: str):
        self.registry = registry
        self.job_id = uuid.uuid4().hex[:12]
        self.owner = owner
        self.name = name
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._state = "queued"
        self._message = "waiting for a free slot"
        self._updated_at = time.time()
        self.thread = threading.Thread(target=self._run, name=f"job-{self.job_id}", daemon=True)

    @property
    def done(self) -> bool:
        with self._lock:
            return self._state in FINISHED_STATES

    def stop(self) -> None:
        self.stop_event.set()

    def _set(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self, f"_{key}", value)
            self._updated_at = time.time()

    def work(self) -> tuple[str, str]:
        raise NotImplementedError

    def _run(self) -> None:
        if not self.registry.acquire_slot(self):
            self._set(state="stopped", message="stopped before it started")
            return
        try:
            import torch

            torch.set_num_threads(1)  # one core per job: jobs share the machine's cores
            self._set(state="running", message="starting")
            state, message = self.work()
            self._set(state=state, message=message)
        except Exception as exc:  # the thread must report, never take the app down
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self._set(state="failed", message=f"failed: {detail}")
        finally:
            self.registry.release_slot(self)


class TrainingJob(BackgroundJob):
    """One Q-learning run; saves its agent folder when it ends (unless it diverged)."""

    def __init__(self, registry: "JobRegistry", owner: str, config: AgentConfig, name: str, out_dir: Path,
                 tensorboard_dir: Path | None = None):
        super().__init__(registry, owner, name)
        self.config = config
        self.out_dir = out_dir
        self.tensorboard_dir = tensorboard_dir
        self._episodes: list[EpisodeRecord] = []
        self._evaluations: list[EvalRecord] = []
        self._env_steps = 0
        self._seconds = 0.0
        self._saved_path: Path | None = None
        self._agent: Any = None
        self._q_function: Any = None
        self._frozen_at = 0.0

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(
                job_id=self.job_id, name=self.name, owner=self.owner, state=self._state, message=self._message,
                queue_position=self.registry.queue_position(self.job_id) if self._state == "queued" else None,
                config=self.config, episodes=tuple(self._episodes), evaluations=tuple(self._evaluations),
                env_steps=self._env_steps, seconds=self._seconds, saved_path=self._saved_path,
                updated_at=self._updated_at, q_function=self._q_function,
            )

    def _on_event(self, event: TrainEvent) -> None:
        frozen = None
        now = time.monotonic()
        if self._agent is not None and now - self._frozen_at >= 0.5:
            # copied here, in the training thread, between two steps: never a half-updated network
            frozen, self._frozen_at = FrozenQ.of(self._agent), now
        with self._lock:
            if frozen is not None:
                self._q_function = frozen
            if isinstance(event, EpisodeRecord):
                self._episodes.append(event)
                self._env_steps = event.env_steps
                self._seconds = event.seconds
                self._message = f"episode {event.episode} of {self.config.n_episodes}"
            else:
                self._evaluations.append(event)
            self._updated_at = time.time()

    def work(self) -> tuple[str, str]:
        from .ownership import record_owner, release_reservation
        from .storage import save_agent  # storage imports this module for run names

        agent = self._agent = QAgent(self.config)
        board = TensorBoardLogger(self.tensorboard_dir) if self.tensorboard_dir else None
        try:
            result = train(agent, callback=chain(self._on_event, board), stop_event=self.stop_event)
        finally:
            if board:
                board.close()
        saved = None
        if result.status != "diverged" and result.episodes:
            saved = save_agent(agent, self.out_dir / self.name, metrics=training_metrics(agent, result),
                               history=result.episodes)
        if saved:
            record_owner(saved, self.owner)
        else:  # nothing to keep: give the reserved name back
            release_reservation(self.out_dir / self.name)
        if self.tensorboard_dir is not None and self.tensorboard_dir.is_dir():
            record_owner(self.tensorboard_dir, self.owner)
        self._set(saved_path=saved, seconds=result.seconds, q_function=FrozenQ.of(agent))
        return result.status, result.message + (f"; saved as {self.name}" if saved else "; nothing saved")


class JobRegistry:
    """Every job of the process, keyed by id; a session keeps the ids of its own."""

    def __init__(self, max_running: int | None = None, out_dir: Path | None = None):
        self.max_running = max(1, max_running or os.cpu_count() or 1)
        self.out_dir = out_dir
        self._jobs: dict[str, TrainingJob] = {}
        self._waiting: list[str] = []  # job ids, first come first served
        self._running: set[str] = set()
        self._names: set[str] = set()
        self._reaper: threading.Thread | None = None
        self._cond = threading.Condition()

    def add(self, job: BackgroundJob) -> str:
        """Queue any background job and start its thread."""
        with self._cond:
            self._jobs[job.job_id] = job
            self._waiting.append(job.job_id)
        job.thread.start()
        return job.job_id

    def submit(self, owner: str, config: AgentConfig, name: str | None = None, tensorboard: bool = False) -> str:
        """Queue a training run; with ``tensorboard`` it also logs to <runs>/tensorboard/<name>."""
        from .ownership import reserve_run
        from .storage import runs_dir

        config.validate()
        out_dir = self.out_dir or runs_dir()
        with self._cond:
            # names are reserved at submit time: two runs started in the same second must not collide
            run_name = reserve_run(out_dir, name or default_run_name(config), owner, taken=self._names).name
            self._names.add(run_name)
        board_dir = out_dir / "tensorboard" / run_name if tensorboard else None
        return self.add(TrainingJob(self, owner, config, run_name, out_dir, tensorboard_dir=board_dir))

    def get(self, job_id: str) -> BackgroundJob | None:
        return self._jobs.get(job_id)

    def snapshot(self, job_id: str) -> Any:
        job = self._jobs.get(job_id)
        return job.snapshot() if job else None

    def jobs_of(self, owner: str) -> list[BackgroundJob]:
        return [job for job in list(self._jobs.values()) if job.owner == owner]

    def stop(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job:
            job.stop()
            with self._cond:
                self._cond.notify_all()

    def stop_owner(self, owner: str) -> int:
        """Stop every job of a session that went away; returns how many were still going."""
        count = 0
        for job in self.jobs_of(owner):
            if not job.done:
                self.stop(job.job_id)
                count += 1
        return count

    def queue_position(self, job_id: str) -> int | None:
        try:
            return self._waiting.index(job_id) + 1
        except ValueError:
            return None

    def running_count(self) -> int:
        return len(self._running)

    def acquire_slot(self, job: BackgroundJob) -> bool:
        """Block until this job is first in the queue and a slot is free; False if stopped meanwhile."""
        with self._cond:
            while True:
                if job.stop_event.is_set():
                    self._waiting.remove(job.job_id)
                    self._cond.notify_all()
                    return False
                if self._waiting[0] == job.job_id and len(self._running) < self.max_running:
                    self._waiting.pop(0)
                    self._running.add(job.job_id)
                    self._cond.notify_all()
                    return True
                self._cond.wait(timeout=0.5)

    def release_slot(self, job: BackgroundJob) -> None:
        with self._cond:
            self._running.discard(job.job_id)
            self._cond.notify_all()

    def start_reaper(self, is_alive: Callable[[str], bool], interval: float = 5.0, grace: float = 20.0) -> None:
        """Stop the jobs of owners that ``is_alive`` says are gone for longer than ``grace`` seconds.

        The grace period lets a browser that briefly lost its connection come back to its runs.
        """
        if self._reaper is not None:
            return

        def reap() -> None:
            missing_since: dict[str, float] = {}
            while True:
                time.sleep(interval)
                owners = {job.owner for job in list(self._jobs.values()) if not job.done}
                now = time.monotonic()
                for owner in owners:
                    try:
                        alive = is_alive(owner)
                    except Exception:
                        alive = True  # never stop work on a failed check
                    if alive:
                        missing_since.pop(owner, None)
                    elif now - missing_since.setdefault(owner, now) >= grace:
                        self.stop_owner(owner)
                        missing_since.pop(owner, None)

        self._reaper = threading.Thread(target=reap, name="job-reaper", daemon=True)
        self._reaper.start()

    def wait(self, job_id: str, timeout: float | None = None) -> Any:
        """Block until the job ends (for tests and scripts)."""
        job = self._jobs[job_id]
        job.thread.join(timeout)
        return job.snapshot()


def default_run_name(config: AgentConfig) -> str:
    env = config.env_id.split("-")[0].lower()
    return f"{env}-{config.agent_kind}-seed{config.seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def unique_run_name(out_dir: Path, name: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A safe folder name (letters, digits, - and _) that no existing or reserved run uses."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:80] or "run"
    candidate, n = safe, 2
    while candidate in taken or (out_dir / candidate).exists():
        candidate = f"{safe}-{n}"
        n += 1
    return candidate
