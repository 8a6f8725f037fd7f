"""Hyperparameter search and seed sweeps as background jobs on Ray.

A tuning job runs trials of one Optuna study (rl_core/compute/studies.py) on as many workers as
asked; each trial trains an agent, is pruned early when its periodic evaluations look hopeless, is
scored by a greedy evaluation, and saves its agent folder. A seed sweep trains one config on several
seeds at once and summarises how much its result depends on the seed.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from rl_core.artifacts.folders import TUNING, clean_run_name, runs_dir
from rl_core.classroom.ownership import record_owner, reserve_run
from rl_core.compute.engine import require_engine
from rl_core.compute.jobs import (
    Job,
    JobFailed,
    JobState,
    SeedsSnapshot,
    StudySnapshot,
    TrainingOutcome,
    TrainingTask,
    install_agent_files,
)
from rl_core.compute.registry import JobRegistry
from rl_core.compute.studies import TuningSetup, load_or_create_study, record_study_setup, suggest
from rl_core.compute.workers import WorkerHandle, WorkerUpdate
from rl_core.config import AgentConfig, ConfigError
from rl_core.envinfo import env_info
from rl_core.learning.training import EvalRecord

# --- studies and seed sweeps as background jobs on Ray ------------------------------------


def _trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return {"number": trial.number, "state": trial.state.name.lower(), "value": trial.value}


class TuningJob(Job):
    """A study's trials, ``workers`` at a time, each trial a training on its own Ray worker.

    Optuna's ask-and-tell runs here, in this process: each trial's periodic evaluations come back
    as progress and are reported to the pruner, which may stop the trial's worker; a finished
    trial sends back its agent (saved under <runs>/tuning/<study>/) and its final evaluation.
    So the workers need no access to the study's storage, and several processes (or the CLI on
    other machines) can still share one study through a database URL.
    """

    kind = "tuning"

    def __init__(
        self,
        owner: str,
        setup: TuningSetup,
        n_trials: int,
        workers: int = 1,
        on_trial: Callable[[dict[str, Any]], None] | None = None,
    ):
        setup.check()
        if n_trials <= 0:
            raise ValueError(f"trials must be positive, got {n_trials}")
        if workers <= 0:
            raise ValueError(f"workers must be positive, got {workers}")
        super().__init__(owner, name=f"study {setup.study_name}", cpus=min(workers, n_trials))
        self.setup, self.n_trials, self.on_trial = setup, n_trials, on_trial
        self.study: optuna.Study | None = None
        self.in_flight: dict[WorkerHandle, optuna.Trial] = {}
        self.asked = 0
        self.target_reached = False
        self.started_at = 0.0
        self._finished_trials: list[int] = []
        self._summary: dict[str, Any] | None = None

    def agents_dir(self) -> Path:
        return runs_dir() / TUNING / clean_run_name(self.setup.study_name)

    def snapshot(self) -> StudySnapshot:
        with self._lock:
            return StudySnapshot(
                **self.status_fields(),
                study=self.setup.study_name,
                finished_trials=list(self._finished_trials),
                summary=self._summary,
            )

    def start(self) -> None:
        self.study = load_or_create_study(self.setup)
        record_study_setup(self.study, self.setup, self.owner)
        self.started_at = time.perf_counter()
        self._set(state=JobState.RUNNING, message=f"0 of {self.n_trials} trials done")
        self._launch()

    def _launch(self) -> None:
        assert self.study is not None and self.registry is not None and self.registry.hub is not None
        while (
            len(self.in_flight) < self.cpus
            and self.asked < self.n_trials
            and not self.stop_requested
            and not self.target_reached
        ):
            trial = self.study.ask()
            self.asked += 1
            params = suggest(trial, self.setup.space)
            try:
                config = self.setup.trial_config(params).validate()
            except ConfigError as exc:  # e.g. batch_size > memory_size: an impossible combination
                trial.set_user_attr("invalid", str(exc))
                self._told(self.study.tell(trial, state=optuna.trial.TrialState.PRUNED))
                continue
            task = TrainingTask(config, final_eval_episodes=self.setup.eval_episodes, snapshots=False)
            self.in_flight[WorkerHandle(task, self.registry.hub)] = trial

    def _told(self, frozen: optuna.trial.FrozenTrial) -> None:
        with self._lock:
            self._finished_trials.append(frozen.number)
            self._message = f"{len(self._finished_trials)} of {self.n_trials} trials done"
            self._updated_at = time.time()
        if self.on_trial:
            self.on_trial(_trial_row(frozen))
        if self.setup.target is not None and frozen.value is not None and frozen.value >= self.setup.target:
            self.target_reached = True

    def poll(self) -> None:
        assert self.study is not None
        for handle, trial in list(self.in_flight.items()):
            update = handle.poll()
            for event in update.events:
                if isinstance(event, EvalRecord) and "pruned_at_episode" not in trial.user_attrs:
                    trial.report(event.mean, step=event.episode)
                    if trial.should_prune():
                        trial.set_user_attr("pruned_at_episode", event.episode)
                        handle.stop()
            if update.finished:
                del self.in_flight[handle]
                self._told(self._tell(trial, update))
        if self.stop_requested:
            for handle, trial in list(self.in_flight.items()):
                handle.cancel()
                trial.set_user_attr("status", "stopped")
                self._told(self.study.tell(trial, state=optuna.trial.TrialState.FAIL))
            self.in_flight.clear()
        self._launch()
        if not self.in_flight:
            self._finish_study()

    def _tell(self, trial: optuna.Trial, update: WorkerUpdate) -> optuna.trial.FrozenTrial:
        assert self.study is not None
        fail = optuna.trial.TrialState.FAIL
        if update.error:
            trial.set_user_attr("status", update.error)
            return self.study.tell(trial, state=fail)
        outcome: TrainingOutcome = update.outcome
        if outcome.files:
            folder = reserve_run(self.agents_dir(), f"trial-{trial.number:04d}", self.owner)
            folder = install_agent_files(outcome.files, folder)
            record_owner(folder, self.owner)
            trial.set_user_attr("agent_path", str(folder))
        trial.set_user_attr("train_seconds", round(outcome.seconds, 2))
        trial.set_user_attr("status", outcome.status)
        if "pruned_at_episode" in trial.user_attrs:
            return self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        if outcome.status == "diverged" or outcome.final_evaluation is None:
            return self.study.tell(trial, state=fail)
        return self.study.tell(trial, outcome.final_evaluation["mean"])

    def _finish_study(self) -> None:
        assert self.study is not None
        best: dict[str, Any] | None = None
        try:
            best = {
                "number": self.study.best_trial.number,
                "value": self.study.best_value,
                "params": self.study.best_trial.params,
                "agent_path": self.study.best_trial.user_attrs.get("agent_path"),
            }
        except ValueError:  # no completed trial yet
            pass
        summary = {
            "study": self.setup.study_name,
            "trials_run": len(self._finished_trials),
            "trial_numbers": list(self._finished_trials),
            "workers": self.cpus,
            "seconds": round(time.perf_counter() - self.started_at, 2),
            "best": best,
            "target_reached": bool(best and self.setup.target is not None and best["value"] >= self.setup.target),
        }
        self._set(summary=summary)
        if self.stop_requested:
            self.finish("stopped", f"stopped after {summary['trials_run']} trials")
            return
        reached = " (target reached)" if summary["target_reached"] else ""
        self.finish(
            "finished",
            f"{summary['trials_run']} trials; best {best['value']:.2f} (trial {best['number']}){reached}"
            if best
            else f"{summary['trials_run']} trials, none completed",
        )

    def stop_workers(self) -> None:
        for handle in self.in_flight:
            handle.cancel()
        self.in_flight.clear()

    def on_finished(self) -> None:
        self.study = None


class SeedsJob(Job):
    """One config trained on many seeds, one Ray worker per seed, ``cpus`` seeds at a time."""

    kind = "seeds"

    def __init__(
        self,
        owner: str,
        config: AgentConfig,
        seeds: Sequence[int],
        eval_episodes: int = 1000,
        workers: int | None = None,
        solved_at: float | None = None,
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ):
        config.validate()
        if not seeds:
            raise ValueError("seeds must not be empty")
        if workers is not None and workers <= 0:
            raise ValueError(f"workers must be positive, got {workers}")
        super().__init__(owner, name="seed sensitivity", cpus=min(workers or len(seeds), len(seeds)))
        self.config, self.seeds, self.eval_episodes = config, list(seeds), eval_episodes
        self.solved_at = solved_at if solved_at is not None else env_info(config.env_id).tuning_solved_mean
        self.on_result = on_result
        self.pending: list[int] = []
        self.in_flight: dict[WorkerHandle, int] = {}
        self.started_at = 0.0
        self._rows: list[dict[str, Any]] = []
        self._summary: dict[str, Any] | None = None

    def snapshot(self) -> SeedsSnapshot:
        with self._lock:
            return SeedsSnapshot(
                **self.status_fields(),
                rows=list(self._rows),
                summary=self._summary,
                n_seeds=len(self.seeds),
                seeds=list(self.seeds),
            )

    def start(self) -> None:
        self.pending = list(self.seeds)
        self.started_at = time.perf_counter()
        self._set(state=JobState.RUNNING, message=f"training {min(self.cpus, len(self.seeds))} seeds at once")
        self._launch()

    def _launch(self) -> None:
        assert self.registry is not None and self.registry.hub is not None
        while len(self.in_flight) < self.cpus and self.pending and not self.stop_requested:
            seed = self.pending.pop(0)
            task = TrainingTask(
                replace(self.config, seed=seed), save=False, final_eval_episodes=self.eval_episodes, snapshots=False
            )
            self.in_flight[WorkerHandle(task, self.registry.hub)] = seed

    def poll(self) -> None:
        for handle, seed in list(self.in_flight.items()):
            update = handle.poll()
            if not update.finished:
                continue
            del self.in_flight[handle]
            if update.error:
                self.finish("failed", f"{update.error} (seed {seed})")
                return
            outcome: TrainingOutcome = update.outcome
            ev = outcome.final_evaluation or {"mean": math.nan, "std": math.nan, "solved_share": math.nan}
            row = {
                "seed": seed,
                "mean": ev["mean"],
                "std": ev["std"],
                "solved_share": ev["solved_share"],
                "train_seconds": round(outcome.seconds, 2),
                "episodes": outcome.episodes,
                "status": outcome.status,
            }
            with self._lock:
                self._rows = ordered_rows([*self._rows, row], self.seeds)  # as asked, not as finished
                self._message = f"{len(self._rows)} of {len(self.seeds)} seeds done"
                self._updated_at = time.time()
            if self.on_result:
                self.on_result(row)
        if self.stop_requested:
            self.stop_workers()
        self._launch()
        if self.in_flight:
            return
        rows = [r for r in self._rows if not math.isnan(r["mean"])]
        if not rows:
            self.finish("stopped" if self.stop_requested else "failed", "no seed finished")
            return
        summary = summarise_seeds(
            rows, self.solved_at, workers=self.cpus, seconds=time.perf_counter() - self.started_at, seeds=self.seeds
        )
        self._set(summary=summary)
        if self.stop_requested:
            self.finish("stopped", f"stopped after {len(rows)} of {len(self.seeds)} seeds")
            return
        share = summary["solved_share"]
        self.finish(
            "finished",
            f"{len(self.seeds)} seeds: mean of means {summary['mean_of_means']:.1f}"
            + (f", solved on {100 * share:.0f}%" if share is not None else ""),
        )

    def stop_workers(self) -> None:
        for handle in self.in_flight:
            handle.cancel()
        self.in_flight.clear()


def ordered_rows(rows: Sequence[dict[str, Any]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """A seed sweep's rows in the order its seeds were asked for, whatever order the workers finished in.

    A seed asked for twice gets its rows in the order they came; a row whose seed was not asked for
    goes last (in the order it came) rather than being dropped.
    """
    position: dict[int, int] = {}
    for i, seed in enumerate(seeds):
        position.setdefault(seed, i)
    return sorted(rows, key=lambda row: position.get(row["seed"], len(position)))  # sorted() is stable


def summarise_seeds(
    rows: Sequence[dict[str, Any]],
    solved_at: float | None,
    workers: int,
    seconds: float,
    seeds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The spread of a seed sweep's final evaluations; with ``seeds``, rows listed in that order."""
    if seeds is not None:
        rows = ordered_rows(rows, seeds)
    means = [r["mean"] for r in rows]
    solved = [r for r in rows if solved_at is not None and r["mean"] >= solved_at]
    return {
        "seeds": [r["seed"] for r in rows],
        "means": means,
        "rows": list(rows),
        "solved_share": len(solved) / len(rows) if solved_at is not None else None,
        "mean_of_means": statistics.fmean(means),
        "std_of_means": statistics.pstdev(means),
        "min": min(means),
        "max": max(means),
        "workers": workers,
        "seconds": round(seconds, 2),
    }


def _run_to_end(job: Job) -> None:
    require_engine()  # a cluster that cannot be reached is one line, before anything is queued
    registry = JobRegistry()
    job_id = registry.add(job)
    snapshot = registry.wait(job_id)
    if snapshot.state == JobState.FAILED:
        raise JobFailed(snapshot.message)


def run_study(
    setup: TuningSetup, n_trials: int, workers: int = 1, on_trial: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Run ``n_trials`` trials of the study, ``workers`` at a time on Ray, and return the summary
    (fewer trials when the target is reached first)."""
    job = TuningJob("cli", setup, n_trials, workers=workers, on_trial=on_trial)
    _run_to_end(job)
    summary = job.snapshot().summary
    assert summary is not None  # set when the job finishes
    return summary


def seed_sensitivity(
    config: AgentConfig,
    seeds: Sequence[int],
    workers: int | None = None,
    eval_episodes: int = 1000,
    solved_at: float | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train one config on many seeds, ``workers`` at a time on Ray (the cluster's CPUs by default),
    and summarise how much the result depends on the seed."""
    job = SeedsJob(
        "cli", config, seeds, eval_episodes=eval_episodes, workers=workers, solved_at=solved_at, on_result=on_result
    )
    _run_to_end(job)
    summary = job.snapshot().summary
    assert summary is not None  # set when the job finishes
    return summary
