"""The supervised crash course as a background job: one or several architectures imitating an expert
on the same rows, one after another, on a Ray worker (the learning itself is rl_core.learning.imitation)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rl_core.compute.jobs import SingleTaskJob, Snapshot
from rl_core.compute.workers import WorkerUpdate
from rl_core.envinfo import DEFAULT_ENV
from rl_core.learning.imitation import EpochRecord, evaluate_as_policy, train_classifier


@dataclass(frozen=True, kw_only=True)
class ImitationSnapshot(Snapshot):
    """An imitation run: each architecture's epochs so far, and a row per finished one."""

    kind: str = "imitation"
    epochs: int
    curves: dict[str, tuple[EpochRecord, ...]]  # architecture label -> its epochs so far
    results: tuple[dict, ...]  # one row per finished architecture


def architecture_label(hidden: Sequence[int]) -> str:
    return "linear" if not hidden else str(list(hidden))


@dataclass
class ImitationTask:
    """What a worker runs: each architecture in turn on the same rows, reporting every epoch."""

    train_table: pd.DataFrame
    test_table: pd.DataFrame
    architectures: list[list[int]]
    epochs: int
    seed: int
    env_id: str
    eval_episodes: int

    def run(self, progress: Any, stop_event: threading.Event) -> tuple[str, str]:
        for hidden in self.architectures:
            label = architecture_label(hidden)
            progress.emit(("start", label, None))

            def on_epoch(record: EpochRecord, label: str = label) -> None:
                progress.emit(("epoch", label, record))

            result = train_classifier(
                self.train_table,
                self.test_table,
                hidden,
                epochs=self.epochs,
                seed=self.seed,
                env_id=self.env_id,
                stop_event=stop_event,
                callback=on_epoch,
            )
            if result.stopped:
                return "stopped", f"stopped during {label}"
            policy = evaluate_as_policy(result, self.env_id, n_episodes=self.eval_episodes)
            progress.emit(
                (
                    "result",
                    label,
                    {
                        "architecture": label,
                        "parameters": result.parameters,
                        "train accuracy": round(result.train_acc, 4),
                        "test accuracy": round(result.test_acc, 4),
                        "policy mean reward": round(policy.mean, 2),
                        "policy std": round(policy.std, 2),
                        "solved share": round(policy.solved_share, 4),
                        "seconds": round(result.seconds, 1),
                    },
                )
            )
        return "finished", f"trained {len(self.architectures)} architecture(s)"


class ImitationJob(SingleTaskJob):
    """Trains one or several architectures on the same rows, one after another, on a worker."""

    kind = "imitation"

    def __init__(
        self,
        owner: str,
        train_table: pd.DataFrame,
        test_table: pd.DataFrame,
        architectures: Sequence[Sequence[int]],
        epochs: int = 150,
        seed: int = 0,
        env_id: str = DEFAULT_ENV,
        eval_episodes: int = 1000,
    ):
        super().__init__(owner, name="imitation")
        self.task: ImitationTask | None = ImitationTask(
            train_table, test_table, [list(a) for a in architectures], epochs, seed, env_id, eval_episodes
        )
        self.epochs = epochs
        self._curves: dict[str, list[EpochRecord]] = {}
        self._results: list[dict] = []

    def make_task(self) -> ImitationTask:
        assert self.task is not None  # made in __init__, dropped only once the job has finished
        return self.task

    def apply(self, update: WorkerUpdate) -> None:
        with self._lock:
            for kind, label, payload in update.events:
                if kind == "start":
                    self._curves[label] = []
                    self._message = f"training {label}"
                elif kind == "epoch":
                    self._curves.setdefault(label, []).append(payload)
                    self._message = f"{label}: epoch {payload.epoch} of {self.epochs}"
                else:
                    self._results.append(payload)
            self._updated_at = time.time()

    def complete(self, outcome: tuple[str, str]) -> tuple[str, str]:
        return outcome

    def on_finished(self) -> None:
        self.task = None  # the tables are no longer needed

    def snapshot(self) -> ImitationSnapshot:
        with self._lock:
            return ImitationSnapshot(
                **self.status_fields(),
                epochs=self.epochs,
                curves={k: tuple(v) for k, v in self._curves.items()},
                results=tuple(self._results),
            )
