"""Plotly figure builders: plain data in, ``go.Figure`` out. No Streamlit, no state.

Each figure is built in one ``go.Figure(data, layout)`` call with the layout as a plain dict:
Plotly validates on every ``update_*``/``add_hline`` call and on named templates, and the live
charts are rebuilt several times a second (one call: ~5 ms; the incremental style: ~25-45 ms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, cast

import numpy as np
import plotly.graph_objects as go

from rl_core.config import LIVE_EXACT_POINTS, LIVE_OLDER_POINTS

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
ACTION_COLORS = ("#4575b4", "#d73027", "#1a9850")
SOLVED_COLOR = "#2ca02c"
GRID = dict(gridcolor="#e5e5e5", zerolinecolor="#cccccc")
MAX_ERROR_BARS = 30  # more evaluations than this are drawn as a band


def records_as_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    # is_dataclass is also true of a dataclass type; records are instances
    return [asdict(cast(Any, r)) if is_dataclass(r) else dict(r) for r in records]


def column(records: Sequence[Any], name: str) -> np.ndarray:
    """One field of every record (dataclass or mapping) as a float array; None becomes nan.
    Read field by field: dataclasses.asdict on thousands of records cost more than the chart."""
    if not records:
        return np.empty(0)
    if isinstance(records[0], Mapping):
        values = (r[name] for r in records)
    else:
        values = (getattr(r, name) for r in records)
    return np.fromiter((np.nan if v is None else v for v in values), dtype=np.float64, count=len(records))


def decimate(
    x: np.ndarray, ys: Sequence[np.ndarray], exact: int = LIVE_EXACT_POINTS, older: int = LIVE_OLDER_POINTS
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The points of lines over ``x`` worth drawing: the last ``exact`` as they are, the earlier ones
    cut into ``older // 2`` equal buckets of which each keeps the points holding its min and its max
    (of every line in ``ys``, at the same x), in order. A spike is never lost; nan (a gap) is kept
    where a bucket holds nothing else."""
    n = len(x)
    head = n - exact
    if head <= older:
        return x, list(ys)
    buckets = max(1, older // (2 * max(1, len(ys))))
    size = -(-head // buckets)  # ceil: the last bucket may be short
    padded = buckets * size
    keep = [np.array([0, head - 1])]  # the first point, and the one that joins the exact part
    for y in ys:
        flat = np.full(padded, np.nan)
        flat[:head] = y[:head]
        grid = flat.reshape(buckets, size)
        starts = np.arange(buckets) * size
        missing = np.isnan(grid)
        keep.append(starts + np.where(missing, np.inf, grid).argmin(axis=1))
        keep.append(starts + np.where(missing, -np.inf, grid).argmax(axis=1))
    index = np.unique(np.concatenate(keep))
    index = np.concatenate([index[index < head], np.arange(head, n)])
    return x[index], [y[index] for y in ys]


def rolling_mean(values: Sequence[float] | np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return x
    window = max(1, int(window))
    cumulative = np.concatenate([[0.0], np.cumsum(x)])
    idx = np.arange(1, len(x) + 1)
    start = np.maximum(0, idx - window)
    return (cumulative[idx] - cumulative[start]) / (idx - start)


def base_layout(title: str, large: bool, height: int, **extra: Any) -> dict[str, Any]:
    """The shared look; ``large`` is presentation mode (bigger type, taller charts)."""
    layout: dict[str, Any] = dict(
        title=dict(text=title),
        height=height + (120 if large else 0),
        margin=dict(l=50, r=20, t=50, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        font=dict(size=20 if large else 13),
        plot_bgcolor="white",
    )
    axis_text = (
        dict(tickfont=dict(size=20, color="#000000"), title_font=dict(size=22, color="#000000")) if large else {}
    )
    for key, value in extra.items():
        if key.startswith(("xaxis", "yaxis")):
            value = {**GRID, **axis_text, **value}
        layout[key] = value
    if large:
        for axis in ("xaxis", "yaxis"):
            layout.setdefault(axis, {**GRID, **axis_text})
        if "margin" not in extra:
            layout["margin"] = dict(l=80, r=30, t=70, b=60)
    return layout


def log_ticks(values: Sequence[float | None] | np.ndarray) -> dict[str, Any]:
    """Tick values and labels for a log axis over ``values``: each power of ten, and 2 and 5 times
    it when the data spans under three decades, every label written out in full ("0.02", not
    Plotly's bare "2" between decades)."""
    array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    finite = array[np.isfinite(array) & (array > 0)]
    if not len(finite):
        return {}
    low, high = float(finite.min()), float(finite.max())
    lo, hi = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    steps = (1, 2, 5) if np.log10(high / low) < 3 else (1,)
    ticks = [m * 10.0**e for e in range(lo, hi + 1) for m in steps if low / 1.5 <= m * 10.0**e <= high * 1.5]
    if len(ticks) < 2:
        ticks = [10.0**lo, 10.0**hi] if hi > lo else [10.0**lo, 10.0 ** (lo + 1)]
    return dict(tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])


def dashed_line(across: str, at: float, axis: str) -> dict:
    """A dashed line in the solved colour at ``at`` on ``axis``, spanning the plot ``across`` ("x":
    horizontal, "y": vertical): a shape, what add_hline/add_vline make, cheaply."""
    along = "y" if across == "x" else "x"
    return {
        "type": "line",
        f"{across}ref": "paper",
        f"{across}0": 0,
        f"{across}1": 1,
        f"{along}ref": axis,
        f"{along}0": at,
        f"{along}1": at,
        "line": dict(color=SOLVED_COLOR, dash="dash", width=2),
    }


def level_line(y: float, label: str | None = None, axis: str = "y") -> tuple[dict, list[dict]]:
    """A dashed horizontal line across the plot (and its label): what add_hline does, cheaply."""
    shape = dashed_line("x", y, axis)
    notes = (
        [
            dict(
                text=label,
                xref="paper",
                x=1,
                yref=axis,
                y=y,
                xanchor="right",
                yanchor="bottom",
                showarrow=False,
                font=dict(color=SOLVED_COLOR),
            )
        ]
        if label
        else []
    )
    return shape, notes


def two_panels(left_title: str, right_title: str) -> dict[str, Any]:
    """Axes x/y on the left and x2/y2 on the right, laid out by hand (make_subplots is slow)."""
    titles = [
        dict(text=text, x=x, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom", showarrow=False)
        for text, x in ((left_title, 0.23), (right_title, 0.77))
    ]
    return dict(
        xaxis=dict(domain=[0.0, 0.46]),
        xaxis2=dict(domain=[0.54, 1.0], anchor="y2"),
        yaxis2=dict(anchor="x2"),
        annotations=titles,
    )


def training_figure(
    episodes: Sequence[Any],
    evaluations: Sequence[Any] = (),
    window: int = 20,
    solved_reward: float | None = None,
    title: str = "Reward per episode",
    large: bool = False,
    meta: dict[str, Any] | None = None,
) -> go.Figure:
    """Reward per episode, its rolling mean, and the periodic greedy evaluations (mean +- std).

    ``meta`` rides along in the figure's layout (the live page stores when its data was produced,
    so a browser-side benchmark can measure how far the chart lags behind training).
    """
    spec = training_spec(
        column(episodes, "episode"),
        column(episodes, "reward"),
        column(evaluations, "episode"),
        column(evaluations, "mean"),
        column(evaluations, "std"),
        window=window,
        solved_reward=solved_reward,
        title=title,
        large=large,
        meta=meta,
    )
    return go.Figure(spec)


def reward_range(
    rewards: np.ndarray, ev_mean: np.ndarray, ev_std: np.ndarray, solved_reward: float | None
) -> list[float]:
    """The reward axis from zero (or below it) to what was reached: a run holding 500 on CartPole
    reads as a line at the top, not as a flat line filling a chart autoscaled to 499.5-500.5."""
    parts = [rewards, ev_mean + ev_std, ev_mean - ev_std, np.array([0.0 if solved_reward is None else solved_reward])]
    values = np.concatenate([np.asarray(part, dtype=np.float64).ravel() for part in parts])
    values = values[np.isfinite(values)]
    low, high = min(0.0, float(values.min(initial=0.0))), max(0.0, float(values.max(initial=0.0)))
    pad = 0.05 * (high - low) or 1.0
    return [low - pad, high + pad]


def training_spec(
    x: np.ndarray,
    rewards: np.ndarray,
    ev_x: np.ndarray,
    ev_mean: np.ndarray,
    ev_std: np.ndarray,
    window: int = 20,
    solved_reward: float | None = None,
    title: str = "Reward per episode",
    large: bool = False,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """training_figure's figure as a plain dict (data, layout), from columns: what the live view
    draws without Plotly's validation, which alone cost more than the rest of a tick."""
    width = 4 if large else 2
    # the rolling mean from every episode first; only then are the lines thinned for drawing
    x, (rewards, mean) = decimate(x, [rewards, rolling_mean(rewards, window)])
    data: list[dict[str, Any]] = [
        dict(type="scatter", x=x, y=rewards, mode="lines", name="reward", line=dict(color="#9ecae1", width=1)),
        dict(
            type="scatter",
            x=x,
            y=mean,
            mode="lines",
            name=f"rolling mean ({window})",
            line=dict(color=PALETTE[0], width=width + 1),
        ),
    ]
    ex, (ev_mean, ev_std) = decimate(ev_x, [ev_mean, ev_std])
    if len(ex) > MAX_ERROR_BARS:
        # many evaluations: error bars would merge into a solid block over the reward lines, so the
        # spread becomes a light band behind one line
        data.insert(
            0,
            dict(
                type="scatter",
                x=np.concatenate([ex, ex[::-1]]),
                y=np.concatenate([ev_mean + ev_std, (ev_mean - ev_std)[::-1]]),
                fill="toself",
                mode="lines",
                line=dict(width=0),
                fillcolor="rgba(214, 39, 40, 0.12)",
                hoverinfo="skip",
                name="evaluation mean ± std",
            ),
        )
        data.append(
            dict(
                type="scatter",
                x=ex,
                y=ev_mean,
                # marked, not only a line: on a run that holds 500 it lies on the reward lines
                mode="lines+markers",
                name="greedy evaluation",
                line=dict(color=PALETTE[1], width=width),
                marker=dict(color=PALETTE[1], size=7 if large else 4),
            )
        )
    elif len(ex):
        data.append(
            dict(
                type="scatter",
                x=ex,
                y=ev_mean,
                mode="markers+lines",
                name="greedy evaluation",
                error_y=dict(type="data", array=ev_std, visible=True),
                marker=dict(color=PALETTE[1], size=10 if large else 7),
                line=dict(color=PALETTE[1], width=1, dash="dot"),
            )
        )
    shapes: list[dict] = []
    notes: list[dict] = []
    if solved_reward is not None:
        shape, notes = level_line(solved_reward, "solved")
        shapes.append(shape)
    layout = base_layout(
        title,
        large,
        320 if large else 360,  # 440 px projected: with the progress above, it ends above 1080
        xaxis=dict(title=dict(text="episode")),
        yaxis=dict(title=dict(text="reward"), range=reward_range(rewards, ev_mean, ev_std, solved_reward)),
        shapes=shapes,
        annotations=notes,
    )
    if meta:
        layout["meta"] = meta
    return dict(data=data, layout=layout)


def epsilon_loss_figure(episodes: Sequence[Any], large: bool = False) -> go.Figure:
    """Epsilon (exploration) and the mean training loss per episode, side by side."""
    return go.Figure(
        epsilon_loss_spec(column(episodes, "episode"), column(episodes, "epsilon"), column(episodes, "loss"), large)
    )


def epsilon_loss_spec(x: np.ndarray, epsilon: np.ndarray, loss: np.ndarray, large: bool = False) -> dict[str, Any]:
    """epsilon_loss_figure's figure as a plain dict, from columns (see training_spec)."""
    width = 4 if large else 2
    loss = np.where(np.isfinite(loss) & (loss > 0), loss, np.nan)  # no step yet, or nothing a log axis can draw
    x, (epsilon, loss) = decimate(x, [epsilon, loss])
    data = [
        dict(type="scatter", x=x, y=epsilon, mode="lines", name="epsilon", line=dict(color=PALETTE[3], width=width)),
        dict(
            type="scatter",
            x=x,
            y=loss,
            mode="lines",
            name="loss",
            xaxis="x2",
            yaxis="y2",
            line=dict(color=PALETTE[4], width=width),
        ),
    ]
    panels = two_panels("epsilon", "loss (log scale)")
    layout = base_layout(
        "",
        large,
        260,
        showlegend=False,
        annotations=panels["annotations"],
        xaxis={**panels["xaxis"], "title": dict(text="episode")},
        xaxis2={**panels["xaxis2"], "title": dict(text="episode")},
        yaxis=dict(range=[0, 1.05]),
        yaxis2={**panels["yaxis2"], "type": "log", **log_ticks(loss)},
    )
    return dict(data=data, layout=layout)


PRESENTATION_TEXT = dict(size=20, color="#000000")


def presentation_layout(spec: dict[str, Any]) -> dict[str, Any]:
    """A figure spec (data, layout) for projecting: large black text everywhere (title, legend,
    ticks, axis titles), white paper and the legend under the plot (beside the title, at this
    size, it would cover it). Drawn without Streamlit's chart theme, which would put its own small
    grey type on whatever the figure does not set."""
    layout = dict(spec["layout"])
    axis = dict(tickfont=PRESENTATION_TEXT, title_font=dict(size=22, color="#000000"))
    layout["font"] = PRESENTATION_TEXT
    layout["title"] = {**layout.get("title", {}), "font": dict(size=24, color="#000000"), "x": 0.01, "xanchor": "left"}
    layout["paper_bgcolor"] = "white"
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.28, x=0, xanchor="left", font=PRESENTATION_TEXT)
    layout["margin"] = {**layout.get("margin", {}), "b": 140}
    for name in [k for k in layout if k.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]:
        layout[name] = {**layout.get(name, {}), **axis}
    return {**spec, "layout": layout}
