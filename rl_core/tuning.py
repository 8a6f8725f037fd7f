"""Hyperparameter search with Optuna, and how much a config's result depends on its seed.

A study lives in an Optuna storage: by default a SQLite file under the runs folder (nothing to
install), or any database URL (PostgreSQL) that several workers on several machines share. Each
worker runs trials of the same study; each trial trains an agent, is pruned early when its
periodic evaluations look hopeless, is scored by a greedy evaluation, and saves its agent folder.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import optuna

from .agent import QAgent
from .config import AgentConfig, ConfigError, preset
from .evaluation import evaluate
from .jobs import FINISHED_STATES, BackgroundJob, JobRegistry
from .storage import runs_dir, save_agent
from .training import EvalRecord, train, training_metrics

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class ParamSpec:
    """How one hyperparameter is searched: "loguniform"/"uniform" in [low, high], "int" in
    [low, high], or "categorical" over ``choices``."""

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def check(self, name: str) -> None:
        if self.kind in ("loguniform", "uniform", "int"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"search space: {name} needs low < high, got [{self.low}, {self.high}]")
            if self.kind == "loguniform" and self.low <= 0:
                raise ValueError(f"search space: {name} is log-uniform, so low must be > 0, got {self.low}")
        elif self.kind == "categorical":
            if not self.choices:
                raise ValueError(f"search space: {name} has no choices")
        else:
            raise ValueError(f"search space: {name} has unknown kind {self.kind!r}")

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"kind": self.kind, "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high}


# The course's search space (../shared/reference/presets.json).
COURSE_SPACE: dict[str, ParamSpec] = {
    "learning_rate": ParamSpec("loguniform", 1e-5, 1e-2),
    "discount_factor": ParamSpec("categorical", choices=(0.9, 0.95, 0.99)),
    "batch_size": ParamSpec("categorical", choices=(16, 32, 64, 128)),
    "memory_size": ParamSpec("categorical", choices=(10_000, 50_000, 100_000)),
    "freq_steps_train": ParamSpec("categorical", choices=(8, 16, 128, 256)),
    "freq_steps_update_target": ParamSpec("categorical", choices=(10, 100, 1000)),
    "n_steps_warm_up_memory": ParamSpec("categorical", choices=(1000, 5000)),
    "n_gradient_steps": ParamSpec("categorical", choices=(1, 4, 16)),
    "max_grad_norm": ParamSpec("categorical", choices=(1, 10)),
    "normalize_state": ParamSpec("categorical", choices=(True, False)),
    "epsilon_end": ParamSpec("uniform", 0.0, 0.2),
    "steps_epsilon_decay": ParamSpec("categorical", choices=(1000, 10_000, 100_000)),
    "seed": ParamSpec("int", 0, 2**30 - 1),
}


# Ours: the region around deep-fast that tuning it showed to work (bench/RESULTS.md), still wide
# enough that a student sees good and bad trials.
FOCUSED_SPACE: dict[str, ParamSpec] = {
    "learning_rate": ParamSpec("loguniform", 5e-4, 5e-3),
    "discount_factor": ParamSpec("categorical", choices=(0.95, 0.99)),
    "batch_size": ParamSpec("categorical", choices=(64, 128)),
    "freq_steps_train": ParamSpec("categorical", choices=(1, 2, 4, 8)),
    "freq_steps_update_target": ParamSpec("categorical", choices=(100, 250, 500)),
    "n_gradient_steps": ParamSpec("categorical", choices=(1, 2)),
    "steps_epsilon_decay": ParamSpec("categorical", choices=(2000, 5000, 10_000)),
    "seed": ParamSpec("int", 0, 2**30 - 1),
}
SPACES: dict[str, dict[str, ParamSpec]] = {"focused": FOCUSED_SPACE, "course": COURSE_SPACE}


def suggest(trial: optuna.Trial, space: Mapping[str, ParamSpec]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in space.items():
        if spec.kind == "loguniform":
            values[name] = trial.suggest_float(name, spec.low, spec.high, log=True)
        elif spec.kind == "uniform":
            values[name] = trial.suggest_float(name, spec.low, spec.high)
        elif spec.kind == "int":
            values[name] = trial.suggest_int(name, int(spec.low), int(spec.high))
        else:
            values[name] = trial.suggest_categorical(name, list(spec.choices))
    return values


def default_storage_url() -> str:
    """$QLAB_OPTUNA_STORAGE (a class server's PostgreSQL), else a SQLite file under the runs folder."""
    if os.environ.get("QLAB_OPTUNA_STORAGE"):
        return os.environ["QLAB_OPTUNA_STORAGE"]
    path = runs_dir() / "optuna.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """An Optuna storage, or ValueError naming the URL and why it cannot be used.

    Workers that start together on a fresh database race to create Optuna's tables; the loser
    of that race sees a duplicate-object error and simply tries again.
    """
    import sqlalchemy.exc

    url = url or default_storage_url()
    kwargs = {} if url.startswith("sqlite") else {"engine_kwargs": {"pool_pre_ping": True}}
    for attempt in range(4):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except sqlalchemy.exc.DBAPIError as exc:
            # duplicate type/table/index from a concurrent schema creation: retry; anything else is fatal
            duplicate = isinstance(exc, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)) or \
                "already exists" in str(exc)
            if not duplicate:
                raise ValueError(f"storage {url!r} cannot be used: {_one_line(exc)}") from None
            if attempt == 3:
                raise ValueError(f"storage {url!r} cannot be used: {_one_line(exc)}") from None
            time.sleep(0.5 * (attempt + 1))
        except Exception as exc:  # SQLAlchemy raises many kinds for bad URLs, drivers and servers
            raise ValueError(f"storage {url!r} cannot be used: {_one_line(exc)}") from None
    raise AssertionError("unreachable")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


@dataclass
class TuningSetup:
    """What a worker needs: the study, where it lives, what it searches and how a trial is run."""

    study_name: str
    storage_url: str | None = None
    base_preset: str = "deep-fast"
    env_id: str = "CartPole-v1"
    space: dict[str, ParamSpec] = field(default_factory=lambda: dict(COURSE_SPACE))
    episodes: int = 200
    eval_episodes: int = 1000
    target: float | None = 500.0
    fixed: dict[str, Any] = field(default_factory=dict)  # overrides kept the same in every trial
    prune: bool = True  # stop trials whose periodic evaluations trail the median of earlier ones

    def check(self) -> None:
        if not self.study_name or not self.study_name.strip():
            raise ValueError("study name must not be empty")
        if not self.space:
            raise ValueError("search space is empty: choose at least one hyperparameter to search")
        unknown = [n for n in self.space if n not in AgentConfig().to_dict()]
        if unknown:
            raise ValueError(f"search space: unknown hyperparameter {unknown[0]!r}")
        for name, spec in self.space.items():
            spec.check(name)
        if self.episodes <= 0 or self.eval_episodes <= 0:
            raise ValueError("episodes and eval_episodes must be positive")
        preset(self.base_preset, env_id=self.env_id, **self.fixed).validate()

    def trial_config(self, params: Mapping[str, Any]) -> AgentConfig:
        return preset(self.base_preset, env_id=self.env_id, **{**self.fixed, **params, "n_episodes": self.episodes})


class TrialDiverged(RuntimeError):
    pass


def load_or_create_study(setup: TuningSetup) -> optuna.Study:
    # DQN often takes off only after ~100 episodes: judging earlier prunes the late bloomers
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=100) if setup.prune
              else optuna.pruners.NopPruner())
    return optuna.create_study(study_name=setup.study_name, storage=open_storage(setup.storage_url),
                               direction="maximize", load_if_exists=True, pruner=pruner)


def run_worker(setup: TuningSetup, n_trials: int, stop_event: threading.Event | None = None,
               on_trial: Callable[[optuna.trial.FrozenTrial], None] | None = None) -> dict[str, Any]:
    """Run ``n_trials`` trials of the shared study (fewer if the target is reached or stop is set)."""
    setup.check()
    if n_trials <= 0:
        raise ValueError(f"trials must be positive, got {n_trials}")
    study = load_or_create_study(setup)
    agents_dir = runs_dir() / "tuning" / setup.study_name
    start = time.perf_counter()
    done: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, setup.space)
        try:
            config = setup.trial_config(params).validate()
        except ConfigError as exc:  # e.g. batch_size > memory_size: an impossible combination
            trial.set_user_attr("invalid", str(exc))
            raise optuna.TrialPruned(f"invalid combination: {exc}") from None
        agent = QAgent(config)
        trial_stop = threading.Event()

        def on_event(event: Any) -> None:
            if stop_event is not None and stop_event.is_set():
                trial_stop.set()
            if isinstance(event, EvalRecord):
                trial.report(event.mean, step=event.episode)
                if trial.should_prune():
                    trial.set_user_attr("pruned_at_episode", event.episode)
                    trial_stop.set()

        result = train(agent, callback=on_event, stop_event=trial_stop)
        folder = save_agent(agent, agents_dir / f"trial-{trial.number:04d}",
                            metrics=training_metrics(agent, result), history=result.episodes)
        trial.set_user_attr("agent_path", str(folder))
        trial.set_user_attr("train_seconds", round(result.seconds, 2))
        trial.set_user_attr("status", result.status)
        if "pruned_at_episode" in trial.user_attrs:
            raise optuna.TrialPruned()
        if result.status == "diverged":
            raise TrialDiverged(result.message)  # Optuna records the trial as failed and goes on
        return evaluate(agent, config.env_id, n_episodes=setup.eval_episodes, seed=0).mean

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done.append(trial.number)
        if on_trial:
            on_trial(trial)
        if stop_event is not None and stop_event.is_set():
            study.stop()
        if setup.target is not None:
            try:
                if study.best_value >= setup.target:
                    study.stop()
            except ValueError:  # no completed trial yet
                pass

    study.optimize(objective, n_trials=n_trials, callbacks=[after_trial], catch=(TrialDiverged,))
    best = None
    try:
        best = {"number": study.best_trial.number, "value": study.best_value, "params": study.best_trial.params,
                "agent_path": study.best_trial.user_attrs.get("agent_path")}
    except ValueError:
        pass
    return {"study": setup.study_name, "trials_run": len(done), "trial_numbers": done,
            "seconds": round(time.perf_counter() - start, 2), "best": best,
            "target_reached": bool(best and setup.target is not None and best["value"] >= setup.target)}


def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": t.value,
                     "seconds": t.user_attrs.get("train_seconds"), **t.params,
                     "agent": t.user_attrs.get("agent_path")})
    return rows


# --- seed sensitivity ----------------------------------------------------------------------

def _train_one_seed(config_dict: dict[str, Any], seed: int, eval_episodes: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    config = AgentConfig.from_dict({**config_dict, "seed": seed}).validate()
    agent = QAgent(config)
    result = train(agent)
    ev = evaluate(agent, config.env_id, n_episodes=eval_episodes, seed=0)
    return {"seed": seed, "mean": ev.mean, "std": ev.std, "solved_share": ev.solved_share,
            "train_seconds": round(result.seconds, 2), "episodes": len(result.episodes), "status": result.status}


def seed_sensitivity(config: AgentConfig, seeds: Sequence[int], workers: int | None = None,
                     eval_episodes: int = 1000, solved_at: float | None = None,
                     on_result: Callable[[dict[str, Any]], None] | None = None,
                     stop_event: threading.Event | None = None) -> dict[str, Any]:
    """Train one config on many seeds in parallel processes (at most the cores) and summarise.

    ``stop_event`` cancels the seeds not yet started; those already training finish first.
    """
    config.validate()
    if not seeds:
        raise ValueError("seeds must not be empty")
    workers = max(1, min(workers or os.cpu_count() or 1, os.cpu_count() or 1, len(seeds)))
    solved_at = solved_at if solved_at is not None else (475.0 if config.env_id == "CartPole-v1" else None)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    import multiprocessing

    # spawn: a fresh interpreter per worker, safe beside threads (the app) and torch
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_train_one_seed, config.to_dict(), s, eval_episodes) for s in seeds]
        for future in futures:
            if stop_event is not None and stop_event.is_set():
                pool.shutdown(wait=True, cancel_futures=True)
                break
            row = future.result()
            rows.append(row)
            if on_result:
                on_result(row)
    if not rows:
        raise RuntimeError("stopped before any seed finished")
    means = [r["mean"] for r in rows]
    solved = [r for r in rows if solved_at is not None and r["mean"] >= solved_at]
    return {"seeds": [r["seed"] for r in rows], "means": means, "rows": rows,
            "solved_share": len(solved) / len(rows) if solved_at is not None else None,
            "mean_of_means": statistics.fmean(means), "std_of_means": statistics.pstdev(means),
            "min": min(means), "max": max(means), "workers": workers,
            "seconds": round(time.perf_counter() - start, 2)}


def parse_seed_list(text: str) -> list[int]:
    """"0-9", "0,3,5" or "0-4,10" (ValueError with the text otherwise)."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            seeds.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise ValueError(f"seeds must look like 0-9 or 0,3,5, got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative and not empty, got {text!r}")
    return seeds


def space_from_dict(data: Mapping[str, Mapping[str, Any]]) -> dict[str, ParamSpec]:
    return {name: ParamSpec(kind=spec["kind"], low=spec.get("low"), high=spec.get("high"),
                            choices=tuple(spec.get("choices", ()))) for name, spec in data.items()}



# --- background runs for the app -----------------------------------------------------------

class TuningJob(BackgroundJob):
    """One worker of a study, in the background; the page reads the trials from the storage."""

    def __init__(self, registry: JobRegistry, owner: str, setup: TuningSetup, n_trials: int):
        setup.check()
        super().__init__(registry, owner, name=f"study {setup.study_name}")
        self.setup, self.n_trials = setup, n_trials
        self._finished_trials: list[int] = []
        self._summary: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"state": self._state, "message": self._message, "done": self._state in FINISHED_STATES,
                    "queue_position": self.registry.queue_position(self.job_id) if self._state == "queued" else None,
                    "finished_trials": list(self._finished_trials), "summary": self._summary,
                    "updated_at": self._updated_at}

    def work(self) -> tuple[str, str]:
        def on_trial(trial: optuna.trial.FrozenTrial) -> None:
            with self._lock:
                self._finished_trials.append(trial.number)
                self._message = f"{len(self._finished_trials)} of {self.n_trials} trials done"
                self._updated_at = time.time()

        summary = run_worker(self.setup, self.n_trials, stop_event=self.stop_event, on_trial=on_trial)
        self._set(summary=summary)
        if self.stop_event.is_set():
            return "stopped", f"stopped after {summary['trials_run']} trials"
        best = summary["best"]
        reached = " (target reached)" if summary["target_reached"] else ""
        return "finished", (f"{summary['trials_run']} trials; best {best['value']:.2f} (trial {best['number']}){reached}"
                            if best else f"{summary['trials_run']} trials, none completed")


class SeedsJob(BackgroundJob):
    """One config on many seeds, in parallel processes, in the background."""

    def __init__(self, registry: JobRegistry, owner: str, config: AgentConfig, seeds: Sequence[int],
                 eval_episodes: int = 1000, workers: int | None = None):
        config.validate()
        super().__init__(registry, owner, name="seed sensitivity")
        self.config, self.seeds, self.eval_episodes, self.workers = config, list(seeds), eval_episodes, workers
        self._rows: list[dict[str, Any]] = []
        self._summary: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"state": self._state, "message": self._message, "done": self._state in FINISHED_STATES,
                    "queue_position": self.registry.queue_position(self.job_id) if self._state == "queued" else None,
                    "rows": list(self._rows), "summary": self._summary, "n_seeds": len(self.seeds)}

    def work(self) -> tuple[str, str]:
        def on_result(row: dict[str, Any]) -> None:
            with self._lock:
                self._rows.append(row)
                self._message = f"{len(self._rows)} of {len(self.seeds)} seeds done"
                self._updated_at = time.time()

        summary = seed_sensitivity(self.config, self.seeds, workers=self.workers, eval_episodes=self.eval_episodes,
                                   on_result=on_result, stop_event=self.stop_event)
        self._set(summary=summary)
        if self.stop_event.is_set():
            return "stopped", f"stopped after {len(summary['rows'])} of {len(self.seeds)} seeds"
        share = summary["solved_share"]
        return "finished", (f"{len(self.seeds)} seeds: mean of means {summary['mean_of_means']:.1f}"
                            + (f", solved on {100 * share:.0f}%" if share is not None else ""))
