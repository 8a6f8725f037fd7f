import numpy as np
import pytest
import torch

from rl_core.config import AgentConfig, ConfigError
from rl_core.learning.agent import QAgent, RandomAgent
from rl_core.learning.evaluation import evaluate
from rl_core.learning.training import EpisodeRecord, EvalRecord, train
from rl_core.presets import preset


def small_config(**changes) -> AgentConfig:
    base = dict(
        nn_hidden_layers=[32],
        batch_size=16,
        memory_size=1000,
        n_steps_warm_up_memory=16,
        freq_steps_train=4,
        freq_steps_update_target=50,
        n_episodes=5,
        eval_every_episodes=0,
    )
    return AgentConfig(**{**base, **changes})


def test_linear_agent_has_ten_parameters_on_cartpole():
    assert QAgent(preset("linear-good")).n_parameters == 10


def test_sizes_come_from_the_env_spaces():
    assert QAgent(small_config(env_id="MountainCar-v0")).q_values(np.zeros(2)).shape == (3,)
    assert QAgent(small_config(env_id="Acrobot-v1")).q_values(np.zeros(6)).shape == (3,)


def test_invalid_config_is_refused():
    with pytest.raises(ConfigError, match="learning_rate"):
        QAgent(small_config(learning_rate=-1))


def test_numpy_inference_matches_torch():
    agent = QAgent(small_config(nn_hidden_layers=[16, 8]))
    states = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    with torch.no_grad():
        expected = agent.q_net(torch.from_numpy(states)).numpy()
    np.testing.assert_allclose(agent.q_values(states), expected, rtol=1e-5, atol=1e-6)


def test_epsilon_decays_linearly_then_stays():
    agent = QAgent(small_config(epsilon_start=0.9, epsilon_end=0.1, steps_epsilon_decay=1000))
    assert agent.epsilon_at(0) == pytest.approx(0.9)
    assert agent.epsilon_at(500) == pytest.approx(0.5)
    assert agent.epsilon_at(1000) == pytest.approx(0.1)
    assert agent.epsilon_at(10**6) == pytest.approx(0.1)


def feed(agent, n):
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(n):
        s, s2 = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
        losses.append(agent.observe(s, int(rng.integers(2)), 1.0, s2, False))
    return losses


def test_target_syncs_on_its_own_cadence_and_training_on_its_own():
    agent = QAgent(
        small_config(freq_steps_train=5, freq_steps_update_target=7, n_steps_warm_up_memory=20, n_gradient_steps=3)
    )
    losses = feed(agent, 100)
    # target every 7 steps, whether or not training happened on that step (lcm(5, 7) would give 2)
    assert agent.n_target_syncs == 100 // 7
    # training every 5 steps from step 20 on, 3 gradient steps each time
    trained = [i + 1 for i, loss in enumerate(losses) if loss is not None]
    assert trained == list(range(20, 101, 5))
    assert agent.n_gradient_steps_done == 3 * len(trained)
    # the last sync was at step 98; the training at step 100 moved the online net away from it
    assert not torch.equal(agent.q_net[0].weight, agent.target_net[0].weight)
    agent.sync_target()
    assert torch.equal(agent.q_net[0].weight, agent.target_net[0].weight)


def test_terminated_transitions_do_not_bootstrap():
    agent = QAgent(
        small_config(
            nn_hidden_layers=[],
            discount_factor=0.5,
            batch_size=1,
            n_steps_warm_up_memory=1,
            memory_size=1,
            freq_steps_train=10**6,
        )
    )
    with torch.no_grad():
        agent.target_net[0].bias.fill_(10.0)
        agent.target_net[0].weight.zero_()
        agent.q_net[0].weight.zero_()
        agent.q_net[0].bias.zero_()
    s = np.zeros(4, dtype=np.float32)
    agent.memory.add(s, 0, 1.0, s, True)
    assert agent.learn(1) == pytest.approx(1.0)  # target = r = 1, q = 0
    agent.q_net[0].bias.data.zero_()
    agent.q_net[0].weight.data.zero_()
    agent.memory.add(s, 0, 1.0, s, False)  # a truncation: bootstraps, target = 1 + 0.5 * 10 = 6
    assert agent.learn(1) == pytest.approx(36.0)


def test_double_dqn_and_huber_run():
    agent = QAgent(small_config(double_dqn=True, loss="huber"))
    losses = [loss for loss in feed(agent, 200) if loss is not None]
    assert losses and all(np.isfinite(losses))


def test_divergence_stops_training_with_a_message():
    agent = QAgent(small_config(learning_rate=1.0, max_grad_norm=1e9, nn_hidden_layers=[64, 64]))
    with torch.no_grad():
        for p in agent.q_net.parameters():
            p.mul_(1e30)  # the next loss overflows to inf
    result = train(agent, n_episodes=30)
    assert result.status == "diverged"
    assert "diverged" in result.message and ("inf" in result.message or "nan" in result.message)


def test_normalizer_standardises_random_states():
    agent = QAgent(small_config(normalize_state=True, normalizer_steps=2000))
    assert agent.normalizer is not None
    assert agent.normalizer.std.shape == (4,) and (agent.normalizer.std > 0).all()
    # CartPole declares its velocities unbounded; the estimate is finite and small
    assert agent.normalizer.std[1] < 5
    # the states it was fitted on (random play, the config's seed) come out with mean 0 and std 1
    from rl_core.learning.envs import random_states

    raw = random_states("CartPole-v1", 2000, seed=agent.config.seed)
    standard = agent.preprocess(raw)
    np.testing.assert_allclose(standard.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(standard.std(axis=0), 1.0, rtol=1e-3)
    # and the Q-network sees the standardised state, not the raw one
    with torch.no_grad():
        expected = agent.q_net(torch.as_tensor((raw[:5] - agent.normalizer.mean) / agent.normalizer.std)).numpy()
    np.testing.assert_allclose(agent.q_values(raw[:5]), expected, rtol=1e-5, atol=1e-6)


def test_training_emits_events_and_honours_the_stop_flag():
    import threading

    stop = threading.Event()
    events = []

    def callback(event):
        events.append(event)
        if isinstance(event, EpisodeRecord) and event.episode == 3:
            stop.set()

    agent = QAgent(small_config(n_episodes=50, eval_every_episodes=2, eval_episodes=3))
    result = train(agent, callback=callback, stop_event=stop)
    assert result.status == "stopped"
    episodes = [e for e in events if isinstance(e, EpisodeRecord)]
    assert [e.episode for e in episodes] == [1, 2, 3]
    assert any(isinstance(e, EvalRecord) and e.episode == 2 for e in events)
    assert episodes[-1].env_steps == agent.env_steps == sum(e.steps for e in episodes)


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        agent = QAgent(small_config(seed=5, n_episodes=8))
        result = train(agent)
        runs.append(([e.reward for e in result.episodes], agent.q_values(np.ones(4))))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_a_tiny_config_learns_well_above_random(partly_trained_agent):
    random_mean = evaluate(RandomAgent("CartPole-v1"), n_episodes=100).mean
    learned = evaluate(partly_trained_agent, n_episodes=100, seed=0).mean
    assert random_mean < 30
    assert learned > 4 * random_mean
