"""Looking inside an agent: its Q-values and greedy policy over a 2-D slice of the state space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rl_core.envinfo import env_info


@dataclass
class QSlice:
    env_id: str
    dims: tuple[int, int]  # (x axis, y axis) state dimensions
    xs: np.ndarray
    ys: np.ndarray
    q: np.ndarray  # (len(ys), len(xs), n_actions)
    base_state: np.ndarray  # the values of the other dimensions

    @property
    def greedy(self) -> np.ndarray:
        return np.argmax(self.q, axis=-1)

    @property
    def names(self) -> tuple[str, str]:
        names = env_info(self.env_id).state_names
        return names[self.dims[0]], names[self.dims[1]]


def q_slice(
    policy,
    env_id: str,
    dims: Sequence[int] | None = None,
    base_state: np.ndarray | None = None,
    resolution: int = 61,
    ranges: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> QSlice:
    """Q-values of ``policy`` on a grid over two state dimensions, the others held at ``base_state``."""
    info = env_info(env_id)
    n = len(info.state_names)
    dims = tuple(dims) if dims is not None else info.default_slice
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= d < n for d in dims):
        raise ValueError(f"dims must be two different state dimensions in 0..{n - 1}, got {dims}")
    if not 2 <= resolution <= 400:
        raise ValueError(f"resolution must be in 2..400, got {resolution}")
    base = np.zeros(n, dtype=np.float32) if base_state is None else np.asarray(base_state, dtype=np.float32)
    if base.shape != (n,):
        raise ValueError(f"base_state must have {n} values, got {base.shape}")
    (x_lo, x_hi), (y_lo, y_hi) = ranges or (info.slice_ranges[dims[0]], info.slice_ranges[dims[1]])
    xs = np.linspace(x_lo, x_hi, resolution, dtype=np.float32)
    ys = np.linspace(y_lo, y_hi, resolution, dtype=np.float32)
    grid = np.repeat(base[None, :], resolution * resolution, axis=0)
    gx, gy = np.meshgrid(xs, ys)  # rows follow y, columns follow x
    grid[:, dims[0]] = gx.ravel()
    grid[:, dims[1]] = gy.ravel()
    q = np.asarray(policy.q_values(grid)).reshape(resolution, resolution, -1)
    return QSlice(env_id=env_id, dims=(int(dims[0]), int(dims[1])), xs=xs, ys=ys, q=q, base_state=base)
