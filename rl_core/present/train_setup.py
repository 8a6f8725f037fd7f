"""The Train page's setup as plain data: one value per widget key, built from a config and read back.

The page keeps these values in keys it owns (never only in Streamlit's widget keys, which a run that
does not draw the widget drops), so a setup changes only when the user changes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rl_core.config import BOUNDS, MAX_HIDDEN_LAYERS, AgentConfig
from rl_core.learning.envs import env_spec
from rl_core.presets import PRESET_NAMES, preset

LR_LOG_RANGE: tuple[float, float] = (
    math.log10(BOUNDS["learning_rate"].low),
    math.log10(BOUNDS["learning_rate"].high),
)
DEFAULT_WIDTH = 64  # a hidden layer added with the layers slider starts this wide
DEFAULT_LAYERS = 2  # what the layers slider shows for a linear agent (its network section is hidden)
# Fields drawn by other widgets than hp_<field>: the widths and layer count, the stop switch and target.
_OWN_WIDGETS = ("nn_hidden_layers", "stop_at_reward")


def lr_log(learning_rate: float) -> float:
    """The learning rate's position on the log slider (clamped to its range, 0.01 apart)."""
    position = round(math.log10(learning_rate), 2) if learning_rate > 0 else LR_LOG_RANGE[0]
    return min(LR_LOG_RANGE[1], max(LR_LOG_RANGE[0], position))


def lr_from_log(position: float) -> float:
    """The learning rate a log slider position stands for, to 3 significant digits."""
    return float(f"{10**position:.3g}")


def widget_values(config: AgentConfig, preset_name: str) -> dict[str, Any]:
    """Every Train widget's value for ``config`` started from the preset ``preset_name``."""
    values: dict[str, Any] = {f"hp_{k}": v for k, v in config.to_dict().items() if k not in _OWN_WIDGETS}
    values["hp_lr_log"] = lr_log(config.learning_rate)
    values["hp_layers_n"] = min(MAX_HIDDEN_LAYERS, len(config.nn_hidden_layers)) or DEFAULT_LAYERS
    for i, width in enumerate(config.nn_hidden_layers):
        values[f"hp_width_{i}"] = width
    values["hp_stop_on"] = config.stop_at_reward is not None
    values["hp_stop_at_reward"] = float(
        config.stop_at_reward if config.stop_at_reward is not None else env_spec(config.env_id).solved_reward
    )
    values["train_kind"] = config.agent_kind
    values["train_preset"] = preset_name
    return values


def config_from_widget_values(values: Mapping[str, Any]) -> AgentConfig:
    """The config the Train widgets' ``values`` describe (a key absent keeps the field's default);
    not validated: ``errors()`` says what is wrong, beside each widget."""
    fields = {k: values[f"hp_{k}"] for k in AgentConfig().to_dict() if k not in _OWN_WIDGETS and f"hp_{k}" in values}
    deep = values.get("train_kind", "deep") == "deep"
    n_layers = int(values.get("hp_layers_n", DEFAULT_LAYERS))
    fields["nn_hidden_layers"] = (
        [int(values.get(f"hp_width_{i}", DEFAULT_WIDTH)) for i in range(n_layers)] if deep else []
    )
    stop_on = values.get("hp_stop_on", False)
    fields["stop_at_reward"] = float(values["hp_stop_at_reward"]) if stop_on and "hp_stop_at_reward" in values else None
    return AgentConfig(**fields)


def closest_preset(config: AgentConfig) -> str:
    """The preset of the same kind that differs from ``config`` in the fewest fields."""
    wanted = config.to_dict()
    names = [n for n in PRESET_NAMES if n.startswith(config.agent_kind)]

    def distance(name: str) -> int:
        base = preset(name, env_id=config.env_id).to_dict()
        return sum(base[k] != v for k, v in wanted.items())

    return min(names, key=distance)


def is_preset(config: AgentConfig, preset_name: str) -> bool:
    """Whether ``config`` is exactly the preset (on the config's own environment)."""
    return preset_name in PRESET_NAMES and preset(preset_name, env_id=config.env_id).to_dict() == config.to_dict()


def started_from(config: AgentConfig, recorded: str | None = None) -> str:
    """What a run was set up as: ``deep-fast``, or ``custom from deep-fast`` when any field differs.
    ``recorded`` is the preset the run's metrics name (the closest one is found when it names none)."""
    name = recorded if recorded in PRESET_NAMES else closest_preset(config)
    return name if is_preset(config, name) else f"custom from {name}"
