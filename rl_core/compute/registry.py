"""The job registry: every job of a runs store in a first-come queue, as many started as the cluster
has CPUs, one light pump thread collecting their progress a few times a second; pages read only
``snapshot()`` copies. A finished agent is written by this process alone into the folder reserved
for it when the job was submitted (``install_agent_files``).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rl_core.artifacts.folders import (
    TENSORBOARD,
    check_run_name,
    default_run_name,
    make_store_folders,
    runs_dir,
    user_runs_dir,
)
from rl_core.classroom.ownership import release_orphans, release_reservation, reserve_run
from rl_core.compute.engine import EngineUnavailable, cluster_cpus, engine_status, require_engine, start_engine
from rl_core.compute.jobs import Job, JobSnapshot, TrainingJob
from rl_core.compute.workers import HubClient, one_line
from rl_core.config import MAX_ACTIVE_JOBS_PER_OWNER, MAX_FINISHED_JOBS_KEPT, MAX_QUEUED_JOBS_TOTAL, AgentConfig

PUMP_SECONDS = 0.2  # how often the registry collects progress (chart lag stays well under 1.5 s)


class JobLimitReached(RuntimeError):
    """The queue is full for this user or for the whole server; the message says which."""


class JobRegistry:
    """Every job of this process: a first-come queue, CPU slots, and the pump that polls workers.

    ``capacity`` is the cluster's CPU count unless given (re-read as nodes join). A job holding
    ``cpus`` CPUs starts once it is first in the queue and that many are free.
    """

    def __init__(
        self,
        out_dir: Path | None = None,
        capacity: int | None = None,
        max_active_per_owner: int = MAX_ACTIVE_JOBS_PER_OWNER,
        max_queued_total: int = MAX_QUEUED_JOBS_TOTAL,
        finished_kept: int = MAX_FINISHED_JOBS_KEPT,
        holds_the_store: bool = False,
    ):
        """``holds_the_store``: this registry is its runs store's only one (the service's, or an
        app's in-process one), so at its start it prepares the store's own folders and releases the
        names reserved for jobs that no longer exist (ownership.release_orphans)."""
        self.out_dir = out_dir
        self.fixed_capacity = capacity
        self.max_active_per_owner = max_active_per_owner
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
        self.released: list[str] = []
        if holds_the_store:
            try:
                make_store_folders(self.runs_root())
            except OSError:
                pass  # a read-only or full store: each write says so when it is tried
            self.released = release_orphans(self.runs_root())
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
        active_limit: int | None = None,
        space: str | None = None,
    ) -> str:
        """Queue a training run; its folder is reserved on disk now. With ``tensorboard`` it also
        logs to <runs>/tensorboard/<name>; ``preset`` (what it started from) goes in its metrics.json.
        ``active_limit``: the owner's own quota of jobs waiting or running (class mode), if lower
        than the registry's. ``space``: the owner's runs folder under runs/class/ (class mode,
        ownership.run_space), where the name is looked up and reserved."""
        config.validate()
        self._check_room(owner, active_limit)
        store = self.runs_root()
        root = user_runs_dir(store, space)
        folder = reserve_run(root, check_run_name(name) if name else default_run_name(config), owner)
        board = store / TENSORBOARD / folder.relative_to(store) if tensorboard else None
        try:
            job = TrainingJob(owner, config, folder.name, folder, tensorboard_dir=board, preset=preset)
            job.reserved = folder.relative_to(store).as_posix()
            return self.add(job)
        except BaseException:
            release_reservation(folder)
            raise

    def _check_room(self, owner: str, active_limit: int | None = None) -> None:
        """The one queue rule, for pages and CLI alike: at most ``max_queued_total`` jobs waiting on
        the server, and at most ``max_active_per_owner`` (or the owner's lower ``active_limit``)
        jobs of one owner waiting or running."""
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
            limit = min(self.max_active_per_owner, active_limit or self.max_active_per_owner)
            mine = sum(1 for job in self._jobs.values() if job.owner == owner and not job.done)
            if mine >= limit:
                raise JobLimitReached(
                    f"You have {mine} jobs queued or running, the most allowed is {limit}: "
                    "wait for one to finish or stop it."
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

    def add_checked(self, job: Job, active_limit: int | None = None) -> str:
        """Queue a job after the same room check as ``submit``."""
        self._check_room(job.owner, active_limit)
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
