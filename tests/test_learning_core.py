"""The hand-written learning step against plain references, stop between gradient steps, keep-best,
and weights that depend on the seed alone."""

import copy
import threading

import numpy as np
import pytest
import torch

from rl_core.config import AgentConfig
from rl_core.learning.agent import FrozenQ, QAgent
from rl_core.learning.reference import ReferenceDQN
from rl_core.learning.replay import Batch
from rl_core.learning.training import EvalRecord, train


def small_config(**changes) -> AgentConfig:
    base = dict(
        nn_hidden_layers=[16, 8],
        batch_size=24,
        memory_size=1000,
        n_steps_warm_up_memory=24,
        freq_steps_train=1,
        freq_steps_update_target=50,
        n_episodes=5,
        eval_every_episodes=0,
        learning_rate=1e-2,
        discount_factor=0.9,
    )
    return AgentConfig(**{**base, **changes})


def fixed_batch(n_batches: int, batch_size: int = 24, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    shape = (n_batches, batch_size)
    return Batch(
        states=rng.normal(size=(*shape, 4)).astype(np.float32),
        actions=rng.integers(2, size=shape).astype(np.int64),
        rewards=rng.normal(size=shape).astype(np.float32),
        next_states=rng.normal(size=(*shape, 4)).astype(np.float32),
        terminated=(rng.random(shape) < 0.3).astype(np.float32),
    )


def agent_with_distinct_target(**changes) -> QAgent:
    """An agent whose target network differs from its online one (as between two syncs)."""
    agent = QAgent(small_config(**changes))
    with torch.no_grad():
        for p in agent.target_net.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.5)
    return agent


def numpy_q(net: torch.nn.Sequential, states: np.ndarray) -> np.ndarray:
    """A network's Q-values computed from its state_dict in float64 numpy: an independent reference."""
    layers = [
        (w.numpy().astype(np.float64), b.numpy().astype(np.float64))
        for w, b in zip(list(net.state_dict().values())[::2], list(net.state_dict().values())[1::2])
    ]
    h = states.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


@pytest.mark.parametrize("double_dqn", [False, True])
def test_td_targets_equal_a_numpy_reference(double_dqn):
    agent = agent_with_distinct_target(double_dqn=double_dqn)
    batch = fixed_batch(1)
    b = Batch(*(a[0] for a in (batch.states, batch.actions, batch.rewards, batch.next_states, batch.terminated)))
    target_q = numpy_q(agent.target_net, b.next_states)
    if double_dqn:
        best = numpy_q(agent.q_net, b.next_states).argmax(axis=1)
        next_q = target_q[np.arange(len(best)), best]
    else:
        next_q = target_q.max(axis=1)
    expected = b.rewards + 0.9 * (1.0 - b.terminated) * next_q
    np.testing.assert_allclose(agent.td_targets(b), expected, rtol=1e-5, atol=1e-5)
    # the two rules must disagree on this batch, or the test could not tell them apart
    plain = b.rewards + 0.9 * (1.0 - b.terminated) * target_q.max(axis=1)
    double = (
        b.rewards
        + 0.9
        * (1.0 - b.terminated)
        * target_q[np.arange(len(b.rewards)), numpy_q(agent.q_net, b.next_states).argmax(axis=1)]
    )
    assert np.abs(plain - double).max() > 0.01


def reference_steps(agent: QAgent, batch: Batch) -> tuple[torch.nn.Sequential, list[float]]:
    """The textbook step (rl_core.learning.reference: nn.Sequential, autograd, F.mse_loss /
    smooth_l1, clip_grad_norm_, torch.optim.Adam) from the agent's weights, on the same batches."""
    reference = ReferenceDQN.from_agent(agent)
    return reference.q_net, reference.learn_on(batch)


@pytest.mark.parametrize("loss", ["mse", "huber"])
@pytest.mark.parametrize("double_dqn", [False, True])
@pytest.mark.parametrize("max_grad_norm", [0.05, 1000.0])  # clipping active, and not
@pytest.mark.parametrize("hidden", [[16, 8], []])  # an MLP, and the linear agent
def test_gradient_steps_change_the_weights_as_the_autograd_reference(loss, double_dqn, max_grad_norm, hidden):
    agent = agent_with_distinct_target(
        loss=loss, double_dqn=double_dqn, max_grad_norm=max_grad_norm, nn_hidden_layers=hidden
    )
    batch = fixed_batch(3)  # three steps: Adam's moments and step count carry over
    before = {k: v.clone() for k, v in agent.q_net.state_dict().items()}
    reference, ref_losses = reference_steps(agent, batch)
    mean_loss = agent.learn_on(batch)
    assert mean_loss == pytest.approx(np.mean(ref_losses), rel=1e-5)
    for key, expected in reference.state_dict().items():
        moved = agent.q_net.state_dict()[key]
        assert not torch.equal(moved, before[key])
        torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-6)
    assert agent.n_gradient_steps_done == 3


def test_dqn_targets_computed_a_few_batches_at_a_time_give_the_same_steps(monkeypatch):
    import rl_core.learning.agent

    agent = agent_with_distinct_target(double_dqn=False)
    n_params = sum(p.numel() for p in agent.q_net.parameters())
    monkeypatch.setattr(rl_core.learning.agent, "_TARGET_MACS_PER_FORWARD", 2 * 24 * n_params)  # groups of 2 batches
    batch = fixed_batch(5)
    reference, _ = reference_steps(agent, batch)
    agent.learn_on(batch)
    for key, expected in reference.state_dict().items():
        torch.testing.assert_close(agent.q_net.state_dict()[key], expected, rtol=1e-5, atol=1e-6)


def test_learn_draws_batches_from_memory_and_the_target_net_stays_put():
    agent = QAgent(small_config())
    rng = np.random.default_rng(1)
    for _ in range(100):
        agent.memory.add(rng.normal(size=4), int(rng.integers(2)), 1.0, rng.normal(size=4), False)
    twin = QAgent(small_config())
    twin._memory = copy.deepcopy(agent.memory)  # same transitions, same generator state
    target_before = [p.clone() for p in agent.target_net.parameters()]
    # learn(n) samples n batches from memory's generator, as sample(n_batches=n) does
    agent.learn(5)
    twin.learn_on(twin.memory.sample(24, n_batches=5))
    for a, b in zip(agent.q_net.parameters(), twin.q_net.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(torch.equal(a, b) for a, b in zip(agent.target_net.parameters(), target_before))


# --- stop between gradient steps ----------------------------------------------------------------


def test_learn_asks_to_stop_between_gradient_steps():
    agent = QAgent(small_config())
    rng = np.random.default_rng(0)
    for _ in range(50):
        agent.memory.add(rng.normal(size=4), 0, 1.0, rng.normal(size=4), False)
    asked = []

    def should_stop() -> bool:
        asked.append(agent.n_gradient_steps_done)
        return len(asked) >= 3

    agent.learn(1000, should_stop=should_stop)
    assert agent.n_gradient_steps_done == 3  # asked after steps 1, 2 and 3; the third answer is yes


class StopAfter(threading.Event):
    """A stop flag that turns itself on after being read ``n`` times: a user pressing Stop mid-call."""

    def __init__(self, n: int):
        super().__init__()
        self.reads, self.n = 0, n

    def is_set(self) -> bool:
        self.reads += 1
        return self.reads > self.n or super().is_set()


def test_stop_is_honoured_inside_a_long_training_call():
    # The flag is read before each env step: 24 reads take training to its first call (env step 24,
    # 32 gradient steps, the most the config allows); the flag turns on at the 30th read, the 6th one
    # inside that call.
    agent = QAgent(small_config(n_gradient_steps=32, freq_steps_train=24, n_steps_warm_up_memory=24, n_episodes=50))
    result = train(agent, stop_event=StopAfter(29))
    assert result.status == "stopped"
    assert agent.env_steps == 24
    assert agent.n_gradient_steps_done == 6


# --- keep-best --------------------------------------------------------------------------------


def test_keep_best_restores_the_best_evaluated_weights_at_the_end():
    # A hand-made linear policy that balances the pole, no learning at all (the warm-up never ends);
    # after the first evaluation the callback wrecks the weights, so the last evaluation is the worst.
    config = AgentConfig(
        nn_hidden_layers=[],
        n_episodes=3,
        eval_every_episodes=1,
        eval_episodes=5,
        keep_best=True,
        memory_size=10_000,
        n_steps_warm_up_memory=5_000,
        epsilon_start=0.0,
        epsilon_end=0.0,
    )
    agent = QAgent(config)
    with torch.no_grad():
        agent.q_net[0].weight.copy_(torch.tensor([[0.0, 0.0, -10.0, -1.0], [0.0, 0.0, 10.0, 1.0]]))
        agent.q_net[0].bias.zero_()
    good = {k: v.clone() for k, v in agent.q_net.state_dict().items()}
    means = []

    def wreck_after_first_evaluation(event):
        if isinstance(event, EvalRecord):
            means.append(event.mean)
            with torch.no_grad():
                agent.q_net[0].weight.zero_()
                agent.q_net[0].bias.copy_(torch.tensor([1.0, 0.0]))  # always push left

    result = train(agent, callback=wreck_after_first_evaluation)
    assert means[0] > 100 and max(means[1:]) < 20, means  # the first evaluation was the best, by far
    assert result.restored_best
    for key, value in good.items():
        assert torch.equal(agent.q_net.state_dict()[key], value)
        assert torch.equal(agent.target_net.state_dict()[key], value)
    assert agent.greedy_actions(np.array([[0.0, 0.0, 0.1, 0.0], [0.0, 0.0, -0.1, 0.0]])).tolist() == [1, 0]


# --- weights depend on the seed alone ------------------------------------------------------------


def test_building_an_agent_or_a_snapshot_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    agent = QAgent(small_config(seed=7))
    FrozenQ.of(agent)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_same_seed_same_initial_weights_whatever_else_draws_from_torch():
    first = QAgent(small_config(seed=7))
    torch.rand(1000)
    torch.nn.Linear(64, 64)
    FrozenQ.of(first)
    second = QAgent(small_config(seed=7))
    for a, b in zip(first.q_net.state_dict().values(), second.q_net.state_dict().values()):
        assert torch.equal(a, b)
    other = QAgent(small_config(seed=8))
    assert not torch.equal(other.q_net[0].weight, first.q_net[0].weight)


def test_same_seed_same_final_weights_when_trained_interleaved_with_snapshots():
    config = small_config(
        seed=3, n_episodes=6, batch_size=16, n_steps_warm_up_memory=16, freq_steps_train=2, double_dqn=True
    )
    first, second = QAgent(config), QAgent(config)
    snapshots = []

    def draw_between_episodes(event):
        snapshots.append(FrozenQ.of(first))
        torch.rand(100)
        torch.nn.Linear(16, 16)

    # the two agents take turns, one episode at a time, with global draws and snapshots in between
    for _ in range(config.n_episodes):
        train(first, n_episodes=1, callback=draw_between_episodes)
        train(second, n_episodes=1, callback=draw_between_episodes)
    assert first.n_gradient_steps_done > 0
    for a, b in zip(first.q_net.parameters(), second.q_net.parameters()):
        assert torch.equal(a, b)
    assert len(snapshots) == 2 * config.n_episodes


def test_same_seed_same_weights_while_another_thread_takes_snapshots():
    # What a class server does: one training's snapshots are built while another agent is being made.
    source = QAgent(small_config(seed=1, nn_hidden_layers=[64, 64]))
    done = threading.Event()

    def snapshot_in_a_loop():
        while not done.is_set():
            FrozenQ.of(source)

    thread = threading.Thread(target=snapshot_in_a_loop)
    thread.start()
    try:
        weights = [QAgent(small_config(seed=0, nn_hidden_layers=[64, 64])).q_net[0].weight.clone() for _ in range(40)]
    finally:
        done.set()
        thread.join()
    assert all(torch.equal(w, weights[0]) for w in weights)
