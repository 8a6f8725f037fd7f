"""rl_core/envinfo.py: one EnvInfo per environment, consistent with what Gymnasium says about it."""

import math

import pytest

from rl_core.envinfo import DEFAULT_ENV, ENVS, SUPPORTED_ENVS, env_info
from rl_core.learning.envs import env_spec


@pytest.mark.parametrize("env_id", SUPPORTED_ENVS)
def test_each_environment_s_facts_fit_its_spaces(env_id):
    info, spec = env_info(env_id), env_spec(env_id)
    assert info.env_id == env_id
    assert len(info.state_names) == len(info.state_columns) == len(info.slice_ranges) == spec.obs_dim
    assert len(info.action_names) == spec.n_actions
    assert len(set(info.default_slice)) == 2 and all(0 <= d < spec.obs_dim for d in info.default_slice)
    assert all(lo < hi and math.isfinite(lo) and math.isfinite(hi) for lo, hi in info.slice_ranges)
    assert spec.solved_reward == info.solved_reward
    # a random agent is far from solving it, and a solved run's mean lies at or under the best episode
    assert info.random_baseline < info.solved_reward
    assert info.tuning_solved_mean is None or info.random_baseline < info.tuning_solved_mean <= info.solved_reward
    assert info.about.strip() and info.bounds_note.strip()


def test_the_supported_list_is_the_table_s_and_starts_with_the_default():
    assert SUPPORTED_ENVS == tuple(ENVS) and SUPPORTED_ENVS[0] == DEFAULT_ENV == "CartPole-v1"


def test_an_unknown_environment_is_named_in_one_line():
    with pytest.raises(ValueError, match=r"env_id must be one of CartPole-v1, MountainCar-v0, Acrobot-v1, got 'Pong'"):
        env_info("Pong")
    with pytest.raises(ValueError, match="got None"):
        env_info(None)  # type: ignore[arg-type]


def test_only_acrobot_observes_cos_and_sin_and_only_cartpole_has_the_fast_evaluation():
    assert [e for e, i in ENVS.items() if i.observation_holds_cos_sin] == ["Acrobot-v1"]
    assert [e for e, i in ENVS.items() if i.fast_evaluation] == ["CartPole-v1"]
