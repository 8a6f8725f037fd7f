"""The supervised crash course: learn the perfect agent's policy from (state, action) pairs.

Unlike Q-learning, the targets here are fixed: the expert's action in each state. That makes it
the place to see under- and overfitting plainly before mixing networks with moving targets.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from rl_core.config import IMITATION_BOUNDS, MAX_HIDDEN_LAYERS, MAX_HIDDEN_WIDTH
from rl_core.envinfo import DEFAULT_ENV, env_info
from rl_core.learning.envs import env_spec, make_env
from rl_core.learning.evaluation import EvalResult, evaluate
from rl_core.learning.networks import build_q_network, count_parameters
from rl_core.presets import COURSE_ENV

EXPERT_ENV = COURSE_ENV  # the crash course imitates the perfect agent of the course's task
READY_MADE: dict[str, list[int]] = {
    "linear": [],
    "[256]": [256],
    "[256, 256]": [256, 256],
    "[256, 256, 256]": [256, 256, 256],
}


def expert_data(expert, env_id: str, n_rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    """(state, action) rows from the expert's greedy episodes, the first reset with ``seed``.

    Later episodes continue the env's random stream, so one seed fixes the whole table; rows
    from two different seeds come from different episodes and never coincide.
    """
    max_rows = int(IMITATION_BOUNDS["rows"].high)
    if not 1 <= n_rows <= max_rows:
        raise ValueError(f"n_rows must be in 1..{max_rows:,}, got {n_rows}")
    env = make_env(env_id)
    states = np.empty((n_rows, len(env_info(env_id).state_columns)), dtype=np.float32)
    actions = np.empty(n_rows, dtype=np.int64)
    episodes = np.empty(n_rows, dtype=np.int64)
    obs, _ = env.reset(seed=seed)
    episode = 0
    for i in range(n_rows):
        action = int(expert.greedy_actions(obs[None, :])[0])
        states[i], actions[i], episodes[i] = obs, action, episode
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
            episode += 1
    env.close()
    table = pd.DataFrame(states, columns=list(env_info(env_id).state_columns))
    table["action"] = actions
    table["episode"] = episodes
    return table


class StateActionDataset(Dataset):
    """A table of expert rows as torch tensors: state features in, action label out."""

    def __init__(self, table: pd.DataFrame, feature_columns: Sequence[str]):
        self.states = torch.tensor(table[list(feature_columns)].to_numpy(np.float32))
        self.actions = torch.tensor(table["action"].to_numpy(np.int64))

    def __len__(self) -> int:
        return len(self.actions)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.states[i], self.actions[i]


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    seconds: float


@dataclass
class ImitationResult:
    hidden_layers: list[int]
    parameters: int
    epochs: list[EpochRecord] = field(default_factory=list)
    model: torch.nn.Module | None = None
    stopped: bool = False
    seconds: float = 0.0

    @property
    def train_acc(self) -> float:
        return self.epochs[-1].train_acc if self.epochs else math.nan

    @property
    def test_acc(self) -> float:
        return self.epochs[-1].test_acc if self.epochs else math.nan


class ClassifierPolicy:
    """A trained classifier used as a greedy policy: the action with the highest logit."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def greedy_actions(self, states: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.as_tensor(np.asarray(states, dtype=np.float32))).argmax(dim=1).numpy()


def _measure(model: torch.nn.Module, dataset: StateActionDataset) -> tuple[float, float]:
    with torch.no_grad():
        logits = model(dataset.states)
        loss = F.cross_entropy(logits, dataset.actions).item()
        acc = (logits.argmax(dim=1) == dataset.actions).float().mean().item()
    return loss, acc


def train_classifier(
    train_table: pd.DataFrame,
    test_table: pd.DataFrame,
    hidden_layers: Sequence[int],
    epochs: int = 150,
    learning_rate: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    env_id: str = DEFAULT_ENV,
    callback: Callable[[EpochRecord], None] | None = None,
    stop_event: threading.Event | None = None,
) -> ImitationResult:
    """Cross-entropy, Adam, mini-batches from a shuffling DataLoader; train and test metrics per epoch."""
    if epochs <= 0:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if epochs > IMITATION_BOUNDS["epochs"].high:
        raise ValueError(f"epochs must be at most {IMITATION_BOUNDS['epochs'].high:g}, got {epochs}")
    if any(w <= 0 for w in hidden_layers):
        raise ValueError(f"hidden layer widths must be positive, got {list(hidden_layers)}")
    if len(hidden_layers) > MAX_HIDDEN_LAYERS or any(w > MAX_HIDDEN_WIDTH for w in hidden_layers):
        raise ValueError(
            f"at most {MAX_HIDDEN_LAYERS} hidden layers of widths up to {MAX_HIDDEN_WIDTH}, got {list(hidden_layers)}"
        )
    columns = list(env_info(env_id).state_columns)
    n_actions = env_spec(env_id).n_actions
    torch.manual_seed(seed)
    model = build_q_network(len(columns), n_actions, list(hidden_layers))
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    train_set, test_set = StateActionDataset(train_table, columns), StateActionDataset(test_table, columns)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    result = ImitationResult(hidden_layers=list(hidden_layers), parameters=count_parameters(model), model=model)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        if stop_event is not None and stop_event.is_set():
            result.stopped = True
            break
        model.train()
        for states, actions in loader:
            loss = F.cross_entropy(model(states), actions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        train_loss, train_acc = _measure(model, train_set)
        test_loss, test_acc = _measure(model, test_set)
        record = EpochRecord(epoch, train_loss, train_acc, test_loss, test_acc, time.perf_counter() - start)
        result.epochs.append(record)
        if callback:
            callback(record)
    result.seconds = time.perf_counter() - start
    return result


def evaluate_as_policy(
    result: ImitationResult, env_id: str = DEFAULT_ENV, n_episodes: int = 1000, seed: int = 0
) -> EvalResult:
    """How well the imitation balances the pole when it is in charge (fast vector evaluation)."""
    if result.model is None:
        raise ValueError("this imitation result holds no model")
    return evaluate(ClassifierPolicy(result.model), env_id, n_episodes=n_episodes, seed=seed)
