"""What a user would notice broken, each checked through the code path the product uses: time-limit
endings through ``train()``, replay sampling over the whole buffer, and a normalised agent's evaluation."""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

import rl_core.learning.training
from rl_core.config import AgentConfig
from rl_core.envinfo import SUPPORTED_ENVS
from rl_core.learning.agent import FrozenQ, QAgent
from rl_core.learning.envs import StateNormalizer
from rl_core.learning.evaluation import evaluate, evaluate_sequential
from rl_core.learning.replay import ReplayBuffer
from rl_core.learning.training import train

# --- a time-limit ending is not a real end, through train() ---------------------------------------


def no_learning_config(env_id: str, n_episodes: int) -> AgentConfig:
    """A tiny config whose warm-up outlasts the run: train() only acts and stores transitions."""
    return AgentConfig(
        env_id=env_id,
        nn_hidden_layers=[8],
        batch_size=8,
        memory_size=5_000,
        n_steps_warm_up_memory=100_000,
        n_episodes=n_episodes,
        eval_every_episodes=0,
        epsilon_start=1.0,
        epsilon_end=1.0,
        seed=3,
    )


class StepRecorder(gym.Wrapper):
    """Writes down Gymnasium's (terminated, truncated) of every step the training loop takes."""

    def __init__(self, env: gym.Env, seen: list[tuple[bool, bool]]):
        super().__init__(env)
        self.seen = seen

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.seen.append((bool(terminated), bool(truncated)))
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("env_id", SUPPORTED_ENVS)
def test_train_stores_a_time_limit_ending_as_not_terminal(env_id, monkeypatch):
    # A 12-step time limit: MountainCar and Acrobot under random actions time out on every episode;
    # CartPole's random episodes (about 22 steps) both fall before 12 steps and time out.
    seen: list[tuple[bool, bool]] = []

    def short_limited_env(env_id_: str, render_mode: str | None = None) -> gym.Env:
        return StepRecorder(gym.make(env_id_, max_episode_steps=12), seen)

    monkeypatch.setattr(rl_core.learning.training, "make_env", short_limited_env)
    agent = QAgent(no_learning_config(env_id, n_episodes=12))
    train(agent)
    assert agent.n_gradient_steps_done == 0
    stored = agent.memory.terminated[: len(agent.memory)].tolist()
    assert len(stored) == len(seen) == agent.env_steps
    truncated_steps = [i for i, (_, truncated) in enumerate(seen) if truncated]
    assert len(truncated_steps) >= 3, seen  # the test must see time-limit endings to mean anything
    assert [stored[i] for i in truncated_steps] == [0.0] * len(truncated_steps)
    # stored as terminal exactly where the env really ended
    assert stored == [float(terminated) for terminated, _ in seen]
    if env_id == "CartPole-v1":
        assert any(terminated for terminated, _ in seen), "CartPole should fall at least once in 12 episodes"


def test_train_on_mountain_car_stores_its_real_200_step_limit_as_not_terminal():
    # No patching: the env as the product makes it. Random actions never reach MountainCar's flag in
    # 200 steps, so both episodes end on the time limit and no stored transition may be terminal.
    agent = QAgent(no_learning_config("MountainCar-v0", n_episodes=2))
    result = train(agent)
    assert [e.steps for e in result.episodes] == [200, 200]
    assert len(agent.memory) == 400
    assert agent.memory.terminated[:400].sum() == 0.0


def test_a_stored_time_limit_transition_bootstraps_in_its_td_target():
    # What storing it as not terminal buys: its TD target still includes gamma * max Q'(s').
    agent = QAgent(no_learning_config("MountainCar-v0", n_episodes=1))
    train(agent)
    last = agent.memory.gather(np.array([199]))
    assert last.terminated.tolist() == [0.0]
    next_q = agent.target_net(torch.from_numpy(last.next_states)).max(dim=1).values.detach().numpy()
    expected = last.rewards + agent.config.discount_factor * next_q
    np.testing.assert_allclose(agent.td_targets(last), expected, rtol=1e-5)
    assert abs(next_q[0]) > 1e-3  # else bootstrapping or not would give the same target


# --- replay sampling is uniform over the whole buffer ---------------------------------------------


def full_buffer(capacity: int, n_added: int, seed: int = 5) -> ReplayBuffer:
    """A buffer whose rewards say when each transition was added (0 = first ever)."""
    buffer = ReplayBuffer(capacity, obs_dim=1, seed=seed)
    for i in range(n_added):
        buffer.add(np.array([i]), 0, float(i), np.array([i + 1]), False)
    return buffer


@pytest.mark.parametrize("n_added", [1000, 1600])  # full, and wrapped around (the newest in slots 0..599)
def test_sampling_draws_old_and_new_transitions_alike(n_added):
    capacity, batch_size, n_batches = 1000, 32, 200
    buffer = full_buffer(capacity, n_added)
    first_kept = n_added - capacity
    batches = [buffer.sample(batch_size).rewards for _ in range(n_batches)]
    age = np.concatenate(batches) - first_kept  # 0 = the oldest transition still stored
    assert age.min() >= 0 and age.max() < capacity  # only stored transitions
    # ten age bands, 640 draws expected in each: with a fixed seed the counts are fixed; the bounds
    # (+-20 %, five standard deviations) hold for any seed but a wildly unlucky one
    counts = np.bincount((age * 10 // capacity).astype(int), minlength=10)
    assert counts.min() > 512 and counts.max() < 768, counts.tolist()
    old_share = float(np.mean(age < capacity // 2))
    assert 0.45 < old_share < 0.55, old_share
    chi_square = float(((counts - 640.0) ** 2 / 640.0).sum())
    assert chi_square < 30, chi_square  # 9 degrees of freedom: p ~ 0.0004
    # successive batches are fresh draws, not the same window again
    assert all(not np.array_equal(a, b) for a, b in zip(batches, batches[1:]))
    assert len({tuple(b.tolist()) for b in batches}) == n_batches


def test_many_batches_at_once_cover_the_buffer_and_differ_from_each_other():
    # The path agent.learn takes: one sample_indices call for n_gradient_steps batches.
    buffer = full_buffer(500, 800)
    idx = buffer.sample_indices(16, n_batches=100)
    assert idx.shape == (100, 16)
    assert len(np.unique(idx)) > 400  # 1600 draws over 500 slots: about 479 distinct expected
    halves = np.bincount((idx.ravel() >= 250).astype(int), minlength=2)
    assert halves.min() > 700, halves.tolist()
    assert len({tuple(row.tolist()) for row in idx}) == 100


def test_learn_trains_on_transitions_from_the_whole_memory(monkeypatch):
    # Through the agent: the slots learn() gathers span old and new transitions alike.
    agent = QAgent(AgentConfig(nn_hidden_layers=[8], batch_size=16, memory_size=400, n_steps_warm_up_memory=16))
    rng = np.random.default_rng(0)
    for _ in range(400):
        agent.memory.add(rng.normal(size=4), int(rng.integers(2)), 1.0, rng.normal(size=4), False)
    gathered: list[np.ndarray] = []
    real_gather = agent.memory.gather

    def recording_gather(idx):
        gathered.append(np.asarray(idx).copy())
        return real_gather(idx)

    monkeypatch.setattr(agent.memory, "gather", recording_gather)
    agent.learn(50)
    slots = np.concatenate([g.ravel() for g in gathered])
    assert len(slots) == 800
    assert np.mean(slots < 200) == pytest.approx(0.5, abs=0.06)
    assert len(np.unique(slots)) > 300


# --- a normalised agent is evaluated on its own normalised Q-values --------------------------------


def reference_greedy(agent: QAgent, states: np.ndarray) -> np.ndarray:
    """argmax of the Q-network on states standardised by hand with the agent's mean and std, in float64."""
    assert agent.normalizer is not None
    mean = agent.normalizer.mean.astype(np.float64)
    std = agent.normalizer.std.astype(np.float64)
    h = (np.asarray(states, dtype=np.float64) - mean) / std
    linears = [m for m in agent.q_net if isinstance(m, torch.nn.Linear)]
    for i, layer in enumerate(linears):
        h = h @ layer.weight.detach().numpy().astype(np.float64).T + layer.bias.detach().numpy().astype(np.float64)
        if i < len(linears) - 1:
            h = np.maximum(h, 0.0)
    return np.argmax(h, axis=-1)


class ByHand:
    def __init__(self, agent: QAgent, normalise: bool = True):
        self.agent, self.normalise = agent, normalise

    def greedy_actions(self, states: np.ndarray) -> np.ndarray:
        if self.normalise:
            return reference_greedy(self.agent, states)
        return np.argmax(self.agent._fast_q(np.asarray(states, dtype=np.float32)), axis=-1)


def pole_balancer_on_normalised_states(mean_shift: float) -> QAgent:
    """A linear agent on normalised CartPole states that balances by the normalised pole angle; a
    normaliser whose mean is shifted off zero makes the raw and the normalised policies disagree."""
    normalizer = StateNormalizer(
        mean=np.array([0.0, 0.0, mean_shift, 0.0], dtype=np.float32), std=np.array([1, 1, 0.05, 0.5], np.float32)
    )
    agent = QAgent(AgentConfig(nn_hidden_layers=[], normalize_state=True, seed=1), normalizer=normalizer)
    with torch.no_grad():
        agent.q_net[0].weight.copy_(torch.tensor([[0.0, 0.0, -1.0, -1.0], [0.0, 0.0, 1.0, 1.0]]))
        agent.q_net[0].bias.zero_()
    return agent


def test_a_normalised_agents_evaluation_follows_its_normalised_q_values():
    agent = pole_balancer_on_normalised_states(mean_shift=0.03)
    states = np.random.default_rng(0).normal(scale=[0.5, 0.5, 0.05, 0.5], size=(500, 4)).astype(np.float32)
    np.testing.assert_array_equal(agent.greedy_actions(states), reference_greedy(agent, states))
    fast = evaluate(agent, "CartPole-v1", n_episodes=30, seed=0)
    by_hand = evaluate_sequential(ByHand(agent), "CartPole-v1", n_episodes=30, seed=0)
    raw = evaluate_sequential(ByHand(agent, normalise=False), "CartPole-v1", n_episodes=30, seed=0)
    # the normaliser changes what the agent does here, or the test could not tell
    assert not np.array_equal(by_hand.rewards, raw.rewards)
    np.testing.assert_array_equal(fast.rewards, by_hand.rewards)
    np.testing.assert_array_equal(fast.lengths, by_hand.lengths)
    # a snapshot (what live views and the class board evaluate) follows the same normalised Q-values
    np.testing.assert_array_equal(
        evaluate(FrozenQ.of(agent), "CartPole-v1", n_episodes=30, seed=0).rewards, fast.rewards
    )


def test_a_normalised_mountain_car_agent_is_evaluated_on_normalised_states():
    # A fitted normaliser (position's mean is about -0.5): an untrained deep agent whose actions depend on it.
    agent = QAgent(
        AgentConfig(env_id="MountainCar-v0", nn_hidden_layers=[16], normalize_state=True, normalizer_steps=2000, seed=4)
    )
    assert agent.normalizer is not None and abs(agent.normalizer.mean[0]) > 0.2
    states = np.column_stack(
        [np.random.default_rng(1).uniform(-1.2, 0.6, 400), np.random.default_rng(2).uniform(-0.07, 0.07, 400)]
    ).astype(np.float32)
    expected = reference_greedy(agent, states)
    assert not np.array_equal(expected, np.argmax(agent._fast_q(states), axis=-1))
    np.testing.assert_array_equal(agent.greedy_actions(states), expected)
    np.testing.assert_array_equal(FrozenQ.of(agent).greedy_actions(states), expected)


# --- second, independent tests of behaviours the suite guarded once (issue 21's mutation check) -----


def test_train_reports_epsilon_falling_to_its_end_value_and_staying_there():
    # Through train(): the epsilon each episode ends with, against the schedule's own bounds.
    config = no_learning_config("CartPole-v1", n_episodes=20)
    agent = QAgent(replace(config, epsilon_start=1.0, epsilon_end=0.2, steps_epsilon_decay=60))
    result = train(agent)
    epsilons = [e.epsilon for e in result.episodes]
    assert result.episodes[-1].env_steps > 3 * 60  # well past the decay
    assert all(0.2 - 1e-9 <= eps <= 1.0 for eps in epsilons), epsilons
    assert epsilons == sorted(epsilons, reverse=True)
    past_decay = [e.epsilon for e in result.episodes if e.env_steps >= 60]
    assert past_decay and all(eps == pytest.approx(0.2) for eps in past_decay)


def test_train_syncs_the_target_every_freq_steps_update_target_env_steps():
    # Through train(), with training every 3 steps and the target every 10: the counts differ.
    config = AgentConfig(
        nn_hidden_layers=[8],
        batch_size=8,
        memory_size=2000,
        n_steps_warm_up_memory=8,
        freq_steps_train=3,
        freq_steps_update_target=10,
        n_episodes=6,
        eval_every_episodes=0,
    )
    agent = QAgent(config)
    train(agent)
    assert agent.env_steps > 50
    assert agent.n_target_syncs == agent.env_steps // 10
    # the target equals the online net as it was at the last sync, not as it is now (trained since)
    last_sync = agent.env_steps - agent.env_steps % 10
    if agent.env_steps - last_sync >= 3:
        assert not torch.equal(agent.q_net[0].weight, agent.target_net[0].weight)


def test_keep_best_returns_the_weights_the_best_evaluation_scored_while_learning():
    # Real learning (weights move between evaluations); the callback copies the weights each
    # evaluation scored. Seed 1: the second evaluation (15) beats the last (10).
    config = AgentConfig(
        nn_hidden_layers=[16],
        batch_size=16,
        memory_size=2000,
        n_steps_warm_up_memory=32,
        freq_steps_train=1,
        learning_rate=3e-3,
        n_episodes=10,
        eval_every_episodes=2,
        eval_episodes=3,
        keep_best=True,
        seed=1,
        steps_epsilon_decay=300,
    )
    agent = QAgent(config)
    scored: list[tuple[float, dict]] = []

    def copy_scored_weights(event):
        if isinstance(event, rl_core.learning.training.EvalRecord):
            scored.append((event.mean, {k: v.clone() for k, v in agent.q_net.state_dict().items()}))

    result = train(agent, callback=copy_scored_weights)
    assert result.restored_best
    best = max(range(len(scored)), key=lambda i: scored[i][0])
    assert best != len(scored) - 1
    final = agent.q_net.state_dict()
    assert all(torch.equal(final[k], v) for k, v in scored[best][1].items())
    assert not all(torch.equal(final[k], v) for k, v in scored[-1][1].items())


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "Acrobot-v1"])
def test_a_fitted_normaliser_holds_the_mean_and_std_of_the_states_it_saw(env_id):
    from rl_core.learning.envs import random_states

    fitted = StateNormalizer.fit_random(env_id, 1500, seed=2)
    states = random_states(env_id, 1500, seed=2).astype(np.float64)
    np.testing.assert_allclose(fitted.mean, states.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fitted.std, states.std(axis=0), rtol=1e-5, atol=1e-6)
    assert (fitted.std < 0.5).any()  # a small std, where std and variance differ most


def test_a_loaded_agent_keeps_the_normaliser_it_was_saved_with(tmp_path):
    from rl_core.artifacts.storage import load_agent, save_agent

    agent = pole_balancer_on_normalised_states(mean_shift=0.03)  # a hand-set normaliser, not a fitted one
    folder = save_agent(agent, tmp_path / "balancer")
    loaded = load_agent(folder).agent
    assert loaded.normalizer is not None
    np.testing.assert_array_equal(loaded.normalizer.mean, agent.normalizer.mean)
    np.testing.assert_array_equal(loaded.normalizer.std, agent.normalizer.std)
    by_hand = evaluate_sequential(ByHand(agent), "CartPole-v1", n_episodes=10, seed=0)
    np.testing.assert_array_equal(evaluate(loaded, "CartPole-v1", n_episodes=10, seed=0).rewards, by_hand.rewards)


class Swing:
    """Acrobot: torque along the swing; episode lengths differ from seed to seed."""

    def greedy_actions(self, states):
        states = np.asarray(states)
        return np.where(states[:, 4] + states[:, 5] > 0, 2, 0)


def test_an_evaluation_on_acrobot_is_the_same_every_time_and_differs_by_seed():
    first = evaluate(Swing(), "Acrobot-v1", n_episodes=6, seed=10)
    again = evaluate(Swing(), "Acrobot-v1", n_episodes=6, seed=10)
    other = evaluate(Swing(), "Acrobot-v1", n_episodes=6, seed=11)
    np.testing.assert_array_equal(first.lengths, again.lengths)
    assert len(set(first.lengths.tolist())) > 2, first.lengths
    # seed 11's episodes are seed 10's shifted by one
    np.testing.assert_array_equal(other.lengths[:5], first.lengths[1:])
