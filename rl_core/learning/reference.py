"""The DQN gradient step as a textbook writes it, to be read top to bottom.

``QAgent.learn`` computes the same step by hand (its forward and backward passes fused, the
gradients of both layers at once, no autograd graph), which is several times faster and harder to
read. This is the step it must equal: ``tests/test_learning_core.py`` checks the two against each
other weight by weight, and ``bench/gradient_step.py`` times one beside the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rl_core.config import AgentConfig
from rl_core.learning.agent import QAgent
from rl_core.learning.networks import build_q_network
from rl_core.learning.replay import Batch


class ReferenceDQN:
    """A Q-network, its target network and Adam, stepped with nn.Sequential forwards and autograd."""

    def __init__(self, config: AgentConfig, obs_dim: int, n_actions: int, fused: bool = False):
        self.config = config
        self.q_net = build_q_network(obs_dim, n_actions, config.nn_hidden_layers)
        self.target_net = build_q_network(obs_dim, n_actions, config.nn_hidden_layers)
        self.target_net.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=config.learning_rate, fused=fused)

    @classmethod
    def from_agent(cls, agent: QAgent, fused: bool = False) -> ReferenceDQN:
        """A reference starting from the agent's own weights (its Q-network and its target network)."""
        reference = cls(agent.config, agent.spec.obs_dim, agent.spec.n_actions, fused=fused)
        reference.q_net.load_state_dict(agent.q_net.state_dict())
        reference.target_net.load_state_dict(agent.target_net.state_dict())
        return reference

    def step(
        self,
        states: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_states: torch.Tensor,
        terminated: torch.Tensor,
    ) -> float:
        """One gradient step on one batch; returns its loss."""
        c = self.config
        with torch.no_grad():
            if c.double_dqn:  # the online network picks the next action, the target network values it
                best = self.q_net(next_states).argmax(dim=1, keepdim=True)
                next_q = self.target_net(next_states).gather(1, best).squeeze(1)
            else:
                next_q = self.target_net(next_states).max(dim=1).values
            # no bootstrapping past a real end; an episode cut by the time limit is not one
            target = rewards + c.discount_factor * (1.0 - terminated) * next_q
        q = self.q_net(states).gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = F.mse_loss(q, target) if c.loss == "mse" else F.smooth_l1_loss(q, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q_net.parameters(), c.max_grad_norm)
        self.optimizer.step()
        return float(loss.item())

    def learn_on(self, batch: Batch) -> list[float]:
        """A gradient step on each batch of ``batch`` (leading axis k, as ``ReplayBuffer.sample``
        gives with ``n_batches=k``), in order; returns their losses."""
        return [
            self.step(
                torch.from_numpy(batch.states[k]),
                torch.from_numpy(batch.actions[k]),
                torch.from_numpy(batch.rewards[k]),
                torch.from_numpy(batch.next_states[k]),
                torch.from_numpy(batch.terminated[k]),
            )
            for k in range(len(batch.rewards))
        ]
