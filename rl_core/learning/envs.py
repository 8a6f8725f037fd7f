"""Making environments, reading their sizes from their spaces, and the state normaliser."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from rl_core.envinfo import env_info


def ensure_headless_display() -> None:
    """pygame needs a video driver; on a machine with no display use SDL's dummy one."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


def check_env_id(env_id: str) -> None:
    """ValueError naming the supported environments unless ``env_id`` is one (rl_core.envinfo)."""
    env_info(env_id)


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    check_env_id(env_id)
    if render_mode is not None:
        ensure_headless_display()
    return gym.make(env_id, render_mode=render_mode)


@dataclass(frozen=True)
class EnvSpec:
    """What an agent needs to know about an env: sizes, time limit and what counts as solved."""

    env_id: str
    obs_dim: int
    n_actions: int
    max_episode_steps: int
    solved_reward: float  # an episode at or above this counts as solved
    obs_low: np.ndarray
    obs_high: np.ndarray


@functools.cache  # a live view asks every tick, and making an env costs ~1 ms; three ids exist
def env_spec(env_id: str) -> EnvSpec:
    check_env_id(env_id)
    env = gym.make(env_id)
    try:
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(act_space, gym.spaces.Discrete):
            raise ValueError(f"{env_id} has a {type(act_space).__name__} action space; Q agents need a discrete one")
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise ValueError(f"{env_id} must have a flat Box observation space")
        return EnvSpec(
            env_id=env_id,
            obs_dim=int(obs_space.shape[0]),
            n_actions=int(act_space.n),
            max_episode_steps=_time_limit(env),
            solved_reward=env_info(env_id).solved_reward,
            obs_low=_read_only(obs_space.low),
            obs_high=_read_only(obs_space.high),
        )
    finally:
        env.close()


def _read_only(values: np.ndarray) -> np.ndarray:
    """A copy nobody can change: every caller of env_spec shares one spec."""
    copy = np.array(values, dtype=np.float64)
    copy.setflags(write=False)
    return copy


def observed_ranges(env_id: str, n_steps: int = 10_000, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """The declared observation bounds beside what the random policy actually visits.

    Returns one row per state dimension and the visited states themselves (for histograms).
    """
    if not 1 <= n_steps <= 1_000_000:
        raise ValueError(f"n_steps must be in 1..1,000,000, got {n_steps}")
    spec = env_spec(env_id)
    states = random_states(env_id, n_steps, seed)
    rows = []
    for i, name in enumerate(env_info(env_id).state_names):
        column = states[:, i].astype(np.float64)
        rows.append(
            {
                "state": name,
                "declared low": float(spec.obs_low[i]),
                "declared high": float(spec.obs_high[i]),
                "observed min": float(column.min()),
                "observed max": float(column.max()),
                "observed mean": float(column.mean()),
                "observed std": float(column.std()),
            }
        )
    return rows, states


def _time_limit(env: gym.Env) -> int:
    if env.spec is None or env.spec.max_episode_steps is None:
        raise ValueError(f"{env} has no time limit; the supported envs all have one")
    return int(env.spec.max_episode_steps)


def random_states(env_id: str, n_steps: int, seed: int) -> np.ndarray:
    """States visited by the random policy over ``n_steps`` steps (episodes reset as they end)."""
    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    spec = env_spec(env_id)
    n_actions = spec.n_actions
    states = np.empty((n_steps, spec.obs_dim), dtype=np.float32)
    obs, _ = env.reset(seed=seed)
    for t in range(n_steps):
        states[t] = obs
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(n_actions)))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return states


@dataclass
class StateNormalizer:
    """Standardises states with a mean and std estimated from exploration, not from the declared
    bounds: CartPole declares its velocities unbounded, so those bounds say nothing."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit_random(cls, env_id: str, n_steps: int, seed: int) -> StateNormalizer:
        states = random_states(env_id, n_steps, seed).astype(np.float64)
        std = states.std(axis=0)
        return cls(mean=states.mean(axis=0).astype(np.float32), std=np.maximum(std, 1e-6).astype(np.float32))

    def __call__(self, states: np.ndarray) -> np.ndarray:
        return ((states - self.mean) / self.std).astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}
