import json
from pathlib import Path

import pytest

from rl_core.config import COURSE_FIELDS, PRESET_NAMES, AgentConfig, ConfigError, from_dict, preset

PRESETS_JSON = Path(__file__).resolve().parents[2] / "shared" / "reference" / "presets.json"


def errors_of(**changes):
    return AgentConfig(**changes).errors()


def test_default_config_is_valid():
    assert AgentConfig().errors() == {}
    for name in PRESET_NAMES:
        assert preset(name).errors() == {}, name


@pytest.mark.parametrize("field,value,needle", [
    ("learning_rate", 0.0, "learning_rate must be in (0, 1]"),
    ("learning_rate", -1e-3, "learning_rate"),
    ("discount_factor", 0.0, "discount_factor must be in (0, 1]"),
    ("discount_factor", 1.01, "discount_factor"),
    ("epsilon_start", 1.5, "epsilon_start must be in [0, 1]"),
    ("epsilon_end", -0.1, "epsilon_end must be in [0, 1]"),
    ("memory_size", 0, "memory_size must be a positive integer"),
    ("freq_steps_train", 0, "freq_steps_train must be a positive integer"),
    ("freq_steps_update_target", -3, "freq_steps_update_target must be a positive integer"),
    ("n_gradient_steps", 0, "n_gradient_steps must be a positive integer"),
    ("steps_epsilon_decay", 0, "steps_epsilon_decay must be a positive integer"),
    ("n_episodes", 0, "n_episodes must be a positive integer"),
    ("max_grad_norm", 0.0, "max_grad_norm must be a positive number"),
    ("env_id", "Pong-v5", "env_id must be one of CartPole-v1, MountainCar-v0, Acrobot-v1"),
    ("loss", "l1", "loss must be one of mse, huber"),
])
def test_each_bad_value_names_its_field(field, value, needle):
    errors = errors_of(**{field: value})
    assert list(errors) == [field]
    assert needle in errors[field]


def test_batch_larger_than_memory():
    errors = errors_of(batch_size=64, memory_size=32, n_steps_warm_up_memory=64)
    assert errors == {"batch_size": "batch_size must be at most memory_size (32), got 64"}


def test_warm_up_shorter_than_batch():
    errors = errors_of(batch_size=64, n_steps_warm_up_memory=10)
    assert errors == {"n_steps_warm_up_memory": "n_steps_warm_up_memory must be >= batch_size (64), got 10"}


def test_epsilon_end_above_start():
    assert errors_of(epsilon_start=0.1, epsilon_end=0.5) == {
        "epsilon_end": "epsilon_end must be <= epsilon_start (0.1), got 0.5"}


def test_hidden_widths_must_be_positive():
    assert "nn_hidden_layers" in errors_of(nn_hidden_layers=[256, 0])
    assert "nn_hidden_layers" in errors_of(nn_hidden_layers=[-4])
    assert errors_of(nn_hidden_layers=[]) == {}


def test_several_bad_fields_give_one_message_each():
    with pytest.raises(ConfigError) as info:
        AgentConfig(learning_rate=0, discount_factor=2, seed=-1).validate()
    assert set(info.value.errors) == {"learning_rate", "discount_factor", "seed"}


def test_from_dict_rejects_unknown_missing_and_mistyped_fields():
    with pytest.raises(ConfigError, match="unknown hyperparameter 'learning_rat'"):
        from_dict({"learning_rat": 0.1})
    with pytest.raises(ConfigError, match="missing hyperparameter 'seed'"):
        from_dict({k: v for k, v in AgentConfig().to_dict().items() if k != "seed"}, require_all=True)
    with pytest.raises(ConfigError, match="batch_size must be an integer"):
        from_dict({"batch_size": "lots"})
    with pytest.raises(ConfigError, match="normalize_state must be true or false"):
        from_dict({"normalize_state": 3})


def test_from_dict_reads_cli_and_json_spellings():
    c = from_dict({"nn_hidden_layers": "64,32", "normalize_state": "true", "batch_size": 64.0})
    assert c.nn_hidden_layers == [64, 32] and c.normalize_state is True and c.batch_size == 64
    assert from_dict({"nn_hidden_layers": ""}).nn_hidden_layers == []
    assert from_dict(AgentConfig().to_dict()) == AgentConfig()


@pytest.mark.skipif(not PRESETS_JSON.exists(), reason="shared reference not beside the repo")
def test_course_presets_match_the_reference_exactly():
    reference = json.loads(PRESETS_JSON.read_text())
    for name in ("linear-bad", "linear-good", "deep-bad", "deep-good"):
        config = preset(name)
        for key in COURSE_FIELDS:
            assert getattr(config, key) == reference[name]["hparams"][key], (name, key)
        assert config.n_episodes == reference[name]["episodes"]


def test_linear_agent_kind():
    assert preset("linear-good").agent_kind == "linear"
    assert preset("deep-good").agent_kind == "deep"


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        preset("nope")
