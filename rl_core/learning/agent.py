"""The Q agent (act, observe, learn, target sync) and the random baseline."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rl_core.config import AgentConfig
from rl_core.learning.envs import EnvSpec, StateNormalizer, env_spec
from rl_core.learning.networks import NumpyQNetwork, build_q_network, count_parameters
from rl_core.learning.replay import Batch, ReplayBuffer

# At most this many transitions are gathered from the replay memory at once: n_gradient_steps
# batches are drawn in one go, but a thousand large batches must not all sit in memory together.
_ROWS_PER_GATHER = 65_536
# DQN's targets of several batches come from one forward of the target network, up to about this
# many multiply-adds (rows x parameters): a few ms, so a stop request still lands between steps.
_TARGET_MACS_PER_FORWARD = 2**26
# torch.nn.utils.clip_grad_norm_'s guard against dividing by a zero norm.
_CLIP_EPS = 1e-6
# ReLU's backward as autograd runs it; the resolved overload skips the op-name lookup on each call.
_RELU_BACKWARD = torch.ops.aten.threshold_backward.default


class TrainingDiverged(RuntimeError):
    """The loss or a Q-value stopped being a finite number; training on would be training on garbage."""


def _linears(net: nn.Sequential) -> list[nn.Linear]:
    return [m for m in net if isinstance(m, nn.Linear)]


def _forward(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    x: torch.Tensor,
    activations: list[torch.Tensor] | None = None,
) -> torch.Tensor:
    """The MLP's forward on raw tensors, without nn.Module calls; collects each layer's input if asked.

    Call it under ``torch.no_grad()``: gradients are computed by hand in ``QAgent._gradient_step``.
    """
    h = x
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases)):
        if activations is not None:
            activations.append(h)
        h = F.linear(h, w, b)
        if i < last:
            h = torch.relu_(h)
    return h


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
        # The agent's own generator: its weights depend on its seed alone, whatever else draws from
        # torch's global generator meanwhile (other trainings, snapshots, user code).
        self.generator = torch.Generator().manual_seed(c.seed)
        self.q_net = build_q_network(
            self.spec.obs_dim, self.spec.n_actions, c.nn_hidden_layers, generator=self.generator
        )
        self.target_net = build_q_network(self.spec.obs_dim, self.spec.n_actions, c.nn_hidden_layers, initialise=False)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        # Made by the first gradient step: an agent loaded for inference never builds one (torch's
        # first Adam imports torch._dynamo, about a second of a CLI render).
        self._optimizer: torch.optim.Adam | None = None
        self._params: list[torch.Tensor] = list(self.q_net.parameters())
        # Raw views of both networks for the hand-written gradient step. load_state_dict copies in
        # place, so these stay current when weights are loaded or restored.
        online, target = _linears(self.q_net), _linears(self.target_net)
        self._weights: list[torch.Tensor] = [m.weight for m in online]
        self._biases: list[torch.Tensor] = [m.bias for m in online]
        self._target_weights: list[torch.Tensor] = [m.weight for m in target]
        self._target_biases: list[torch.Tensor] = [m.bias for m in target]
        self._target_params: list[torch.Tensor] = list(self.target_net.parameters())
        self._grad_flat: torch.Tensor | None = None  # every gradient in one buffer, set up on first use
        self._fast_q = NumpyQNetwork(self.q_net)
        self._memory: ReplayBuffer | None = None  # allocated on first use: evaluation needs none
        self.rng = np.random.default_rng(c.seed + 2)  # exploration
        self.env_steps = 0
        self.n_gradient_steps_done = 0
        self.n_target_syncs = 0

    @property
    def optimizer(self) -> torch.optim.Adam:
        """The online network's Adam, made on first use; its param_groups and state drive the hand-written step."""
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(self.q_net.parameters(), lr=self.config.learning_rate, fused=True)
        return self._optimizer

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

    def observe(
        self,
        state: np.ndarray,
        action: int,
        reward: float,
        next_state: np.ndarray,
        terminated: bool,
        should_stop: Callable[[], bool] | None = None,
    ) -> float | None:
        """Store one transition and learn when it is time; returns the mean loss if it learned.

        ``terminated`` is Gymnasium's: a real end. A time-limit truncation is not one, so its
        transition still bootstraps from the next state. ``should_stop`` is checked between
        gradient steps (see ``learn``).
        """
        c = self.config
        self.memory.add(self.preprocess(state), action, reward, self.preprocess(next_state), terminated)
        self.env_steps += 1
        loss = None
        if self.env_steps >= c.n_steps_warm_up_memory and self.env_steps % c.freq_steps_train == 0:
            loss = self.learn(c.n_gradient_steps, should_stop=should_stop)
        # Counted on its own: the target follows every freq_steps_update_target env steps,
        # whether or not a training call falls on that step.
        if self.env_steps % c.freq_steps_update_target == 0:
            self.sync_target()
        return loss

    def sync_target(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self._target_params, self._params)
        self.n_target_syncs += 1

    def learn(self, n_steps: int = 1, should_stop: Callable[[], bool] | None = None) -> float:
        """Run ``n_steps`` gradient steps on fresh batches; returns their mean loss.

        ``should_stop`` is asked between gradient steps: once it says yes, the remaining steps are
        skipped (the first always runs), so a stop request never waits for a long training call.
        """
        c = self.config
        idx = self.memory.sample_indices(c.batch_size, n_batches=n_steps)
        per_gather = max(1, _ROWS_PER_GATHER // c.batch_size)
        total, done = 0.0, 0
        for start in range(0, n_steps, per_gather):
            chunk_total, chunk_done = self._learn_on(
                self.memory.gather(idx[start : start + per_gather]), should_stop, check_first=start > 0
            )
            total += chunk_total
            done += chunk_done
            if chunk_done < len(idx[start : start + per_gather]):
                break
        return total / done

    def learn_on(self, batch: Batch) -> float:
        """Gradient steps on the given batches (leading axis k, or one batch); returns their mean loss."""
        if batch.rewards.ndim == 1:
            batch = Batch(
                *(a[None] for a in (batch.states, batch.actions, batch.rewards, batch.next_states, batch.terminated))
            )
        total, done = self._learn_on(batch, None, check_first=False)
        return total / done

    def td_targets(self, batch: Batch) -> np.ndarray:
        """The TD targets of one batch under the current networks: r + gamma * (1 - terminated) * Q'(s', a').

        a' is the target network's best action (DQN), or the online network's (Double DQN, then
        scored by the target network).
        """
        with torch.no_grad():
            next_states = torch.from_numpy(np.asarray(batch.next_states, dtype=np.float32))
            online_next_q = _forward(self._weights, self._biases, next_states) if self.config.double_dqn else None
            return self._td_target(
                torch.from_numpy(np.asarray(batch.rewards, dtype=np.float32)),
                torch.from_numpy(self._discount_not_done(batch.terminated)),
                next_states,
                online_next_q,
            ).numpy()

    # --- the gradient step, by hand ---------------------------------------------------------------
    # The same computation as autograd on nn.Sequential with F.mse_loss / F.smooth_l1_loss,
    # clip_grad_norm_ and torch.optim.Adam(fused=True) (tests/test_learning_core.py holds the
    # reference), in about a third of the calls: a [64, 64] network's step is op overhead, not
    # arithmetic. One forward covers states and next states, the backward of an MLP is four ops
    # a layer, every gradient lives in one flat buffer (one norm, one scale), and Adam is the
    # fused kernel called directly on the optimiser's own state.

    def _discount_not_done(self, terminated: np.ndarray) -> np.ndarray:
        return (self.config.discount_factor * (1.0 - np.asarray(terminated, dtype=np.float32))).astype(np.float32)

    def _td_target(
        self,
        rewards: torch.Tensor,
        discount_not_done: torch.Tensor,
        next_states: torch.Tensor,
        online_next_q: torch.Tensor | None,
    ) -> torch.Tensor:
        target_next_q = _forward(self._target_weights, self._target_biases, next_states)
        if online_next_q is not None:
            # Double DQN: the online net picks the next action, the target net scores it.
            next_q = target_next_q.gather(-1, online_next_q.argmax(dim=-1, keepdim=True)).squeeze(-1)
        else:
            next_q = target_next_q.amax(dim=-1)
        return torch.addcmul(rewards, discount_not_done, next_q)

    def _setup_gradients(self) -> None:
        """One flat gradient buffer (views per parameter) and Adam's state, as Adam itself would make it."""
        self._grad_flat = torch.zeros(sum(p.numel() for p in self._params))
        self._grads: list[torch.Tensor] = []
        offset = 0
        for p in self._params:
            self._grads.append(self._grad_flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
        group = self.optimizer.param_groups[0]
        if group["amsgrad"] or group["weight_decay"] or group["maximize"] or not group["fused"]:
            raise ValueError("the hand-written gradient step implements plain fused Adam only")
        # Adam counts steps per parameter; here the counters are views of one tensor, so that
        # counting a step is one op instead of one per parameter.
        self._adam_step_counts = torch.zeros(len(self._params), dtype=torch.float32)
        states = []
        for i, p in enumerate(self._params):
            state = self.optimizer.state[p]
            if state:
                self._adam_step_counts[i] = state["step"]
            else:
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["step"] = self._adam_step_counts[i]
            states.append(state)
        self._adam_steps = [s["step"] for s in states]
        self._exp_avgs = [s["exp_avg"] for s in states]
        self._exp_avg_sqs = [s["exp_avg_sq"] for s in states]

    def _learn_on(self, batch: Batch, should_stop: Callable[[], bool] | None, check_first: bool) -> tuple[float, int]:
        """Gradient steps on batch[0], batch[1], ...; returns (sum of their losses, steps done)."""
        c = self.config
        if self._grad_flat is None:
            self._setup_gradients()
        assert self._grad_flat is not None
        n_batches, n = batch.rewards.shape
        double = c.double_dqn
        # Double DQN reads the online net's Q-values of the next states: one forward over both.
        inputs = np.concatenate([batch.states, batch.next_states], axis=1) if double else batch.states
        inputs_t = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
        actions = torch.from_numpy(np.ascontiguousarray(batch.actions, dtype=np.int64)).unsqueeze(-1)
        rewards = torch.from_numpy(np.ascontiguousarray(batch.rewards, dtype=np.float32))
        discount_not_done = torch.from_numpy(self._discount_not_done(batch.terminated))
        next_states = torch.from_numpy(np.ascontiguousarray(batch.next_states, dtype=np.float32))
        # The target network does not move during a training call: DQN's targets of several batches
        # come from one forward (Double DQN's need the online net as it is at each step).
        per_target_forward = max(1, _TARGET_MACS_PER_FORWARD // (n * len(self._grad_flat)))
        total = 0.0
        done = 0
        with torch.no_grad():
            for k in range(n_batches):
                if (k or check_first) and should_stop is not None and should_stop():
                    break
                activations: list[torch.Tensor] = []
                q_all = _forward(self._weights, self._biases, inputs_t[k], activations)
                if double:
                    target = self._td_target(rewards[k], discount_not_done[k], next_states[k], q_all[n:])
                else:
                    if k % per_target_forward == 0:
                        group = slice(k, k + per_target_forward)
                        targets = self._td_target(rewards[group], discount_not_done[group], next_states[group], None)
                    target = targets[k % per_target_forward]
                total += self._gradient_step(q_all[:n], actions[k], target, activations, n)
                done += 1
        self.n_gradient_steps_done += done
        if not math.isfinite(total):
            raise TrainingDiverged(
                f"the loss became {total / max(done, 1)} at env step {self.env_steps} "
                f"(try a smaller learning_rate or max_grad_norm)"
            )
        return total, done

    def _gradient_step(
        self, q: torch.Tensor, actions: torch.Tensor, target: torch.Tensor, activations: list[torch.Tensor], n: int
    ) -> float:
        """Backward of the loss through the MLP, gradient clipping and one Adam step; returns the loss."""
        c = self.config
        assert self._grad_flat is not None  # set up by _learn_on
        q_taken = q.gather(1, actions).squeeze(1)
        diff = q_taken - target
        if c.loss == "mse":
            loss = torch.dot(diff, diff) / n  # F.mse_loss's value; its Python wrapper costs more than the op
            grad_taken = diff.mul_(2.0 / n)
        else:
            loss = F.smooth_l1_loss(q_taken, target)
            grad_taken = diff.clamp_(-1.0, 1.0).mul_(1.0 / n)
        grad = torch.zeros_like(q).scatter_(1, actions, grad_taken.unsqueeze(1))
        weights, grads = self._weights, self._grads
        for i in range(len(weights) - 1, -1, -1):
            layer_input = activations[i][:n]
            torch.mm(grad.t(), layer_input, out=grads[2 * i])
            torch.sum(grad, 0, out=grads[2 * i + 1])
            if i:
                grad = _RELU_BACKWARD(torch.mm(grad, weights[i]), layer_input, 0)
        norm = float(torch.linalg.vector_norm(self._grad_flat))
        if not math.isfinite(norm):
            raise TrainingDiverged(
                f"the gradient norm became {norm} at env step {self.env_steps} "
                f"(try a smaller learning_rate or max_grad_norm)"
            )
        clip = c.max_grad_norm / (norm + _CLIP_EPS)
        if clip < 1.0:
            self._grad_flat.mul_(clip)
        group = self.optimizer.param_groups[0]
        beta1, beta2 = group["betas"]
        self._adam_step_counts.add_(1.0)
        torch._fused_adam_(
            self._params,
            self._grads,
            self._exp_avgs,
            self._exp_avg_sqs,
            [],
            self._adam_steps,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=0.0,
            eps=group["eps"],
            amsgrad=False,
            maximize=False,
            grad_scale=None,
            found_inf=None,
        )
        return float(loss)


class FrozenQ:
    """A snapshot of a Q-network: its weights (copied), its normaliser, and greedy inference only.

    What a training thread hands to readers: they can look at the Q-function while training goes
    on, and nothing they do touches the live network.
    """

    def __init__(
        self,
        state_dict: dict[str, torch.Tensor],
        hidden_layers: list[int],
        spec: EnvSpec,
        normalizer: StateNormalizer | None = None,
    ):
        self.spec = spec
        self.normalizer = normalizer
        self.net = build_q_network(spec.obs_dim, spec.n_actions, hidden_layers, initialise=False)
        self.net.load_state_dict(state_dict)
        self._fast_q = NumpyQNetwork(self.net)

    @classmethod
    def of(cls, agent: QAgent) -> FrozenQ:
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
