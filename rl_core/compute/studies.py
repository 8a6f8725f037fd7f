"""Optuna studies: the search spaces, where studies are kept (a SQLite file under the runs folder by
default, or a database URL such as PostgreSQL that several workers on several machines share), and
reading them back (the list of studies, a study's trials table)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from rl_core.artifacts.folders import clean_run_name, runs_dir
from rl_core.config import BOUNDS, MAX_SEEDS, AgentConfig
from rl_core.envinfo import DEFAULT_ENV
from rl_core.presets import preset

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
            assert spec.low is not None and spec.high is not None  # ParamSpec.check requires both
            values[name] = trial.suggest_float(name, spec.low, spec.high, log=True)
        elif spec.kind == "uniform":
            assert spec.low is not None and spec.high is not None
            values[name] = trial.suggest_float(name, spec.low, spec.high)
        elif spec.kind == "int":
            assert spec.low is not None and spec.high is not None
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


def shown_url(url: str) -> str:
    """A storage URL fit to show a user: its password, if any, masked."""
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: show its scheme only, never what follows
        return url.split(":", 1)[0] + ":..."


def storage_description(url: str | None = None) -> str:
    """Where studies are kept, in words: "a SQLite file under the runs folder" or the database's
    masked URL."""
    url = url or default_storage_url()
    if url.startswith("sqlite"):
        return "a SQLite file under the runs folder"
    return f"the database `{shown_url(url)}`"


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """An Optuna storage, or ValueError naming the URL and why it cannot be used.

    Workers that start together on a fresh database race to create Optuna's tables; the loser
    of that race sees a duplicate-object error and simply tries again.
    """
    import sqlalchemy.exc

    url = url or default_storage_url()
    kwargs: dict[str, Any] = {} if url.startswith("sqlite") else {"engine_kwargs": {"pool_pre_ping": True}}
    for attempt in range(4):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except sqlalchemy.exc.DBAPIError as exc:
            # duplicate type/table/index from a concurrent schema creation: retry; anything else is fatal
            duplicate = isinstance(
                exc, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)
            ) or "already exists" in str(exc)
            if not duplicate or attempt == 3:
                raise _unusable(url, exc) from None
            time.sleep(0.5 * (attempt + 1))
        except Exception as exc:  # SQLAlchemy raises many kinds for bad URLs, drivers and servers
            raise _unusable(url, exc) from None
    raise AssertionError("unreachable")


def _unusable(url: str, exc: BaseException) -> ValueError:
    return ValueError(f"storage {shown_url(url)!r} cannot be used: {_one_line(exc)}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


@dataclass
class TuningSetup:
    """What a worker needs: the study, where it lives, what it searches and how a trial is run."""

    study_name: str
    storage_url: str | None = None
    base_preset: str = "deep-fast"
    env_id: str = DEFAULT_ENV
    space: dict[str, ParamSpec] = field(default_factory=lambda: dict(COURSE_SPACE))
    episodes: int = 200
    eval_episodes: int = 1000
    target: float | None = 500.0
    fixed: dict[str, Any] = field(default_factory=dict)  # overrides kept the same in every trial
    prune: bool = True  # stop trials whose periodic evaluations trail the median of earlier ones

    def check(self) -> None:
        clean_run_name(self.study_name)  # its trial agents go in a folder of this name
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
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=100)
        if setup.prune
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        study_name=setup.study_name,
        storage=open_storage(setup.storage_url),
        direction="maximize",
        load_if_exists=True,
        pruner=pruner,
    )


@dataclass(frozen=True)
class StudyInfo:
    """One study in a storage, as a list of studies shows it."""

    name: str  # its stored name (in class mode, prefixed with its owner's key)
    owner: str  # the id of the user whose job ran it; "" for a study made elsewhere (the CLI)
    base_preset: str | None  # what its trials started from, when the app or CLI recorded it
    n_trials: int
    best_value: float | None


def list_studies(storage_url: str | None = None) -> list[StudyInfo]:
    """Every study in the storage, newest first (ValueError naming the storage if it cannot be read)."""
    storage = open_storage(storage_url)
    try:
        summaries = optuna.get_all_study_summaries(storage, include_best_trial=True)
    except Exception as exc:  # a database that went away after the connection test
        raise ValueError(
            f"the studies in {storage_description(storage_url)} cannot be read: {_one_line(exc)}"
        ) from None
    summaries.sort(key=lambda s: s.datetime_start.timestamp() if s.datetime_start else 0.0, reverse=True)
    return [
        StudyInfo(
            name=s.study_name,
            owner=str(s.user_attrs.get("owner", "")),
            base_preset=s.user_attrs.get("base_preset"),
            n_trials=s.n_trials,
            best_value=s.best_trial.value if s.best_trial is not None else None,
        )
        for s in summaries
    ]


def record_study_setup(study: optuna.Study, setup: TuningSetup, owner: str) -> None:
    """Note on the study who ran it and what its trials start from, for whoever opens it later."""
    study.set_user_attr("owner", owner)
    study.set_user_attr("base_preset", setup.base_preset)
    study.set_user_attr("env_id", setup.env_id)


def trials_table(study: optuna.Study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                "value": t.value,
                "seconds": t.user_attrs.get("train_seconds"),
                **t.params,
                "agent": t.user_attrs.get("agent_path"),
            }
        )
    return rows


def parse_seed_list(text: str) -> list[int]:
    """ "0-9", "0,3,5" or "0-4,10" (ValueError with the text otherwise)."""
    seeds: list[int] = []
    shown = repr(text[:40])
    try:
        for part in text.split(","):
            lo, _, hi = part.strip().partition("-")
            first, last = int(lo), int(hi) if hi else int(lo)
            if len(seeds) + max(0, last - first + 1) > MAX_SEEDS:  # counted before any list is built
                raise ValueError(f"at most {MAX_SEEDS} seeds at once, got more in {shown}")
            seeds.extend(range(first, last + 1))
    except ValueError as exc:
        if str(exc).startswith("at most"):
            raise
        raise ValueError(f"seeds must look like 0-9 or 0,3,5, got {shown}") from None
    seed_range = BOUNDS["seed"]
    if not seeds or any(not seed_range.contains(s) for s in seeds):
        raise ValueError(f"seeds must be in {seed_range.low:,.0f}..{seed_range.high:,.0f} and not empty, got {shown}")
    return seeds


def space_from_dict(data: Mapping[str, Mapping[str, Any]]) -> dict[str, ParamSpec]:
    return {
        name: ParamSpec(
            kind=spec["kind"], low=spec.get("low"), high=spec.get("high"), choices=tuple(spec.get("choices", ()))
        )
        for name, spec in data.items()
    }
