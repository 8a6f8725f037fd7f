import json
from pathlib import Path

import pytest

from rl_core.config import BOUNDS, COURSE_FIELDS, AgentConfig, ConfigError, from_dict
from rl_core.presets import PRESET_NAMES, config_from_query, config_to_query, preset

# The course's reference values, kept in the repository (the course's presets.json, verbatim).
PRESETS_JSON = Path(__file__).resolve().parent / "data" / "course_presets.json"


def errors_of(**changes):
    return AgentConfig(**changes).errors()


def test_default_config_is_valid():
    assert AgentConfig().errors() == {}
    for name in PRESET_NAMES:
        assert preset(name).errors() == {}, name


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("learning_rate", 0.0, "learning_rate must be a number in [1e-06, 1], got 0.0"),
        ("learning_rate", -1e-3, "learning_rate"),
        ("discount_factor", 0.0, "discount_factor must be a number in (0, 1], got 0.0"),
        ("discount_factor", 1.01, "discount_factor"),
        ("epsilon_start", 1.5, "epsilon_start must be a number in [0, 1]"),
        ("epsilon_end", -0.1, "epsilon_end must be a number in [0, 1]"),
        ("memory_size", 0, "memory_size must be an integer in [1, 1,000,000], got 0"),
        ("memory_size", 10_000_000, "memory_size must be an integer in [1, 1,000,000]"),
        ("batch_size", 65536, "batch_size must be an integer in [1, 512]"),
        ("freq_steps_train", 0, "freq_steps_train must be an integer in [1, 1,000,000]"),
        ("freq_steps_train", 10**9, "freq_steps_train must be an integer in [1, 1,000,000]"),
        ("n_steps_warm_up_memory", 10**9, "n_steps_warm_up_memory must be an integer in [0, 1,000,000]"),
        ("freq_steps_update_target", -3, "freq_steps_update_target must be an integer"),
        ("n_gradient_steps", 0, "n_gradient_steps must be an integer in [1, 32]"),
        ("n_gradient_steps", 1000, "n_gradient_steps must be an integer in [1, 32]"),
        ("steps_epsilon_decay", 0, "steps_epsilon_decay must be an integer"),
        ("n_episodes", 0, "n_episodes must be an integer in [1, 100,000]"),
        ("max_grad_norm", 0.0, "max_grad_norm must be a number in (0, 1,000,000,000]"),
        ("stop_at_reward", float("inf"), "stop_at_reward must be a number"),
        ("nn_hidden_layers", [4096, 4096], "nn_hidden_layers widths must be integers in 1..1024"),
        ("nn_hidden_layers", [64] * 5, "nn_hidden_layers may have at most 4 layers, got 5"),
        ("env_id", "Pong-v5", "env_id must be one of CartPole-v1, MountainCar-v0, Acrobot-v1"),
        ("loss", "l1", "loss must be one of mse, huber"),
    ],
)
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
        "epsilon_end": "epsilon_end must be <= epsilon_start (0.1), got 0.5"
    }


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


def test_every_bound_is_data_with_a_valid_range():
    for name, bound in BOUNDS.items():
        assert name in AgentConfig().to_dict()
        assert bound.low < bound.high
        default = getattr(AgentConfig(), name)
        assert default is None or bound.contains(default), name


def test_a_link_round_trips_exactly():
    config = preset("deep-good", seed=77, batch_size=64, nn_hidden_layers=[])
    back, name, notices = config_from_query(config_to_query(config, "deep-good"))
    assert (back, name, notices) == (config, "deep-good", [])


def test_a_link_keeps_its_valid_settings_and_names_each_dropped_one():
    link = {
        "preset": "deep-fast",
        "seed": "12",
        "learning_rate": "0.01",
        "batch_size": "65536",
        "nn_hidden_layers": "4096,4096,4096,4096",
        "n_gradient_steps": "fast",
        "bogus": "1",
    }
    config, name, notices = config_from_query(link)
    base = preset("deep-fast")
    assert (config.seed, config.learning_rate) == (12, 0.01)  # the valid settings survive
    assert (config.batch_size, config.nn_hidden_layers, config.n_gradient_steps) == (
        base.batch_size,
        base.nn_hidden_layers,
        base.n_gradient_steps,
    )
    assert len(notices) == 4
    for needle in (
        "batch_size='65536'",
        "nn_hidden_layers='4096,4096,4096,4096'",
        "n_gradient_steps='fast'",
        "'bogus'",
    ):
        assert sum(needle in n for n in notices) == 1, (needle, notices)
    assert config.errors() == {}


def test_a_link_setting_that_clashes_with_the_preset_is_dropped_alone():
    config, _, notices = config_from_query({"preset": "deep-fast", "memory_size": "100", "seed": "5"})
    assert config.seed == 5 and config.memory_size == preset("deep-fast").memory_size
    assert len(notices) == 1 and "memory_size='100'" in notices[0] and "batch_size" in notices[0]


def test_link_notices_quote_values_briefly():
    _, _, notices = config_from_query({"seed": "![x](http://e.vil/" + "a" * 5000 + ")"})
    assert len(notices) == 1 and len(notices[0]) < 200


def test_widths_are_parsed_in_one_place_with_one_line_errors():
    from rl_core.config import MAX_HIDDEN_WIDTH, parse_widths

    assert parse_widths("256,256") == [256, 256] == parse_widths(" [256, 256] ")
    assert parse_widths("") == [] == parse_widths("linear") == parse_widths("None")
    for text, needle in [
        ("a,b", "must be integer widths such as 256,256, got 'a,b'"),
        (f"{MAX_HIDDEN_WIDTH + 1}", f"each in 1..{MAX_HIDDEN_WIDTH}"),
        ("0", "each in 1.."),
        ("8,8,8,8,8", "at most 4 widths"),
    ]:
        with pytest.raises(ValueError, match=needle):
            parse_widths(text)
    with pytest.raises(ValueError, match="custom widths: give 1 to 4 widths"):
        parse_widths("linear", "custom widths", allow_linear=False)
    # the same parser reads a link's and a file's widths
    assert AgentConfig.from_dict({"nn_hidden_layers": "64,32"}).nn_hidden_layers == [64, 32]
