"""Every hyperparameter of a Q-learning run in one typed dataclass, its validation, and every limit
the app, the CLI and the uploads check (the presets are in rl_core/presets.py).

The names of the course's hyperparameters are kept as the course wrote them, so that a student
can read a value off the course and type it here. The fields after ``seed`` are ours: options
the course did not have (Huber loss, Double DQN) and the shape of the training run itself.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from rl_core.envinfo import DEFAULT_ENV, SUPPORTED_ENVS

LOSSES: tuple[str, ...] = ("mse", "huber")

# --- background jobs (rl_core/compute/registry.py): how many may wait, how many finished ones are remembered ---
# One rule for every page and the CLI, enforced by the registry: a user's jobs waiting or running at
# once (a class mode quota, ClassQuotas.active_jobs_per_user, lowers it per user)
MAX_ACTIVE_JOBS_PER_OWNER = 4
MAX_QUEUED_JOBS_TOTAL = 64  # waiting jobs on the whole server
MAX_FINISHED_JOBS_KEPT = 20  # per user; older finished jobs are forgotten (their agents stay on disk)


class ConfigError(ValueError):
    """A config with one or more bad fields; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


def _field(default: Any, label: str, help_text: str, factory: Any = None) -> Any:
    """A config field with its plain label and one-line help: the one place that text is written
    (the Train page's widgets, the CLI's help and the README's table read it with field_text)."""
    metadata = {"label": label, "help": help_text}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class AgentConfig:
    """A Q agent and how it is trained. ``nn_hidden_layers=[]`` is the linear agent."""

    env_id: str = _field(DEFAULT_ENV, "environment", "The Gymnasium task the agent plays")
    # --- the course's hyperparameters ---
    learning_rate: float = _field(
        1e-3, "learning rate", "Adam's step size: how far one gradient step moves the weights"
    )
    discount_factor: float = _field(
        0.99, "discount factor (gamma)", "How much future reward counts: 0.99 looks about 100 steps ahead"
    )
    batch_size: int = _field(32, "batch size", "Transitions drawn from the replay memory for one gradient step")
    memory_size: int = _field(
        10_000, "replay memory size", "Past transitions kept to learn from; the oldest are dropped first"
    )
    freq_steps_train: int = _field(
        8, "env steps between training calls", "Play this many steps, then train for n_gradient_steps batches"
    )
    freq_steps_update_target: int = _field(
        10, "env steps between target copies", "How often the target network is copied from the online network"
    )
    n_steps_warm_up_memory: int = _field(
        1000, "random steps before training", "Steps of play that fill the memory before the first gradient step"
    )
    n_gradient_steps: int = _field(1, "gradient steps per training call", "Batches learned from at each training call")
    nn_hidden_layers: list[int] = _field(
        None,
        "hidden layers",
        "Widths of the network's hidden layers; none at all is the linear agent",
        factory=lambda: [256, 256],
    )
    max_grad_norm: float = _field(
        10.0, "gradient clipping (max norm)", "Longer gradients are scaled down to this: tames rare huge updates"
    )
    normalize_state: bool = _field(
        False, "normalize states", "Scale each state dimension by its mean and std measured in random play"
    )
    epsilon_start: float = _field(0.9, "epsilon at start", "Chance of a random action when training begins")
    epsilon_end: float = _field(0.05, "epsilon at end", "Chance of a random action once the decay is over")
    steps_epsilon_decay: int = _field(
        10_000, "steps of epsilon decay", "Env steps to go from epsilon at start to epsilon at end"
    )
    seed: int = _field(0, "seed", "Seeds every random source: same seed, same machine, same run")
    # --- options beyond the course ---
    loss: str = _field("mse", "loss", "mse squares the TD error; huber grows only linearly for large errors")
    double_dqn: bool = _field(
        False, "Double DQN", "The online net picks the next action, the target net scores it: less over-estimation"
    )
    # --- the training run ---
    n_episodes: int = _field(200, "episodes", "Training episodes (a run may stop earlier once it reaches its target)")
    eval_every_episodes: int = _field(  # 0 turns periodic evaluation off
        10, "evaluate every N episodes (0 = never)", "A greedy evaluation every N episodes: the chart's marks"
    )
    eval_episodes: int = _field(20, "evaluation episodes", "Episodes played in each periodic greedy evaluation")
    keep_best: bool = _field(  # end with the weights of the best periodic evaluation
        False, "keep the best evaluated weights", "End with the weights of the best periodic evaluation, not the last"
    )
    stop_at_reward: float | None = _field(  # stop once a periodic evaluation's mean reaches this
        None, "target reward", "Stop once a periodic evaluation's mean reward reaches this"
    )
    normalizer_steps: int = _field(  # random-policy steps used to estimate the state normaliser
        10_000, "random steps for the normaliser", "Random-play steps that measure each state dimension's mean and std"
    )

    @property
    def agent_kind(self) -> str:
        return "deep" if self.nn_hidden_layers else "linear"

    def errors(self) -> dict[str, str]:
        """One message per bad field, naming the field and its allowed range."""
        return config_errors(self)

    def validate(self) -> AgentConfig:
        """Return self, or raise ConfigError naming every bad field."""
        errs = self.errors()
        if errs:
            raise ConfigError(errs)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["nn_hidden_layers"] = list(self.nn_hidden_layers)
        return d

    def replace(self, **changes: Any) -> AgentConfig:
        return from_dict({**self.to_dict(), **changes}, config_class=type(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, require_all: bool = False) -> AgentConfig:
        return from_dict(data, require_all=require_all, config_class=cls)


FIELD_TYPES: dict[str, type] = {
    "env_id": str,
    "learning_rate": float,
    "discount_factor": float,
    "batch_size": int,
    "memory_size": int,
    "freq_steps_train": int,
    "freq_steps_update_target": int,
    "n_steps_warm_up_memory": int,
    "n_gradient_steps": int,
    "nn_hidden_layers": list,
    "max_grad_norm": float,
    "normalize_state": bool,
    "epsilon_start": float,
    "epsilon_end": float,
    "steps_epsilon_decay": int,
    "seed": int,
    "loss": str,
    "double_dqn": bool,
    "n_episodes": int,
    "eval_every_episodes": int,
    "eval_episodes": int,
    "keep_best": bool,
    "stop_at_reward": float,  # or None
    "normalizer_steps": int,
}
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AgentConfig))
_FIELD_TEXT: dict[str, tuple[str, str]] = {
    f.name: (f.metadata["label"], f.metadata["help"]) for f in fields(AgentConfig)
}


def field_label(name: str) -> str:
    """A hyperparameter's plain label, e.g. "discount factor (gamma)"."""
    return _FIELD_TEXT[name][0]


def field_help(name: str) -> str:
    """A hyperparameter's one-line help, naming its field as the course and the CLI write it."""
    return f"{_FIELD_TEXT[name][1]} (`{name}`)"


assert set(FIELD_TYPES) == set(FIELD_NAMES)

COURSE_FIELDS: tuple[str, ...] = (
    "learning_rate",
    "discount_factor",
    "batch_size",
    "memory_size",
    "freq_steps_train",
    "freq_steps_update_target",
    "n_steps_warm_up_memory",
    "n_gradient_steps",
    "nn_hidden_layers",
    "max_grad_norm",
    "normalize_state",
    "epsilon_start",
    "epsilon_end",
    "steps_epsilon_decay",
    "seed",
)


# --- the agent folder's format (hparams.json's format_version) -------------------------------
# 1: the first format, with no format_version in hparams.json (the pretrained agents as shipped).
# 2: hparams.json names its format_version.
# A field added to AgentConfig later says in its metadata which version added it,
# ``field(default=..., metadata={"since": 3})``, and FORMAT_VERSION rises to 3: a folder written
# before that loads with the field's default; a folder of version 3 or later must have it.
FORMAT_VERSION = 2


def field_since(f: dataclasses.Field) -> int:
    """The format version that added a config field (1 for the fields of the first format)."""
    return int(f.metadata.get("since", 1))


def format_version_of(config_class: type[AgentConfig]) -> int:
    """The format version a config class writes: FORMAT_VERSION, or a newer field's."""
    return max([FORMAT_VERSION, *(field_since(f) for f in fields(config_class))])


def _field_type(config_class: type[AgentConfig], name: str) -> type:
    """The plain type (int, float, bool, str, list) of a config field, read from its annotation."""
    if name in FIELD_TYPES and config_class is AgentConfig:
        return FIELD_TYPES[name]
    hint = typing.get_type_hints(config_class)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # float | None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint) or hint
    if origin not in (int, float, bool, str, list):
        raise TypeError(f"config field {name} has a type the loader cannot read: {hint}")
    return origin


def parse_widths(text: str, name: str = "nn_hidden_layers", allow_linear: bool = True) -> list[int]:
    """Hidden widths typed as text ("256,256", "[64, 64]"; "", "linear" or "none" for none) as a
    list, or ValueError in one line naming ``name`` and the bounds. The one parser of widths: the
    CLI, the links, the Imitation page and hparams.json all read widths through it."""
    cleaned = text.strip().strip("[]").strip()
    if cleaned.lower() in ("", "linear", "none"):
        if allow_linear:
            return []
        raise ValueError(f"{name}: give 1 to {MAX_HIDDEN_LAYERS} widths such as 256,256, got {text[:40]!r}")
    try:
        widths = [int(part) for part in cleaned.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{name} must be integer widths such as 256,256, got {text[:40]!r}") from None
    if len(widths) > MAX_HIDDEN_LAYERS or any(not 1 <= w <= MAX_HIDDEN_WIDTH for w in widths):
        raise ValueError(
            f"{name}: at most {MAX_HIDDEN_LAYERS} widths, each in 1..{MAX_HIDDEN_WIDTH}, got {text[:40]!r}"
        )
    return widths


def coerce_value(name: str, value: Any, kind: type | None = None) -> Any:
    """Convert a JSON/CLI value to the field's type, or raise ValueError with a message."""
    kind = kind or FIELD_TYPES[name]
    if name == "stop_at_reward" and value is None:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"{name} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"{name} must be a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"{name} must be a string, got {value!r}")
    # nn_hidden_layers: a list of ints, or a comma-separated string such as "256,256" ("" is linear)
    if isinstance(value, str):
        value = parse_widths(value, name)
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ValueError(f"{name} must be a list of integer widths such as [256, 256], got {value!r}")


def from_dict(
    data: dict[str, Any],
    *,
    require_all: bool = False,
    format_version: int | None = None,
    config_class: type[AgentConfig] = AgentConfig,
) -> AgentConfig:
    """Build a config from plain data (JSON, CLI, URL). Unknown fields and wrong types are errors.

    With ``require_all`` every field of ``format_version`` (default: the class's own) must be
    present, as in an agent folder's hparams.json; fields added after that version take their
    defaults. Values are only type-checked here; call ``validate()`` for the allowed ranges.
    """
    if not isinstance(data, dict):
        raise ConfigError({"config": f"a config must be a JSON object, got {type(data).__name__}"})
    version = format_version_of(config_class) if format_version is None else format_version
    known = {f.name: f for f in fields(config_class)}
    errors: dict[str, str] = {}
    for key in data:
        if key not in known and key != "agent_kind":
            errors[key] = f"unknown hyperparameter {key!r}"
    if require_all:
        for name, f in known.items():
            if name not in data and field_since(f) <= version:
                errors[name] = f"missing hyperparameter {name!r}"
    values: dict[str, Any] = {}
    for name in known:
        if name in data:
            try:
                values[name] = coerce_value(name, data[name], _field_type(config_class, name))
            except ValueError as exc:
                errors[name] = str(exc)
    if errors:
        raise ConfigError(errors)
    return config_class(**values)


@dataclass(frozen=True)
class Bound:
    """A numeric field's allowed range, as data that widgets, links, the CLI and uploads all read.

    ``low_open`` excludes ``low`` itself (a widget may still start at it and show the error);
    ``step`` and ``log`` are how a widget should move through the range.
    """

    low: float
    high: float
    step: float | None = None
    log: bool = False
    low_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return math.isfinite(value) and above and value <= self.high

    def describe(self) -> str:
        def text(v: float) -> str:
            if float(v).is_integer() and abs(v) >= 1:
                return f"{int(v):,}" if abs(v) >= 10_000 else str(int(v))
            return f"{v:g}"

        return f"{'(' if self.low_open else '['}{text(self.low)}, {text(self.high)}]"


# Every limit is set here once. The upper bounds keep each accepted config trainable on one CPU
# core, small enough to save and load back (MAX_PARAMETERS below), and inside the app's widgets.
MAX_HIDDEN_LAYERS = 4
MAX_HIDDEN_WIDTH = 1024
BOUNDS: dict[str, Bound] = {
    "learning_rate": Bound(1e-6, 1.0, log=True),
    "discount_factor": Bound(0.0, 1.0, step=0.001, low_open=True),
    "batch_size": Bound(1, 512),
    "memory_size": Bound(1, 1_000_000),
    "freq_steps_train": Bound(1, 1_000_000),
    "freq_steps_update_target": Bound(1, 1_000_000),
    "n_steps_warm_up_memory": Bound(0, 1_000_000),
    "n_gradient_steps": Bound(1, 32),
    "max_grad_norm": Bound(0.0, 1e9, low_open=True),  # a clipping threshold: no cost at any size
    "epsilon_start": Bound(0.0, 1.0, step=0.01),
    "epsilon_end": Bound(0.0, 1.0, step=0.01),
    "steps_epsilon_decay": Bound(1, 10_000_000),
    "seed": Bound(0, 2**32 - 1),
    "n_episodes": Bound(1, 100_000),
    "eval_every_episodes": Bound(0, 10_000),
    "eval_episodes": Bound(1, 1000),
    "stop_at_reward": Bound(-1000.0, 1000.0, step=10.0),
    "normalizer_steps": Bound(1, 1_000_000),
}
WIDTH_BOUND = Bound(1, MAX_HIDDEN_WIDTH)  # each entry of nn_hidden_layers
# The imitation page's and CLI's sizes: rows of expert data, epochs, and (WIDTH_BOUND) widths.
IMITATION_BOUNDS: dict[str, Bound] = {
    "rows": Bound(100, 50_000, step=500),
    "epochs": Bound(1, 300),
    "eval_episodes": Bound(1, 1000),
}
MAX_SEEDS = 50  # seeds trained at once on the Tune page and by `seeds`
# The app's other fields. Evaluations on Evaluate and Compare run in the web process: 1000 episodes
# is what the course uses, and ~1-4 s there. Episode i of an evaluation is reset with seed + i.
APP_BOUNDS: dict[str, Bound] = {
    "eval_episodes": Bound(10, 1000, step=10),
    "episode_seed": Bound(0, 10**9),
    "random_steps": Bound(1_000, 100_000, step=1_000),  # the Environment page's random walk
    "trials": Bound(1, 200),  # per study run on the Tune page (class mode: CLASS_QUOTAS.trials_per_study)
    "trial_episodes": Bound(10, BOUNDS["n_episodes"].high),
    "trial_eval_episodes": Bound(10, BOUNDS["eval_episodes"].high),
}
# The largest observation (Acrobot: 6) and action set (3) among SUPPORTED_ENVS: with them the
# biggest allowed network's parameter count bounds what a saved model.pt may hold.
_MAX_OBS, _MAX_ACTIONS = 6, 3


def parameter_count(obs_dim: int, n_actions: int, hidden_layers: list[int]) -> int:
    widths = [obs_dim, *hidden_layers, n_actions]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


MAX_PARAMETERS = parameter_count(_MAX_OBS, _MAX_ACTIONS, [MAX_HIDDEN_WIDTH] * MAX_HIDDEN_LAYERS)

# --- the command line's and the renderer's numbers (issue 22) ----------------------------------
# Every numeric flag of `python -m rl_core` reads its range from BOUNDS, IMITATION_BOUNDS or here.
RENDER_BOUNDS: dict[str, Bound] = {
    # x real time. A GIF frame lasts at most 655 s (a 16-bit count of 10 ms): with these ranges every
    # frame's duration, 1000 * stride / (fps * speed) ms, stays far inside it.
    "speed": Bound(0.05, 10.0),
    "stride": Bound(1, 100),  # keep every Nth frame
    "width": Bound(16, 2000),  # GIF width in pixels
}
CLI_BOUNDS: dict[str, Bound] = {
    "eval_episodes": Bound(1, 100_000),  # evaluate, baseline, tune, seeds: played 1000 at a time
    "epsilon": Bound(0.0, 1.0),
    "threads": Bound(1, 256),  # torch threads of one process
    "workers": Bound(1, 1024),  # Ray workers at once, one CPU each (a cluster may have many)
    "trials": Bound(1, 10_000),
    "target": BOUNDS["stop_at_reward"],  # tune's target reward
}

# --- what a saved agent's files may hold (storage.py checks them at load and upload) ------------
# A normaliser outside these makes every normalised state inf or NaN in float32 (or divides by ~0).
# Checked on the float32 values the agent uses; fit_random floors std at 1e-6.
NORMALIZER_BOUNDS: dict[str, Bound] = {
    "mean": Bound(-1e6, 1e6),
    "std": Bound(1e-8, 1e6),
}
# The longest episode among SUPPORTED_ENVS (CartPole and Acrobot: 500 steps) and any episode's reward
# (CartPole at most 500, Acrobot at least -500, MountainCar at least -200).
MAX_EPISODE_STEPS = 500
_REWARD = Bound(-1000.0, 1000.0)
_MAX_ENV_STEPS = BOUNDS["n_episodes"].high * MAX_EPISODE_STEPS
# metrics.json's numbers, at the top level and (EVALUATION_METRIC_BOUNDS) in each evaluation record.
METRIC_BOUNDS: dict[str, Bound] = {
    "seed": BOUNDS["seed"],
    "episodes": Bound(0, BOUNDS["n_episodes"].high),
    "env_steps": Bound(0, _MAX_ENV_STEPS),
    "gradient_steps": Bound(0, _MAX_ENV_STEPS * BOUNDS["n_gradient_steps"].high),
    "seconds": Bound(0, 1e8),  # three years of training
    "n_parameters": Bound(0, MAX_PARAMETERS),
}
EVALUATION_METRIC_BOUNDS: dict[str, Bound] = {
    "episode": Bound(0, BOUNDS["n_episodes"].high),  # the training episode a periodic evaluation followed
    "episodes": Bound(1, CLI_BOUNDS["eval_episodes"].high),  # how many the final evaluation played
    "env_steps": METRIC_BOUNDS["env_steps"],
    "mean": _REWARD,
    "std": Bound(0.0, _REWARD.high - _REWARD.low),
    "min": _REWARD,
    "max": _REWARD,
    "solved_share": Bound(0.0, 1.0),
    "seconds": METRIC_BOUNDS["seconds"],
}


def short_number(value: Any, bound: Bound | None = None) -> str:
    """A number as a widget shows it (0.198, not 0.19818684841911674); more digits only when the
    short form would fall on the other side of ``bound`` than the value itself."""
    if not isinstance(value, float) or not math.isfinite(value) or (value.is_integer() and abs(value) < 1e6):
        return str(value)  # 7, 0.0, 500.0, nan: already short
    for digits in (3, 6):
        text = f"{value:.{digits}g}"
        if bound is None or bound.contains(float(text)) == bound.contains(value):
            return text
    return repr(value)


def config_errors(c: AgentConfig) -> dict[str, str]:
    """Check every range (BOUNDS) and cross-field rule; the message names the field and what it may be."""
    e: dict[str, str] = {}
    for name, bound in BOUNDS.items():
        value = getattr(c, name)
        if value is None and name == "stop_at_reward":
            continue
        if not bound.contains(value):
            kind = "an integer" if FIELD_TYPES[name] is int else "a number"
            e[name] = f"{name} must be {kind} in {bound.describe()}, got {short_number(value, bound)}"
    if c.env_id not in SUPPORTED_ENVS:
        e["env_id"] = f"env_id must be one of {', '.join(SUPPORTED_ENVS)}, got {c.env_id!r}"
    if "batch_size" not in e and "memory_size" not in e and c.batch_size > c.memory_size:
        e["batch_size"] = f"batch_size must be at most memory_size ({c.memory_size}), got {c.batch_size}"
    if "n_steps_warm_up_memory" not in e and "batch_size" not in e and c.n_steps_warm_up_memory < c.batch_size:
        e["n_steps_warm_up_memory"] = (
            f"n_steps_warm_up_memory must be >= batch_size ({c.batch_size}), got {c.n_steps_warm_up_memory}"
        )
    if len(c.nn_hidden_layers) > MAX_HIDDEN_LAYERS:
        e["nn_hidden_layers"] = (
            f"nn_hidden_layers may have at most {MAX_HIDDEN_LAYERS} layers, got {len(c.nn_hidden_layers)}"
        )
    elif not all(WIDTH_BOUND.contains(w) for w in c.nn_hidden_layers):
        e["nn_hidden_layers"] = (
            f"nn_hidden_layers widths must be integers in 1..{MAX_HIDDEN_WIDTH}, got {list(c.nn_hidden_layers)}"
        )
    if "epsilon_start" not in e and "epsilon_end" not in e and c.epsilon_end > c.epsilon_start:
        e["epsilon_end"] = (
            f"epsilon_end must be <= epsilon_start ({short_number(c.epsilon_start)}), got {short_number(c.epsilon_end)}"
        )
    if c.loss not in LOSSES:
        e["loss"] = f"loss must be one of {', '.join(LOSSES)}, got {c.loss!r}"
    return e


# --- class mode quotas (issue 11) ------------------------------------------------------------
# Each applies per logged-in user, in class mode only (a local app has one user and no quotas).
# The pages, the upload check and the job queue all read them from here.


@dataclass(frozen=True)
class ClassQuotas:
    runs_per_user: int = 30  # agent folders a user keeps (trained, uploaded and reserved by queued jobs)
    uploads_per_user: int = 10  # uploaded agents a user keeps
    upload_bytes: int = 8 * 1024 * 1024  # size of one uploaded zip
    active_jobs_per_user: int = 2  # jobs of one user waiting or running at once (the registry enforces it)
    trials_per_study: int = 40  # trials one study run may ask for
    seeds_per_sweep: int = 10  # seeds in one "how much does the seed matter" sweep


CLASS_QUOTAS = ClassQuotas()


# --- live charts (issue 17) ------------------------------------------------------------------
# A live trace draws its latest LIVE_EXACT_POINTS points as they are and the rest from at most LIVE_OLDER_POINTS
# (the min and max of equal buckets): a tick costs the same at episode 50 and 5000, and no spike is lost.
LIVE_EXACT_POINTS = 200
LIVE_OLDER_POINTS = 800
# How often a live view (Train, Imitation) draws its job again while it runs, and while it queues. Each tick of
# each viewer is a script-thread run the event loop waits for: 60 views ticking each second stalled it (RESULTS).
LIVE_TICK_SECONDS = 1.0
QUEUED_TICK_SECONDS = 3.0
STUDY_TICK_SECONDS = 2.0  # the Tune page's running study (each tick reads the study's database)
BOARD_TICK_SECONDS = 2.0  # the Class board's "Training now"
ENGINE_POLL_SECONDS = 1.0  # a page saying "Starting the compute engine" looks again this often
WEB_MALLOC_ARENAS = 2  # malloc arenas the web process's threads share (rl_core/present/memory.py says why)
WEB_MMAP_THRESHOLD = 256 * 1024  # bytes: the web process mmaps every block this large (set by its launchers)
