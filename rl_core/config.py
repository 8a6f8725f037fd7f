"""Every hyperparameter of a Q-learning run in one typed dataclass, its validation, and the presets.

The names of the course's hyperparameters are kept as the course wrote them, so that a student
can read a value off the course and type it here. The fields after ``seed`` are ours: options
the course did not have (Huber loss, Double DQN) and the shape of the training run itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

SUPPORTED_ENVS: tuple[str, ...] = ("CartPole-v1", "MountainCar-v0", "Acrobot-v1")
LOSSES: tuple[str, ...] = ("mse", "huber")


class ConfigError(ValueError):
    """A config with one or more bad fields; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclass
class AgentConfig:
    """A Q agent and how it is trained. ``nn_hidden_layers=[]`` is the linear agent."""

    env_id: str = "CartPole-v1"
    # --- the course's hyperparameters ---
    learning_rate: float = 1e-3
    discount_factor: float = 0.99
    batch_size: int = 32
    memory_size: int = 10_000
    freq_steps_train: int = 8
    freq_steps_update_target: int = 10
    n_steps_warm_up_memory: int = 1000
    n_gradient_steps: int = 1
    nn_hidden_layers: list[int] = field(default_factory=lambda: [256, 256])
    max_grad_norm: float = 10.0
    normalize_state: bool = False
    epsilon_start: float = 0.9
    epsilon_end: float = 0.05
    steps_epsilon_decay: int = 10_000
    seed: int = 0
    # --- options beyond the course ---
    loss: str = "mse"
    double_dqn: bool = False
    # --- the training run ---
    n_episodes: int = 200
    eval_every_episodes: int = 10  # 0 turns periodic evaluation off
    eval_episodes: int = 20
    keep_best: bool = False  # end with the weights of the best periodic evaluation
    stop_at_reward: float | None = None  # stop once a periodic evaluation's mean reaches this
    normalizer_steps: int = 10_000  # random-policy steps used to estimate the state normaliser

    @property
    def agent_kind(self) -> str:
        return "deep" if self.nn_hidden_layers else "linear"

    def errors(self) -> dict[str, str]:
        """One message per bad field, naming the field and its allowed range."""
        return config_errors(self)

    def validate(self) -> "AgentConfig":
        """Return self, or raise ConfigError naming every bad field."""
        errs = self.errors()
        if errs:
            raise ConfigError(errs)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["nn_hidden_layers"] = list(self.nn_hidden_layers)
        return d

    def replace(self, **changes: Any) -> "AgentConfig":
        return from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, require_all: bool = False) -> "AgentConfig":
        return from_dict(data, require_all=require_all)


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
assert set(FIELD_TYPES) == set(FIELD_NAMES)

COURSE_FIELDS: tuple[str, ...] = (
    "learning_rate", "discount_factor", "batch_size", "memory_size", "freq_steps_train",
    "freq_steps_update_target", "n_steps_warm_up_memory", "n_gradient_steps", "nn_hidden_layers",
    "max_grad_norm", "normalize_state", "epsilon_start", "epsilon_end", "steps_epsilon_decay", "seed",
)


def _coerce(name: str, value: Any) -> Any:
    """Convert a JSON/CLI value to the field's type, or raise ValueError with a message."""
    kind = FIELD_TYPES[name]
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
        text = value.strip().strip("[]").strip()
        try:
            value = [int(part) for part in text.split(",") if part.strip()] if text else []
        except ValueError:
            raise ValueError(f"{name} must be a list of integer widths such as 256,256, got {value!r}") from None
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ValueError(f"{name} must be a list of integer widths such as [256, 256], got {value!r}")


def from_dict(data: dict[str, Any], *, require_all: bool = False) -> AgentConfig:
    """Build a config from plain data (JSON, CLI, URL). Unknown fields and wrong types are errors.

    With ``require_all`` every field must be present (an agent folder's hparams.json).
    Values are only type-checked here; call ``validate()`` for the allowed ranges.
    """
    if not isinstance(data, dict):
        raise ConfigError({"config": f"a config must be a JSON object, got {type(data).__name__}"})
    errors: dict[str, str] = {}
    for key in data:
        if key not in FIELD_TYPES and key != "agent_kind":
            errors[key] = f"unknown hyperparameter {key!r}"
    if require_all:
        for name in FIELD_NAMES:
            if name not in data:
                errors[name] = f"missing hyperparameter {name!r}"
    values: dict[str, Any] = {}
    for name in FIELD_NAMES:
        if name in data:
            try:
                values[name] = _coerce(name, data[name])
            except ValueError as exc:
                errors[name] = str(exc)
    if errors:
        raise ConfigError(errors)
    return AgentConfig(**values)


def config_errors(c: AgentConfig) -> dict[str, str]:
    """Check every range; the message names the field and what it may be."""
    e: dict[str, str] = {}

    def positive_int(name: str, value: int, upper: int | None = None) -> None:
        if value <= 0:
            e[name] = f"{name} must be a positive integer, got {value}"
        elif upper is not None and value > upper:
            e[name] = f"{name} must be at most {upper:,}, got {value:,}"

    if c.env_id not in SUPPORTED_ENVS:
        e["env_id"] = f"env_id must be one of {', '.join(SUPPORTED_ENVS)}, got {c.env_id!r}"
    if not (c.learning_rate > 0 and math.isfinite(c.learning_rate)) or c.learning_rate > 1:
        e["learning_rate"] = f"learning_rate must be in (0, 1], got {c.learning_rate}"
    if not (0 < c.discount_factor <= 1):
        e["discount_factor"] = f"discount_factor must be in (0, 1], got {c.discount_factor}"
    positive_int("memory_size", c.memory_size, 10_000_000)
    positive_int("batch_size", c.batch_size, 65_536)
    if "batch_size" not in e and "memory_size" not in e and c.batch_size > c.memory_size:
        e["batch_size"] = f"batch_size must be at most memory_size ({c.memory_size}), got {c.batch_size}"
    positive_int("freq_steps_train", c.freq_steps_train)
    positive_int("freq_steps_update_target", c.freq_steps_update_target)
    positive_int("n_gradient_steps", c.n_gradient_steps, 1000)
    positive_int("steps_epsilon_decay", c.steps_epsilon_decay)
    if c.n_steps_warm_up_memory < 0:
        e["n_steps_warm_up_memory"] = f"n_steps_warm_up_memory must be >= batch_size ({c.batch_size}), got {c.n_steps_warm_up_memory}"
    elif c.n_steps_warm_up_memory < c.batch_size:
        e["n_steps_warm_up_memory"] = (
            f"n_steps_warm_up_memory must be >= batch_size ({c.batch_size}), got {c.n_steps_warm_up_memory}"
        )
    if len(c.nn_hidden_layers) > 8:
        e["nn_hidden_layers"] = f"nn_hidden_layers may have at most 8 layers, got {len(c.nn_hidden_layers)}"
    elif any(w <= 0 or w > 4096 for w in c.nn_hidden_layers):
        e["nn_hidden_layers"] = f"nn_hidden_layers widths must be integers in 1..4096, got {list(c.nn_hidden_layers)}"
    if not (c.max_grad_norm > 0 and math.isfinite(c.max_grad_norm)):
        e["max_grad_norm"] = f"max_grad_norm must be a positive number, got {c.max_grad_norm}"
    for name in ("epsilon_start", "epsilon_end"):
        value = getattr(c, name)
        if not (0 <= value <= 1):
            e[name] = f"{name} must be in [0, 1], got {value}"
    if "epsilon_start" not in e and "epsilon_end" not in e and c.epsilon_end > c.epsilon_start:
        e["epsilon_end"] = f"epsilon_end must be <= epsilon_start ({c.epsilon_start}), got {c.epsilon_end}"
    if not (0 <= c.seed < 2**32):
        e["seed"] = f"seed must be an integer in 0..{2**32 - 1}, got {c.seed}"
    if c.loss not in LOSSES:
        e["loss"] = f"loss must be one of {', '.join(LOSSES)}, got {c.loss!r}"
    positive_int("n_episodes", c.n_episodes, 1_000_000)
    if c.eval_every_episodes < 0:
        e["eval_every_episodes"] = f"eval_every_episodes must be >= 0 (0 = never), got {c.eval_every_episodes}"
    positive_int("eval_episodes", c.eval_episodes, 10_000)
    if c.stop_at_reward is not None and not math.isfinite(c.stop_at_reward):
        e["stop_at_reward"] = f"stop_at_reward must be a finite number or null, got {c.stop_at_reward}"
    positive_int("normalizer_steps", c.normalizer_steps, 1_000_000)
    return e


# --- presets -------------------------------------------------------------------------------

def _course(hparams: dict[str, Any], n_episodes: int) -> dict[str, Any]:
    return {**hparams, "n_episodes": n_episodes}


# The course's four presets, exactly as ../shared/reference/presets.json gives them.
_PRESETS: dict[str, dict[str, Any]] = {
    "linear-bad": _course({
        "learning_rate": 9.214691713730938e-05, "discount_factor": 0.99, "batch_size": 32, "memory_size": 10000,
        "freq_steps_train": 16, "freq_steps_update_target": 1000, "n_steps_warm_up_memory": 1000,
        "n_gradient_steps": 1, "nn_hidden_layers": [], "max_grad_norm": 1, "normalize_state": True,
        "epsilon_start": 0.9, "epsilon_end": 0.08474621504763855, "steps_epsilon_decay": 100000,
        "seed": 4291201652}, 2000),
    "linear-good": _course({
        "learning_rate": 0.0005652080372498697, "discount_factor": 0.99, "batch_size": 64, "memory_size": 100000,
        "freq_steps_train": 128, "freq_steps_update_target": 100, "n_steps_warm_up_memory": 1000,
        "n_gradient_steps": 4, "nn_hidden_layers": [], "max_grad_norm": 10, "normalize_state": False,
        "epsilon_start": 0.9, "epsilon_end": 0.0429612235926375, "steps_epsilon_decay": 1000,
        "seed": 2636569667}, 2000),
    "deep-bad": _course({
        "learning_rate": 0.000171782176772688, "discount_factor": 0.95, "batch_size": 32, "memory_size": 10000,
        "freq_steps_train": 8, "freq_steps_update_target": 10, "n_steps_warm_up_memory": 1000,
        "n_gradient_steps": 4, "nn_hidden_layers": [256, 256], "max_grad_norm": 10, "normalize_state": False,
        "epsilon_start": 0.9, "epsilon_end": 0.19818684841911674, "steps_epsilon_decay": 1000, "seed": 0}, 200),
    "deep-good": _course({
        "learning_rate": 0.00016151809562265122, "discount_factor": 0.99, "batch_size": 32, "memory_size": 10000,
        "freq_steps_train": 8, "freq_steps_update_target": 10, "n_steps_warm_up_memory": 1000,
        "n_gradient_steps": 16, "nn_hidden_layers": [256, 256], "max_grad_norm": 10, "normalize_state": False,
        "epsilon_start": 0.9, "epsilon_end": 0.14856584122699473, "steps_epsilon_decay": 10000,
        "seed": 2386916045}, 200),
}

# Our own presets, tuned on this project's machine (bench/RESULTS.md has how they behave across seeds).
_PRESETS["deep-fast"] = {
    "learning_rate": 2.5e-3, "discount_factor": 0.99, "batch_size": 128, "memory_size": 50000,
    "freq_steps_train": 4, "freq_steps_update_target": 250, "n_steps_warm_up_memory": 1000,
    "n_gradient_steps": 1, "nn_hidden_layers": [64, 64], "max_grad_norm": 10, "normalize_state": False,
    "epsilon_start": 1.0, "epsilon_end": 0.02, "steps_epsilon_decay": 5000, "seed": 0,
    "loss": "mse", "double_dqn": True, "n_episodes": 400, "eval_every_episodes": 5, "eval_episodes": 20,
    "keep_best": True, "stop_at_reward": 500.0,
}
_PRESETS["linear-fast"] = {
    # A shorter horizon (gamma 0.95) keeps the linear fit's targets small, a large step size lets the
    # 10 weights move between the few policies a linear Q can express, and frequent greedy
    # evaluations keep the best of them.
    "learning_rate": 0.05, "discount_factor": 0.95, "batch_size": 64, "memory_size": 50000,
    "freq_steps_train": 4, "freq_steps_update_target": 500, "n_steps_warm_up_memory": 1000,
    "n_gradient_steps": 1, "nn_hidden_layers": [], "max_grad_norm": 10, "normalize_state": True,
    "epsilon_start": 1.0, "epsilon_end": 0.02, "steps_epsilon_decay": 10000, "seed": 0,
    "loss": "mse", "double_dqn": False, "n_episodes": 1000, "eval_every_episodes": 5, "eval_episodes": 20,
    "keep_best": True, "stop_at_reward": None,
}

PRESET_DESCRIPTIONS: dict[str, str] = {  # measured across seeds in bench/RESULTS.md
    "linear-bad": "The course's failing linear agent (it reports 9.42 +- 0.77).",
    "linear-good": "The course's linear agent: 164.65 +- 39.46 on its one seed. On seeds 0-4 here it scored "
                   "9 to 45: epsilon reaches its end at step 1000, before any training, and it often locks into "
                   "pushing one way.",
    "deep-bad": "The course's half-working deep agent (it reports 177.89 +- 21.50).",
    "deep-good": "The course's deep agent: 500 on its one seed. On seeds 0-4 here it scored 11 to 198 and solved "
                 "none, in about 40 s each: a single lucky seed is not a recipe.",
    "deep-fast": "Ours: Double DQN, batch 128, keeps the best evaluated weights and stops once solved. Solved 10 "
                 "of 10 seeds, median 15 s of training.",
    "linear-fast": "Ours: normalised states, gamma 0.95, a large step size, keeps the best evaluated weights. "
                   "Beat the course's 164.65 on 7 of 10 seeds and reached a perfect 500 on 3.",
}

PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS)


def preset(name: str, **overrides: Any) -> AgentConfig:
    """The named preset as a fresh AgentConfig, with optional field overrides."""
    if name not in _PRESETS:
        raise ConfigError({"preset": f"unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}"})
    return from_dict({**_PRESETS[name], **overrides})


def presets_as_json() -> str:
    return json.dumps({name: preset(name).to_dict() for name in PRESET_NAMES}, indent=2)


# --- shareable links -----------------------------------------------------------------------

def _query_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "linear"
    return str(value)


def config_to_query(config: AgentConfig, preset_name: str) -> dict[str, str]:
    """Every field of ``config`` as URL query parameters (plus the preset it started from)."""
    return {"preset": preset_name, **{k: _query_value(v) for k, v in config.to_dict().items()}}


def config_from_query(params: dict[str, str]) -> tuple[AgentConfig, str, list[str]]:
    """Read a shared link back: (config, preset name, notices). Never raises.

    Missing fields come from the link's preset (``deep-fast`` when it names none or an unknown
    one); a field that cannot be read keeps the preset's value; a combination that does not
    validate falls back to the preset altogether. Each fallback adds a notice saying why.
    """
    notices: list[str] = []
    name = params.get("preset", "deep-fast")
    if name not in _PRESETS:
        notices.append(f"unknown preset {name!r} in the link; using deep-fast")
        name = "deep-fast"
    base = preset(name, **({"env_id": params["env_id"]} if params.get("env_id") in SUPPORTED_ENVS else {}))
    if "env_id" in params and params["env_id"] not in SUPPORTED_ENVS:
        notices.append(f"unknown env_id {params['env_id']!r} in the link; using {base.env_id}")
    values = base.to_dict()
    for key, raw in params.items():
        if key in ("preset", "env_id"):
            continue
        if key not in FIELD_TYPES:
            notices.append(f"ignored unknown setting {key!r}")
            continue
        text = raw if isinstance(raw, str) else str(raw)
        try:
            if key == "nn_hidden_layers" and text == "linear":
                values[key] = []
            elif key == "stop_at_reward" and text == "none":
                values[key] = None
            else:
                values[key] = _coerce(key, text)
        except ValueError as exc:
            notices.append(f"ignored {key}={text!r}: {exc}")
    config = AgentConfig(**values)
    errors = config.errors()
    if errors:
        notices.append("the link's settings do not fit together (" + "; ".join(errors.values())
                       + f"); using the {name} preset")
        config = base
    return config, name, notices


# --- class mode quotas (issue 11) ------------------------------------------------------------
# Each applies per logged-in user, in class mode only (a local app has one user and no quotas).
# The pages, the upload check and the job queue all read them from here.

@dataclass(frozen=True)
class ClassQuotas:
    runs_per_user: int = 30  # agent folders a user keeps (trained, uploaded and reserved by queued jobs)
    uploads_per_user: int = 10  # uploaded agents a user keeps
    upload_bytes: int = 8 * 1024 * 1024  # size of one uploaded zip
    queued_jobs_per_user: int = 2  # jobs of one user waiting or running at once
    trials_per_study: int = 40  # trials one study run may ask for
    seeds_per_sweep: int = 10  # seeds in one "how much does the seed matter" sweep


CLASS_QUOTAS = ClassQuotas()
