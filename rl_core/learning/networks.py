"""The Q-network: a linear map (no hidden layers) or an MLP with ReLU, and a fast numpy view of it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import init


def build_q_network(
    obs_dim: int,
    n_actions: int,
    hidden_layers: Sequence[int],
    generator: torch.Generator | None = None,
    initialise: bool = True,
) -> nn.Sequential:
    """Linear layers in order (state_dict keys "0.weight", "0.bias", "2.weight", ...), ReLU between.

    Weights are drawn as ``nn.Linear`` draws them (same distributions, same order), from
    ``generator`` when given, else from torch's global generator. ``initialise=False`` leaves them
    uninitialised and draws nothing: for a network whose weights are loaded next.
    """
    layers: list[nn.Module] = []
    width = obs_dim
    for out in [*hidden_layers, n_actions]:
        # skip_init builds without drawing; the draws below are nn.Linear.reset_parameters' own.
        linear = torch.nn.utils.skip_init(nn.Linear, width, out)
        if initialise:
            init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(width) if width > 0 else 0
            init.uniform_(linear.bias, -bound, bound, generator=generator)
        layers += [linear, nn.ReLU()]
        width = out
    return nn.Sequential(*layers[:-1])


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def expected_shapes(obs_dim: int, n_actions: int, hidden_layers: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The state_dict a network of this shape has: key -> tensor shape."""
    return {k: tuple(v.shape) for k, v in build_q_network(obs_dim, n_actions, hidden_layers).state_dict().items()}


class NumpyQNetwork:
    """Greedy inference in numpy on arrays that share memory with the torch weights.

    A small torch forward costs ~65 µs of op overhead per call; the same forward in numpy on
    shared arrays ~16 µs, and it stays current as the optimiser updates the weights in place.
    """

    def __init__(self, net: nn.Sequential):
        linears = [m for m in net if isinstance(m, nn.Linear)]
        # .numpy() on a CPU tensor shares its storage; the optimiser's in-place updates show here.
        self._weights_t = [m.weight.detach().numpy().T for m in linears]
        self._biases = [m.bias.detach().numpy() for m in linears]

    def __call__(self, states: np.ndarray) -> np.ndarray:
        h = states
        last = len(self._weights_t) - 1
        for i, (w_t, b) in enumerate(zip(self._weights_t, self._biases)):
            h = h @ w_t
            h += b
            if i < last:
                np.maximum(h, 0.0, out=h)
        return h
