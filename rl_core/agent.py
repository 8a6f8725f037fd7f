"""The Q agent (act, observe, learn, target sync) and the random baseline."""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F

from .config import AgentConfig
from .envs import EnvSpec, StateNormalizer, env_spec
from .networks import NumpyQNetwork, build_q_network, count_parameters
from .replay import ReplayBuffer

# nn.Linear initialises from torch's global generator: two threads building agents at once must
# not interleave their draws, or the same seed would give different networks.
_INIT_LOCK = threading.Lock()


class TrainingDiverged(RuntimeError):
    """The loss or a Q-value stopped being a finite number; training on would be training on garbage."""


class QAgent:
    """Parametric Q-learning with a replay memory and a target network.

    Every env step goes through ``act`` then ``observe``. ``observe`` stores the transition, copies
    the online weights to the target network every ``freq_steps_update_target`` env steps, and
    after the warm-up runs ``n_gradient_steps`` gradient steps every ``freq_steps_train`` env steps.
    """

    def __init__(self, config: AgentConfig, normalizer: StateNormalizer | None = None, spec: EnvSpec | None = None):
        self.config = config.validate()
        self.spec = spec or env_spec(config.env_id)
        c = self.config
        if c.normalize_state and normalizer is None:
            normalizer = StateNormalizer.fit_random(c.env_id, c.normalizer_steps, c.seed)
        self.normalizer = normalizer if c.normalize_state else None
        with _INIT_LOCK:
            torch.manual_seed(c.seed)
            self.q_net = build_q_network(self.spec.obs_dim, self.spec.n_actions, c.nn_hidden_layers)
            self.target_net = build_q_network(self.spec.obs_dim, self.spec.n_actions, c.nn_hidden_layers)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=c.learning_rate, fused=True)
        self._params = list(self.q_net.parameters())
        self._fast_q = NumpyQNetwork(self.q_net)
        self._memory: ReplayBuffer | None = None  # allocated on first use: evaluation needs none
        self.rng = np.random.default_rng(c.seed + 2)  # exploration
        self.env_steps = 0
        self.n_gradient_steps_done = 0
        self.n_target_syncs = 0

    @property
    def memory(self) -> ReplayBuffer:
        if self._memory is None:
            self._memory = ReplayBuffer(self.config.memory_size, self.spec.obs_dim, seed=self.config.seed + 1)
        return self._memory

    # --- acting -------------------------------------------------------------------------------

    @property
    def n_parameters(self) -> int:
        return count_parameters(self.q_net)

    def epsilon_at(self, env_step: int) -> float:
        """Linear decay from epsilon_start to epsilon_end over steps_epsilon_decay env steps."""
        c = self.config
        fraction = min(env_step / c.steps_epsilon_decay, 1.0)
        return c.epsilon_start + fraction * (c.epsilon_end - c.epsilon_start)

    @property
    def epsilon(self) -> float:
        return self.epsilon_at(self.env_steps)

    def preprocess(self, states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float32)
        return self.normalizer(states) if self.normalizer is not None else states

    def q_values(self, states: np.ndarray) -> np.ndarray:
        """Q-values of raw env states, shape (n, n_actions) (or (n_actions,) for one state)."""
        return self._fast_q(self.preprocess(states))

    def greedy_actions(self, states: np.ndarray) -> np.ndarray:
        return np.argmax(self.q_values(states), axis=-1)

    def act(self, state: np.ndarray, epsilon: float | None = None) -> int:
        """Epsilon-greedy action; the schedule's epsilon unless one is given (0 = greedy)."""
        eps = self.epsilon if epsilon is None else epsilon
        if eps > 0 and self.rng.random() < eps:
            return int(self.rng.integers(self.spec.n_actions))
        q = self.q_values(state)
        if not np.isfinite(q).all():
            raise TrainingDiverged(f"Q-values became {q.tolist()} at env step {self.env_steps}")
        return int(np.argmax(q))

    # --- learning -----------------------------------------------------------------------------

    def observe(self, state: np.ndarray, action: int, reward: float, next_state: np.ndarray,
                terminated: bool) -> float | None:
        """Store one transition and learn when it is time; returns the mean loss if it learned.

        ``terminated`` is Gymnasium's: a real end. A time-limit truncation is not one, so its
        transition still bootstraps from the next state.
        """
        c = self.config
        self.memory.add(self.preprocess(state), action, reward, self.preprocess(next_state), terminated)
        self.env_steps += 1
        loss = None
        if self.env_steps >= c.n_steps_warm_up_memory and self.env_steps % c.freq_steps_train == 0:
            loss = self.learn(c.n_gradient_steps)
        # Counted on its own: the target follows every freq_steps_update_target env steps,
        # whether or not a training call falls on that step.
        if self.env_steps % c.freq_steps_update_target == 0:
            self.sync_target()
        return loss

    def sync_target(self) -> None:
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.n_target_syncs += 1

    def learn(self, n_steps: int = 1) -> float:
        """Run ``n_steps`` gradient steps on fresh batches; returns their mean loss."""
        c = self.config
        batch = self.memory.sample(c.batch_size, n_batches=n_steps)
        states = torch.from_numpy(batch.states)
        actions = torch.from_numpy(batch.actions)
        rewards = torch.from_numpy(batch.rewards)
        next_states = torch.from_numpy(batch.next_states)
        not_done = torch.from_numpy(1.0 - batch.terminated)
        total = 0.0
        for k in range(n_steps):
            with torch.no_grad():
                if c.double_dqn:
                    # Double DQN: the online net picks the next action, the target net scores it.
                    best = self.q_net(next_states[k]).argmax(dim=1, keepdim=True)
                    next_q = self.target_net(next_states[k]).gather(1, best).squeeze(1)
                else:
                    next_q = self.target_net(next_states[k]).amax(dim=1)
                target = rewards[k] + c.discount_factor * not_done[k] * next_q
            q = self.q_net(states[k]).gather(1, actions[k].unsqueeze(1)).squeeze(1)
            loss = F.mse_loss(q, target) if c.loss == "mse" else F.smooth_l1_loss(q, target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._params, c.max_grad_norm, foreach=True)
            self.optimizer.step()
            value = loss.item()
            if not np.isfinite(value):
                raise TrainingDiverged(
                    f"the loss became {value} at env step {self.env_steps} "
                    f"(try a smaller learning_rate or max_grad_norm)"
                )
            total += value
        self.n_gradient_steps_done += n_steps
        return total / n_steps


class FrozenQ:
    """A snapshot of a Q-network: its weights (copied), its normaliser, and greedy inference only.

    What a training thread hands to readers: they can look at the Q-function while training goes
    on, and nothing they do touches the live network.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor], hidden_layers: list[int], spec: EnvSpec,
                 normalizer: StateNormalizer | None = None):
        self.spec = spec
        self.normalizer = normalizer
        self.net = build_q_network(spec.obs_dim, spec.n_actions, hidden_layers)
        self.net.load_state_dict(state_dict)
        self._fast_q = NumpyQNetwork(self.net)

    @classmethod
    def of(cls, agent: "QAgent") -> "FrozenQ":
        weights = {k: v.detach().clone() for k, v in agent.q_net.state_dict().items()}
        return cls(weights, agent.config.nn_hidden_layers, agent.spec, agent.normalizer)

    def q_values(self, states: np.ndarray) -> np.ndarray:
        states = np.asarray(states, dtype=np.float32)
        return self._fast_q(self.normalizer(states) if self.normalizer is not None else states)

    def greedy_actions(self, states: np.ndarray) -> np.ndarray:
        return np.argmax(self.q_values(states), axis=-1)


class RandomAgent:
    """Picks uniformly random actions: the baseline every agent must beat."""

    def __init__(self, env_id: str, seed: int = 0):
        self.spec = env_spec(env_id)
        self.rng = np.random.default_rng(seed)

    def act(self, state: np.ndarray, epsilon: float | None = None) -> int:
        return int(self.rng.integers(self.spec.n_actions))

    def greedy_actions(self, states: np.ndarray) -> np.ndarray:
        return self.rng.integers(self.spec.n_actions, size=len(states))
