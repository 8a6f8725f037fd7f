"""The figures that are not training curves: reward and state histograms, imitation curves, seed
sweeps, Optuna's charts restyled, Q-value heatmaps. Pure functions: data in, figure out (the shared
style is rl_core/present/plots.py's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from rl_core.present.plots import (
    ACTION_COLORS,
    PALETTE,
    base_layout,
    column,
    dashed_line,
    level_line,
    records_as_rows,
    rolling_mean,
    two_panels,
)


def reward_histogram(
    rewards_by_agent: Mapping[str, Sequence[float]],
    solved_reward: float | None = None,
    title: str = "Rewards over the evaluation episodes",
    large: bool = False,
) -> go.Figure:
    """One histogram per agent, overlaid, on shared bins."""
    all_values = (
        np.concatenate([np.asarray(v, dtype=float) for v in rewards_by_agent.values()])
        if rewards_by_agent
        else np.zeros(1)
    )
    lo, hi = float(all_values.min()), float(all_values.max())
    size = max(1.0, (hi - lo) / 50) if hi > lo else 1.0
    data = [
        go.Histogram(
            x=list(values),
            name=name,
            opacity=0.6 if len(rewards_by_agent) > 1 else 0.9,
            xbins=dict(start=lo - size / 2, end=hi + size / 2, size=size),
            marker_color=PALETTE[i % len(PALETTE)],
        )
        for i, (name, values) in enumerate(rewards_by_agent.items())
    ]
    shapes = []
    if solved_reward is not None and lo <= solved_reward <= hi + size:
        shapes.append(dashed_line("y", solved_reward, "x"))
    layout = base_layout(
        title,
        large,
        320,
        barmode="overlay",
        shapes=shapes,
        xaxis=dict(title=dict(text="episode reward"), **_one_value_range(lo, hi)),
        yaxis=dict(title=dict(text="episodes")),
    )
    return go.Figure(data=data, layout=layout)


def _one_value_range(lo: float, hi: float) -> dict[str, Any]:
    """Every episode with (almost) the same reward: a window around it, so that the one bar stands
    as a bar at its value instead of Plotly's autorange stretching it into a block."""
    if hi - lo >= 2:
        return {}
    pad = max(10.0, 0.1 * abs(lo))
    return {"range": [lo - pad, hi + pad]}


def curves_figure(
    histories: Mapping[str, Sequence[Any]], window: int = 20, solved_reward: float | None = None, large: bool = False
) -> go.Figure:
    """Rolling-mean training curves of several agents, overlaid."""
    data = []
    for i, (name, history) in enumerate(histories.items()):
        rows = records_as_rows(history)
        data.append(
            go.Scatter(
                x=[r["episode"] for r in rows],
                y=rolling_mean([r["reward"] for r in rows], window),
                mode="lines",
                name=name,
                line=dict(color=PALETTE[i % len(PALETTE)], width=4 if large else 2),
            )
        )
    shapes = [level_line(solved_reward)[0]] if solved_reward is not None else []
    layout = base_layout(
        "Training curves",
        large,
        340,
        shapes=shapes,
        xaxis=dict(title=dict(text="episode")),
        yaxis=dict(title=dict(text=f"reward (rolling mean of {window})")),
    )
    return go.Figure(data=data, layout=layout)


def state_histograms(states: np.ndarray, names: Sequence[str], large: bool = False) -> go.Figure:
    """One histogram per state dimension of the states a policy visited, in a grid of panels."""
    n = states.shape[1]
    cols = 2 if n <= 4 else 3
    rows = int(np.ceil(n / cols))
    gap_x, gap_y = 0.08, 0.12
    width, height = (1 - gap_x * (cols - 1)) / cols, (1 - gap_y * (rows - 1)) / rows
    data, axes, titles = [], {}, []
    for i in range(n):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0, y1 = c * (width + gap_x), 1 - r * (height + gap_y)
        axes[f"xaxis{suffix}"] = dict(domain=[max(0.0, x0), min(1.0, x0 + width)], anchor=f"y{suffix}")
        axes[f"yaxis{suffix}"] = dict(domain=[max(0.0, y1 - height), min(1.0, y1)], anchor=f"x{suffix}")
        data.append(
            go.Histogram(
                x=states[:, i],
                nbinsx=60,
                marker_color=PALETTE[i % len(PALETTE)],
                name=names[i],
                xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
            )
        )
        titles.append(
            dict(
                text=names[i],
                x=x0 + width / 2,
                y=y1,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
            )
        )
    layout = base_layout(
        "States visited by the random policy", large, 220 * rows, showlegend=False, annotations=titles, **axes
    )
    return go.Figure(data=data, layout=layout)


def imitation_figure(curves: Mapping[str, Sequence[Any]], large: bool = False) -> go.Figure:
    """Per architecture: train (solid) and test (dashed) loss and accuracy over the epochs."""
    return go.Figure(imitation_spec(curves, large))


def imitation_spec(curves: Mapping[str, Sequence[Any]], large: bool = False) -> dict[str, Any]:
    """imitation_figure's figure as a plain dict (data, layout), for the live view (see training_spec)."""
    width = 4 if large else 2
    data: list[dict[str, Any]] = []
    for i, (label, epochs) in enumerate(curves.items()):
        x = column(epochs, "epoch")
        color = PALETTE[i % len(PALETTE)]
        for split, dash in (("train", "solid"), ("test", "dash")):
            line = dict(color=color, dash=dash, width=width)
            # loss on the first panel (with the legend entry), accuracy on the second
            for metric, axes in (("loss", {}), ("acc", dict(showlegend=False, xaxis="x2", yaxis="y2"))):
                data.append(
                    dict(
                        type="scatter",
                        x=x,
                        y=column(epochs, f"{split}_{metric}"),
                        mode="lines",
                        name=f"{label} {split}",
                        legendgroup=label,
                        line=line,
                        **axes,
                    )
                )
    panels = two_panels("cross-entropy loss", "accuracy")
    layout = base_layout(
        "",
        large,
        400,
        annotations=panels["annotations"],
        legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="center", x=0.5),
        margin=dict(l=60 if large else 50, r=20, t=50, b=130 if large else 110),
        xaxis={**panels["xaxis"], "title": dict(text="epoch")},
        xaxis2={**panels["xaxis2"], "title": dict(text="epoch")},
        yaxis=dict(),
        yaxis2={**panels["yaxis2"], "range": [0.4, 1.0]},
    )
    return dict(data=data, layout=layout)


def seeds_figure(rows: Sequence[Mapping[str, Any]], solved_at: float | None = None, large: bool = False) -> go.Figure:
    """One bar per seed (its evaluation mean, labelled "seed N"), and the median across seeds."""
    means = [r["mean"] for r in rows]
    labels = [f"seed {r['seed']}" for r in rows]
    bars = go.Bar(
        x=labels,
        y=means,
        name="evaluation mean",
        marker=dict(color=PALETTE[0]),
        text=[f"{m:.0f}" for m in means],
        textposition="outside",
        hovertemplate="%{x}: %{y:.1f}<extra></extra>",
    )
    shapes, notes = [], []
    if means:
        median = float(np.median(means))
        shapes.append(
            dict(
                type="line",
                xref="paper",
                x0=0,
                x1=1,
                y0=median,
                y1=median,
                line=dict(color=PALETTE[3], dash="dot", width=2),
            )
        )
        notes.append(
            dict(
                text=f"median {median:.0f}",
                xref="paper",
                x=0,
                y=median,
                xanchor="left",
                yanchor="bottom",
                showarrow=False,
                font=dict(color=PALETTE[3]),
            )
        )
    if solved_at is not None:
        shape, solved_notes = level_line(solved_at, "solved")
        shapes.append(shape)
        notes += solved_notes
    top = max(means + [solved_at or 0]) if means else (solved_at or 1)
    layout = base_layout(
        "One config, many seeds",
        large,
        360,
        shapes=shapes,
        annotations=notes,
        showlegend=False,
        xaxis=dict(title=dict(text="seed"), type="category"),
        yaxis=dict(title=dict(text="greedy evaluation mean"), range=[min(0, min(means, default=0)) * 1.1, top * 1.15]),
    )
    return go.Figure(data=[bars], layout=layout)


def optuna_figure(figure: go.Figure, large: bool = False) -> go.Figure:
    """Optuna's own charts with room for their labels (the parallel-coordinate axes' end labels
    are otherwise cut at the figure's edges) and the app's type size."""
    figure.update_layout(margin=dict(l=90, r=90, t=80, b=60), font=dict(size=20 if large else 13))
    return figure


def q_heatmap_figure(
    qslice: Any,
    show: str = "policy",
    trajectory: np.ndarray | None = None,
    action_names: Sequence[str] = (),
    large: bool = False,
) -> go.Figure:
    """The greedy policy ("policy"), one action's Q ("q0", "q1", ...) or the max Q ("value") over
    a 2-D slice, with an episode's path through the same two dimensions drawn on top."""
    x_name, y_name = qslice.names
    n_actions = qslice.q.shape[-1]
    if show == "policy":
        scale = [[i / max(1, n_actions - 1), ACTION_COLORS[i % 3]] for i in range(n_actions)]
        if n_actions == 2:
            scale = [[0, ACTION_COLORS[0]], [0.5, ACTION_COLORS[0]], [0.5, ACTION_COLORS[1]], [1, ACTION_COLORS[1]]]
        names = list(action_names) or [str(a) for a in range(n_actions)]
        heat = go.Heatmap(
            x=qslice.xs,
            y=qslice.ys,
            z=qslice.greedy,
            zmin=0,
            zmax=n_actions - 1,
            colorscale=scale,
            colorbar=dict(tickvals=list(range(n_actions)), ticktext=names, title="greedy action"),
            hovertemplate=f"{x_name}=%{{x:.3f}}<br>{y_name}=%{{y:.3f}}<br>action %{{z}}<extra></extra>",
        )
        title = "Greedy policy"
    else:
        z = qslice.q.max(axis=-1) if show == "value" else qslice.q[..., int(show[1:])]
        heat = go.Heatmap(
            x=qslice.xs,
            y=qslice.ys,
            z=z,
            colorscale="Viridis",
            colorbar=dict(title="Q"),
            hovertemplate=f"{x_name}=%{{x:.3f}}<br>{y_name}=%{{y:.3f}}<br>Q=%{{z:.2f}}<extra></extra>",
        )
        title = "max Q (state value)" if show == "value" else f"Q of action {show[1:]}"
    data = [heat]
    if trajectory is not None and len(trajectory):
        i, j = qslice.dims
        data.append(
            go.Scatter(
                x=trajectory[:, i],
                y=trajectory[:, j],
                mode="lines+markers",
                name="episode",
                line=dict(color="white", width=4 if large else 2),
                marker=dict(size=4, color="black"),
                showlegend=False,
            )
        )
        data.append(
            go.Scatter(
                x=[trajectory[0, i]],
                y=[trajectory[0, j]],
                mode="markers",
                name="start",
                marker=dict(size=14, color="white", line=dict(color="black", width=2)),
                showlegend=False,
            )
        )
    layout = base_layout(
        title,
        large,
        420,
        xaxis=dict(title=dict(text=x_name), range=[float(qslice.xs[0]), float(qslice.xs[-1])]),
        yaxis=dict(title=dict(text=y_name), range=[float(qslice.ys[0]), float(qslice.ys[-1])]),
    )
    return go.Figure(data=data, layout=layout)
