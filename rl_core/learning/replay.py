"""Replay memory: a preallocated numpy ring buffer with vectorised sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    """Transitions as arrays; with ``ReplayBuffer.sample(n_batches=k)`` each has a leading axis k."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    terminated: np.ndarray  # 1.0 where the episode really ended (no bootstrapping), else 0.0


class ReplayBuffer:
    """Fixed-capacity memory of (s, a, r, s', terminated); the oldest transition is overwritten first."""

    def __init__(self, capacity: int, obs_dim: int, seed: int = 0):
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.states = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_states = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.position = 0  # where the next transition goes
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, state: np.ndarray, action: int, reward: float, next_state: np.ndarray, terminated: bool) -> None:
        i = self.position
        self.states[i] = state
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_states[i] = next_state
        self.terminated[i] = terminated
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, n_batches: int | None = None) -> Batch:
        """Uniform sample with replacement; ``n_batches`` draws that many batches in one go."""
        return self.gather(self.sample_indices(batch_size, n_batches))

    def sample_indices(self, batch_size: int, n_batches: int | None = None) -> np.ndarray:
        """The slots ``sample`` would return, shape (batch_size,) or (n_batches, batch_size).

        Drawing the indices of many batches at once and gathering them a few at a time uses the
        random stream exactly as one ``sample`` call does, without holding every batch at once.
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        shape = (batch_size,) if n_batches is None else (n_batches, batch_size)
        return self.rng.integers(0, self.size, size=shape)

    def gather(self, idx: np.ndarray) -> Batch:
        """The transitions stored at ``idx`` (any shape), as a Batch of that leading shape."""
        return Batch(
            self.states[idx], self.actions[idx], self.rewards[idx], self.next_states[idx], self.terminated[idx]
        )
