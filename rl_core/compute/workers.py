"""The worker side of background work: a task runs in a Ray worker process (one CPU), a thread
beside it reports its progress to a small hub actor every REPORT_SECONDS and hears whether to stop;
this process polls each task through a ``WorkerHandle`` without ever blocking.
"""

from __future__ import annotations

import os
import pickle
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

WORKER_DIED = "failed: the worker running it died (its process was killed or ran out of memory)"
REPORT_SECONDS = 0.25  # how often a worker sends its progress and hears whether to stop


def one_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip().splitlines()[0][:300]


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
