import numpy as np
import pytest

from rl_core.learning.replay import ReplayBuffer


def fill(buffer, n):
    for i in range(n):
        buffer.add(np.full(2, i, dtype=np.float32), i % 3, float(i), np.full(2, i + 1, dtype=np.float32), i % 2 == 0)


def test_wraps_around_overwriting_the_oldest():
    buffer = ReplayBuffer(capacity=5, obs_dim=2)
    fill(buffer, 8)
    assert len(buffer) == 5 and buffer.position == 3
    # slots 0..2 hold transitions 5..7, slots 3..4 still hold 3..4
    assert buffer.rewards.tolist() == [5.0, 6.0, 7.0, 3.0, 4.0]
    assert buffer.next_states[:, 0].tolist() == [6.0, 7.0, 8.0, 4.0, 5.0]
    assert buffer.terminated.tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]


def test_sampling_only_returns_stored_transitions():
    buffer = ReplayBuffer(capacity=100, obs_dim=2, seed=3)
    fill(buffer, 10)
    batch = buffer.sample(256)
    assert batch.states.shape == (256, 2) and batch.actions.shape == (256,)
    assert set(batch.rewards.tolist()) <= set(float(i) for i in range(10))
    # each row is one whole transition, not a mix of several
    np.testing.assert_array_equal(batch.next_states[:, 0], batch.states[:, 0] + 1)
    np.testing.assert_array_equal(batch.rewards, batch.states[:, 0])
    assert len(set(batch.rewards.tolist())) == 10  # all of them get drawn


def test_many_batches_at_once_and_reproducible():
    a, b = ReplayBuffer(50, 2, seed=7), ReplayBuffer(50, 2, seed=7)
    fill(a, 30)
    fill(b, 30)
    batch_a, batch_b = a.sample(16, n_batches=4), b.sample(16, n_batches=4)
    assert batch_a.states.shape == (4, 16, 2) and batch_a.terminated.shape == (4, 16)
    np.testing.assert_array_equal(batch_a.rewards, batch_b.rewards)


def test_empty_buffer_cannot_be_sampled():
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, 2).sample(2)
