"""Evaluation of many episodes at once on a vector env, exact to the one-episode-at-a-time loop.

Episode ``i`` starts from the state ``gym.make(env_id).reset(seed=seed + i)`` gives, and each step
asks the agent for the actions of every episode still running in one batched call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from rl_core.envinfo import DEFAULT_ENV, env_info
from rl_core.learning.envs import check_env_id, env_spec, make_env

CHUNK = 1000  # episodes played together; bounds memory for very long evaluations


class Policy(Protocol):
    def greedy_actions(self, states: np.ndarray) -> np.ndarray: ...


@dataclass
class EvalResult:
    env_id: str
    seed: int
    epsilon: float
    rewards: np.ndarray
    lengths: np.ndarray
    seconds: float
    solved_reward: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_episodes(self) -> int:
        return len(self.rewards)

    @property
    def mean(self) -> float:
        return float(np.mean(self.rewards))

    @property
    def std(self) -> float:
        return float(np.std(self.rewards))

    @property
    def min(self) -> float:
        return float(np.min(self.rewards))

    @property
    def max(self) -> float:
        return float(np.max(self.rewards))

    @property
    def solved_share(self) -> float:
        """Share of episodes at or above the env's success reward (CartPole: 500)."""
        return float(np.mean(self.rewards >= self.solved_reward))

    def summary(self) -> dict[str, Any]:
        return {
            "n_episodes": self.n_episodes,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "solved_share": self.solved_share,
            "seconds": round(self.seconds, 4),
            "seed": self.seed,
            "epsilon": self.epsilon,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "rewards": [float(r) for r in self.rewards]}


def _actions(
    policy: Policy, states: np.ndarray, epsilon: float, rng: np.random.Generator, n_actions: int
) -> np.ndarray:
    actions = np.asarray(policy.greedy_actions(states), dtype=np.int64)
    if epsilon > 0:
        explore = rng.random(len(states)) < epsilon
        actions[explore] = rng.integers(n_actions, size=int(explore.sum()))
    return actions


def _play_all(
    policy: Policy, venv, obs: np.ndarray, epsilon: float, rng: np.random.Generator, n_actions: int
) -> tuple[np.ndarray, np.ndarray]:
    """Step every episode of a vector env until each has ended once, asking only the running ones
    for actions. Finished envs auto-reset on their next step; masking ignores what follows."""
    n = len(obs)
    rewards = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    running = np.ones(n, dtype=bool)
    actions = np.zeros(n, dtype=np.int64)
    while running.any():
        idx = np.flatnonzero(running)
        actions[idx] = _actions(policy, obs[idx], epsilon, rng, n_actions)
        obs, reward, terminated, truncated, _ = venv.step(actions)
        rewards[idx] += reward[idx]
        lengths[idx] += 1
        running[idx[terminated[idx] | truncated[idx]]] = False
    venv.close()
    return rewards, lengths


def _cartpole_chunk(
    policy: Policy, seeds: range, epsilon: float, rng: np.random.Generator, max_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gymnasium's numpy CartPoleVectorEnv, its start states set to those of single-env resets."""
    n = len(seeds)
    single: Any = gym.make("CartPole-v1").unwrapped  # CartPoleEnv: its .state is set and read
    starts = np.empty((4, n), dtype=np.float64)
    for j, s in enumerate(seeds):
        single.reset(seed=s)
        starts[:, j] = single.state
    single.close()
    venv = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point", max_episode_steps=max_steps)
    venv.reset(seed=seeds.start)
    venv.unwrapped.state = starts  # type: ignore[attr-defined]  # CartPoleVectorEnv's state
    return _play_all(policy, venv, starts.T.astype(np.float32), epsilon, rng, 2)


def _generic_chunk(
    policy: Policy, env_id: str, seeds: range, epsilon: float, rng: np.random.Generator, n_actions: int
) -> tuple[np.ndarray, np.ndarray]:
    venv = gym.make_vec(env_id, num_envs=len(seeds), vectorization_mode="sync")
    obs, _ = venv.reset(seed=seeds.start)  # sub-env j is reset with seed start + j
    return _play_all(policy, venv, obs, epsilon, rng, n_actions)


def evaluate(
    policy: Policy, env_id: str = DEFAULT_ENV, n_episodes: int = 1000, seed: int = 0, epsilon: float = 0.0
) -> EvalResult:
    """Play ``n_episodes`` episodes (greedy unless ``epsilon`` > 0) all at once; episode i uses seed + i."""
    check_env_id(env_id)
    if n_episodes <= 0:
        raise ValueError(f"n_episodes must be positive, got {n_episodes}")
    if not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    spec = env_spec(env_id)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    rewards, lengths = [], []
    for first in range(seed, seed + n_episodes, CHUNK):
        seeds = range(first, min(first + CHUNK, seed + n_episodes))
        if env_info(env_id).fast_evaluation:  # CartPole: its state set directly, all episodes at once
            r, n = _cartpole_chunk(policy, seeds, epsilon, rng, spec.max_episode_steps)
        else:
            r, n = _generic_chunk(policy, env_id, seeds, epsilon, rng, spec.n_actions)
        rewards.append(r)
        lengths.append(n)
    return EvalResult(
        env_id=env_id,
        seed=seed,
        epsilon=epsilon,
        rewards=np.concatenate(rewards),
        lengths=np.concatenate(lengths),
        seconds=time.perf_counter() - start,
        solved_reward=spec.solved_reward,
    )


def evaluate_sequential(policy: Policy, env_id: str = DEFAULT_ENV, n_episodes: int = 100, seed: int = 0) -> EvalResult:
    """The plain loop: one greedy episode at a time, one state per forward. The reference that
    ``evaluate`` must equal, and the baseline its speed is measured against."""
    spec = env_spec(env_id)
    env = make_env(env_id)
    start = time.perf_counter()
    rewards = np.zeros(n_episodes)
    lengths = np.zeros(n_episodes, dtype=np.int64)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            action = int(policy.greedy_actions(obs[None, :])[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards[i] += reward
            lengths[i] += 1
            done = terminated or truncated
    env.close()
    return EvalResult(
        env_id=env_id,
        seed=seed,
        epsilon=0.0,
        rewards=rewards,
        lengths=lengths,
        seconds=time.perf_counter() - start,
        solved_reward=spec.solved_reward,
    )
