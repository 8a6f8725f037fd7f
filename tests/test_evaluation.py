import gymnasium as gym
import numpy as np
import pytest

from rl_core.config import AgentConfig
from rl_core.learning.agent import QAgent, RandomAgent
from rl_core.learning.evaluation import evaluate, evaluate_sequential


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


def test_epsilon_changes_what_the_agent_does(partly_trained_agent):
    greedy = evaluate(partly_trained_agent, n_episodes=50, seed=0, epsilon=0.0)
    half = evaluate(partly_trained_agent, n_episodes=50, seed=0, epsilon=0.5)
    random = evaluate(partly_trained_agent, n_episodes=50, seed=0, epsilon=1.0)
    assert not np.array_equal(greedy.rewards, half.rewards)
    # all-random actions play like the random agent (about 22), far below the trained greedy policy
    assert random.mean < 40 < 100 < greedy.mean, (random.mean, greedy.mean)


class Pump:
    """A hand-made policy that pushes along a velocity: episodes of very different lengths per seed
    (unlike an untrained agent, which times out on every seed of MountainCar and Acrobot)."""

    def __init__(self, env_id):
        self.env_id = env_id

    def greedy_actions(self, states):
        states = np.asarray(states)
        if self.env_id == "MountainCar-v0":
            return np.where(states[:, 1] > 0, 2, 0)
        return np.where(states[:, 4] + states[:, 5] > 0, 2, 0)  # Acrobot: torque along the swing


def plain_lengths(env_id, policy, n_episodes, seed):
    """Episode i played alone from gym.make(env_id).reset(seed=seed + i): the reference, no rl_core."""
    lengths = []
    env = gym.make(env_id)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        steps, done = 0, False
        while not done:
            obs, _, terminated, truncated, _ = env.step(int(policy.greedy_actions(obs[None, :])[0]))
            steps, done = steps + 1, terminated or truncated
        lengths.append(steps)
    env.close()
    return np.array(lengths)


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "Acrobot-v1"])
def test_episode_i_starts_from_seed_plus_i_on_every_env(env_id):
    policy = Pump(env_id)
    expected = plain_lengths(env_id, policy, 8, seed=3)
    assert len(set(expected.tolist())) >= 5, expected  # lengths differ per seed: a shift would show
    np.testing.assert_array_equal(evaluate(policy, env_id, n_episodes=8, seed=3).lengths, expected)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"n_episodes": 0}, "n_episodes"),
        ({"epsilon": 2.0}, "epsilon"),
        ({"env_id": "Nope-v0"}, "env_id"),
    ],
)
def test_bad_arguments(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        evaluate(RandomAgent("CartPole-v1"), **kwargs)
