"""Plotly figure builders: plain data in, ``go.Figure`` out. No Streamlit, no state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    return [asdict(r) if is_dataclass(r) else dict(r) for r in records]


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return x
    window = max(1, int(window))
    cumulative = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, len(x) + 1)
    start = np.maximum(0, idx - window)
    return (cumulative[idx] - cumulative[start]) / (idx - start)


def _layout(fig: go.Figure, title: str, large: bool, height: int) -> go.Figure:
    fig.update_layout(
        title=title, height=height + (120 if large else 0), margin=dict(l=50, r=20, t=50, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        font=dict(size=20 if large else 13), template="plotly_white",
    )
    return fig


def training_figure(episodes: Sequence[Any], evaluations: Sequence[Any] = (), window: int = 20,
                    solved_reward: float | None = None, title: str = "Reward per episode",
                    large: bool = False, meta: dict[str, Any] | None = None) -> go.Figure:
    """Reward per episode, its rolling mean, and the periodic greedy evaluations (mean +- std).

    ``meta`` rides along in the figure's layout (the live page stores when its data was produced,
    so a browser-side benchmark can measure how far the chart lags behind training).
    """
    eps, evs = _rows(episodes), _rows(evaluations)
    width = 4 if large else 2
    fig = go.Figure()
    x = [e["episode"] for e in eps]
    rewards = [e["reward"] for e in eps]
    fig.add_trace(go.Scatter(x=x, y=rewards, mode="lines", name="reward", line=dict(color="#9ecae1", width=1)))
    fig.add_trace(go.Scatter(x=x, y=rolling_mean(rewards, window), mode="lines", name=f"rolling mean ({window})",
                             line=dict(color=PALETTE[0], width=width + 1)))
    if evs:
        fig.add_trace(go.Scatter(
            x=[e["episode"] for e in evs], y=[e["mean"] for e in evs], mode="markers+lines", name="greedy evaluation",
            error_y=dict(type="data", array=[e["std"] for e in evs], visible=True),
            marker=dict(color=PALETTE[1], size=10 if large else 7), line=dict(color=PALETTE[1], width=1, dash="dot"),
        ))
    if solved_reward is not None:
        fig.add_hline(y=solved_reward, line=dict(color="#2ca02c", dash="dash", width=width), annotation_text="solved")
    fig.update_xaxes(title="episode")
    fig.update_yaxes(title="reward")
    if meta:
        fig.update_layout(meta=meta)
    return _layout(fig, title, large, 360)


def epsilon_loss_figure(episodes: Sequence[Any], large: bool = False) -> go.Figure:
    """Epsilon (exploration) and the mean training loss per episode, one above the other."""
    eps = _rows(episodes)
    x = [e["episode"] for e in eps]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("epsilon", "loss (log scale)"))
    width = 4 if large else 2
    fig.add_trace(go.Scatter(x=x, y=[e["epsilon"] for e in eps], mode="lines", name="epsilon",
                             line=dict(color=PALETTE[3], width=width)), row=1, col=1)
    loss = [e["loss"] if e["loss"] is not None and np.isfinite(e["loss"]) and e["loss"] > 0 else None for e in eps]
    fig.add_trace(go.Scatter(x=x, y=loss, mode="lines", name="loss", line=dict(color=PALETTE[4], width=width)),
                  row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title="episode")
    fig.update_layout(showlegend=False)
    return _layout(fig, "", large, 260)


def reward_histogram(rewards_by_agent: Mapping[str, Sequence[float]], solved_reward: float | None = None,
                     title: str = "Rewards over the evaluation episodes", large: bool = False) -> go.Figure:
    """One histogram per agent, overlaid, on shared bins."""
    fig = go.Figure()
    all_values = np.concatenate([np.asarray(v, dtype=float) for v in rewards_by_agent.values()]) \
        if rewards_by_agent else np.zeros(1)
    lo, hi = float(all_values.min()), float(all_values.max())
    size = max(1.0, (hi - lo) / 50) if hi > lo else 1.0
    for i, (name, values) in enumerate(rewards_by_agent.items()):
        fig.add_trace(go.Histogram(x=list(values), name=name, opacity=0.6 if len(rewards_by_agent) > 1 else 0.9,
                                   xbins=dict(start=lo - size / 2, end=hi + size / 2, size=size),
                                   marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="overlay")
    if solved_reward is not None and lo <= solved_reward <= hi + size:
        fig.add_vline(x=solved_reward, line=dict(color="#2ca02c", dash="dash"))
    fig.update_xaxes(title="episode reward")
    fig.update_yaxes(title="episodes")
    return _layout(fig, title, large, 320)


def curves_figure(histories: Mapping[str, Sequence[Any]], window: int = 20, solved_reward: float | None = None,
                  large: bool = False) -> go.Figure:
    """Rolling-mean training curves of several agents, overlaid."""
    fig = go.Figure()
    for i, (name, history) in enumerate(histories.items()):
        rows = _rows(history)
        fig.add_trace(go.Scatter(x=[r["episode"] for r in rows], y=rolling_mean([r["reward"] for r in rows], window),
                                 mode="lines", name=name,
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=4 if large else 2)))
    if solved_reward is not None:
        fig.add_hline(y=solved_reward, line=dict(color="#2ca02c", dash="dash"))
    fig.update_xaxes(title="episode")
    fig.update_yaxes(title=f"reward (rolling mean of {window})")
    return _layout(fig, "Training curves", large, 340)


def state_histograms(states: np.ndarray, names: Sequence[str], large: bool = False) -> go.Figure:
    """One histogram per state dimension of the states a policy visited."""
    n = states.shape[1]
    cols = 2 if n <= 4 else 3
    rows = int(np.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(names))
    for i in range(n):
        fig.add_trace(go.Histogram(x=states[:, i], nbinsx=60, marker_color=PALETTE[i % len(PALETTE)], name=names[i]),
                      row=i // cols + 1, col=i % cols + 1)
    fig.update_layout(showlegend=False)
    return _layout(fig, "States visited by the random policy", large, 220 * rows)


def imitation_figure(curves: Mapping[str, Sequence[Any]], large: bool = False) -> go.Figure:
    """Per architecture: train (solid) and test (dashed) loss and accuracy over the epochs."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("cross-entropy loss", "accuracy"))
    width = 4 if large else 2
    for i, (label, epochs) in enumerate(curves.items()):
        rows = _rows(epochs)
        x = [r["epoch"] for r in rows]
        color = PALETTE[i % len(PALETTE)]
        for split, dash in (("train", "solid"), ("test", "dash")):
            fig.add_trace(go.Scatter(x=x, y=[r[f"{split}_loss"] for r in rows], mode="lines", name=f"{label} {split}",
                                     legendgroup=label, line=dict(color=color, dash=dash, width=width)), row=1, col=1)
            fig.add_trace(go.Scatter(x=x, y=[r[f"{split}_acc"] for r in rows], mode="lines", name=f"{label} {split}",
                                     legendgroup=label, showlegend=False,
                                     line=dict(color=color, dash=dash, width=width)), row=1, col=2)
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(range=[0.4, 1.0], row=1, col=2)
    return _layout(fig, "", large, 360)


def seeds_figure(rows: Sequence[Mapping[str, Any]], solved_at: float | None = None, large: bool = False) -> go.Figure:
    """One point per seed (its evaluation mean) over a box of their spread."""
    means = [r["mean"] for r in rows]
    labels = [f"seed {r['seed']}" for r in rows]
    fig = go.Figure(go.Box(y=means, boxpoints="all", jitter=0.4, pointpos=0, text=labels, name="evaluation mean",
                           marker=dict(color=PALETTE[0], size=12 if large else 8), line=dict(color=PALETTE[0]),
                           hovertemplate="%{text}: %{y:.1f}<extra></extra>"))
    if solved_at is not None:
        fig.add_hline(y=solved_at, line=dict(color="#2ca02c", dash="dash"), annotation_text="solved")
    fig.update_yaxes(title="greedy evaluation mean")
    return _layout(fig, "One config, many seeds", large, 360)


ACTION_COLORS = ("#4575b4", "#d73027", "#1a9850")


def q_heatmap_figure(qslice: Any, show: str = "policy", trajectory: np.ndarray | None = None,
                     action_names: Sequence[str] = (), large: bool = False) -> go.Figure:
    """The greedy policy ("policy"), one action's Q ("q0", "q1", ...) or the max Q ("value") over
    a 2-D slice, with an episode's path through the same two dimensions drawn on top."""
    x_name, y_name = qslice.names
    n_actions = qslice.q.shape[-1]
    if show == "policy":
        z = qslice.greedy
        scale = [[i / max(1, n_actions - 1), ACTION_COLORS[i % 3]] for i in range(n_actions)]
        if n_actions == 2:
            scale = [[0, ACTION_COLORS[0]], [0.5, ACTION_COLORS[0]], [0.5, ACTION_COLORS[1]], [1, ACTION_COLORS[1]]]
        names = list(action_names) or [str(a) for a in range(n_actions)]
        heat = go.Heatmap(x=qslice.xs, y=qslice.ys, z=z, zmin=0, zmax=n_actions - 1, colorscale=scale,
                          colorbar=dict(tickvals=list(range(n_actions)), ticktext=names, title="greedy action"),
                          hovertemplate=f"{x_name}=%{{x:.3f}}<br>{y_name}=%{{y:.3f}}<br>action %{{z}}<extra></extra>")
        title = "Greedy policy"
    else:
        z = qslice.q.max(axis=-1) if show == "value" else qslice.q[..., int(show[1:])]
        heat = go.Heatmap(x=qslice.xs, y=qslice.ys, z=z, colorscale="Viridis", colorbar=dict(title="Q"),
                          hovertemplate=f"{x_name}=%{{x:.3f}}<br>{y_name}=%{{y:.3f}}<br>Q=%{{z:.2f}}<extra></extra>")
        title = "max Q (state value)" if show == "value" else f"Q of action {show[1:]}"
    fig = go.Figure(heat)
    if trajectory is not None and len(trajectory):
        i, j = qslice.dims
        fig.add_trace(go.Scatter(x=trajectory[:, i], y=trajectory[:, j], mode="lines+markers", name="episode",
                                 line=dict(color="white", width=4 if large else 2),
                                 marker=dict(size=4, color="black"), showlegend=False))
        fig.add_trace(go.Scatter(x=[trajectory[0, i]], y=[trajectory[0, j]], mode="markers", name="start",
                                 marker=dict(size=14, color="white", line=dict(color="black", width=2)),
                                 showlegend=False))
    fig.update_xaxes(title=x_name, range=[float(qslice.xs[0]), float(qslice.xs[-1])])
    fig.update_yaxes(title=y_name, range=[float(qslice.ys[0]), float(qslice.ys[-1])])
    return _layout(fig, title, large, 420)
