import numpy as np
import pytest

from rl_core.agent import QAgent, RandomAgent
from rl_core.config import AgentConfig
from rl_core.evaluation import evaluate, evaluate_sequential


def test_fast_evaluation_equals_the_plain_loop(partly_trained_agent):
    fast = evaluate(partly_trained_agent, "CartPole-v1", n_episodes=100, seed=11)
    plain = evaluate_sequential(partly_trained_agent, "CartPole-v1", n_episodes=100, seed=11)
    # a partly trained agent: episodes of many different lengths, so the test means something
    assert len(set(plain.lengths.tolist())) > 10, plain.lengths
    np.testing.assert_array_equal(fast.rewards, plain.rewards)
    np.testing.assert_array_equal(fast.lengths, plain.lengths)


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "Acrobot-v1"])
def test_fast_evaluation_equals_the_plain_loop_on_other_envs(env_id):
    agent = QAgent(AgentConfig(env_id=env_id, nn_hidden_layers=[8], seed=2))
    fast = evaluate(agent, env_id, n_episodes=6, seed=4)
    plain = evaluate_sequential(agent, env_id, n_episodes=6, seed=4)
    np.testing.assert_array_equal(fast.rewards, plain.rewards)


def test_summary_statistics_and_solved_share():
    result = evaluate(RandomAgent("CartPole-v1", seed=0), n_episodes=300, seed=0)
    assert result.n_episodes == 300
    assert result.mean == pytest.approx(np.mean(result.rewards))
    assert result.min == result.rewards.min() and result.max == result.rewards.max()
    assert 15 < result.mean < 30  # the course reports 22.28 +- 11.67 for the random agent
    assert result.solved_share == 0.0
    d = result.to_dict()
    assert set(d) >= {"n_episodes", "mean", "std", "min", "max", "seconds", "rewards"}


def test_epsilon_evaluation_is_reproducible(partly_trained_agent):
    a = evaluate(partly_trained_agent, n_episodes=20, seed=0, epsilon=0.5)
    b = evaluate(partly_trained_agent, n_episodes=20, seed=0, epsilon=0.5)
    np.testing.assert_array_equal(a.rewards, b.rewards)


@pytest.mark.parametrize("kwargs,needle", [
    ({"n_episodes": 0}, "n_episodes"), ({"epsilon": 2.0}, "epsilon"), ({"env_id": "Nope-v0"}, "env_id"),
])
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        evaluate(RandomAgent("CartPole-v1"), **kwargs)
