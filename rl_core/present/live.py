"""The live charts of background jobs, built once per change of a job's data and shared by every
viewer of that job (the student's tab, the projector, a second tab): not once per viewer per tick.

No Streamlit here. A page asks ``LIVE_CHARTS.training(snapshot, ...)`` on every tick; while the
job's data is what it was at the last build, it gets the very same figure objects back. The data a
job adds is read once (``Columns`` keeps the columns of its episodes and evaluations and reads only
what is new), so a tick costs the same at episode 50 and at episode 5000 (plots.decimate bounds the
points drawn).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from _plotly_utils.utils import to_typed_array_spec

from rl_core.config import LIVE_TICK_SECONDS, QUEUED_TICK_SECONDS
from rl_core.learning.history import RecordHistory, room_for
from rl_core.present.figures import imitation_spec, optuna_figure
from rl_core.present.plots import epsilon_loss_spec, presentation_layout, training_spec

MAX_SHARED_JOBS = 256  # jobs whose latest charts are kept (a finished job's stay until pushed out)
# The template plotly.py puts in every figure's dict: added to ours as it is, so a shared figure
# looks exactly like a built one (made once: it is a constant).
_TEMPLATE: dict[str, Any] = {}
_EMPTY_FIGURE: dict[str, Any] = {}  # an empty go.Figure's attributes, see SharedFigure


def live_tick_seconds(state: str | None) -> float | None:
    """How often a live view looks at its job again: every LIVE_TICK_SECONDS while it runs, every
    QUEUED_TICK_SECONDS while it waits (only its place in the queue changes), never once it has
    ended (None: the page's fragment stops polling)."""
    if state == "running":
        return LIVE_TICK_SECONDS
    if state == "queued":
        return QUEUED_TICK_SECONDS
    return None


def pace_changed(previous: str | None, state: str) -> bool:
    """The job went from one live pace to another since the last look (it left the queue, or it
    ended): a fragment's interval is fixed by the full run that drew it, so the page must run whole
    again to take the new one, and to show what a finished job offers."""
    return previous in ("queued", "running") and live_tick_seconds(previous) != live_tick_seconds(state)


def change_key(snapshot: Any) -> Hashable:
    """What identifies a job's data as drawn: a new key means new charts. The job registry's
    ``version`` (one more on every change) when its snapshots carry one; until then what changes
    whenever the data does."""
    version = getattr(snapshot, "version", None)
    if version is not None:
        return (snapshot.job_id, version)
    sizes = tuple(
        len(getattr(snapshot, name)) for name in ("episodes", "evaluations", "results") if hasattr(snapshot, name)
    )
    curves = getattr(snapshot, "curves", None)  # an imitation job: architecture -> its epochs so far
    if curves is not None:
        sizes += tuple(len(epochs) for epochs in curves.values())
    return (snapshot.job_id, snapshot.state, snapshot.updated_at, *sizes)


def _wire(value: Any) -> Any:
    """A copy of a spec as Plotly serialises it: numpy arrays become its typed arrays (base64), as
    Figure.to_dict makes them (a deepcopy and a walk over its whole template, 4 ms a figure)."""
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_wire(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.dtype.kind == "f":
            # single precision is plenty for a chart and halves what each viewer is sent; encoded
            # here as to_typed_array_spec would, without its read-only copy and checks
            single = np.ascontiguousarray(value, dtype=np.float32)
            return {"dtype": "f4", "bdata": base64.b64encode(single.tobytes()).decode("ascii")}
        return to_typed_array_spec(value)
    return value


class SharedFigure(go.Figure):
    """A figure built from a plain spec (data, layout) without Plotly's validation, whose dict
    (what Streamlit serialises on every draw) is made once. Never changed after it is made: it
    is drawn by every viewer of its job at once."""

    def __init__(self, spec: dict[str, Any]):
        if not _EMPTY_FIGURE:
            # plotly.py's own state of an empty figure (without its default template copied in),
            # made once and shared by every SharedFigure: making it costs 1.2 ms a figure, and a
            # SharedFigure is only ever read through to_dict (its changers refuse below)
            super().__init__(layout={"template": {}})
            _EMPTY_FIGURE.update(self.__dict__)
            _TEMPLATE.update(pio.templates[pio.templates.default].to_plotly_json())
        else:
            self.__dict__.update(_EMPTY_FIGURE)
        wire = _wire(spec)
        wire["layout"].setdefault("template", _TEMPLATE)
        self._spec = wire
        self._built_from = spec

    def to_dict(self) -> dict[str, Any]:
        return self._spec

    @property
    def spec(self) -> dict[str, Any]:
        """What it was made from: its traces' points as numpy arrays (for reading; never change it)."""
        return self._built_from

    def _unchangeable(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a SharedFigure is drawn by every viewer of its job: build a new one instead")

    update = update_layout = update_traces = update_xaxes = update_yaxes = _unchangeable
    add_trace = add_traces = add_hline = add_vline = add_annotation = add_shape = _unchangeable


class Columns:
    """Float columns of an append-only sequence of records, read incrementally: each call reads only
    the records added since the last one (the job's tuple grows at its end and never changes
    before it)."""

    def __init__(self, fields: Sequence[str]):
        self.fields = tuple(fields)
        self._arrays = {f: np.empty(64) for f in self.fields}
        self._count = 0
        self._last: Any = None  # the last record read, to see that the sequence only grew

    def read(self, records: Sequence[Any]) -> dict[str, np.ndarray]:
        if isinstance(records, RecordHistory):  # columns already: read as they are
            return {f: records.column(f) for f in self.fields}
        n = len(records)
        if n < self._count or (self._count and records[self._count - 1] is not self._last):
            self._count = 0  # not the same sequence grown: read it all again
        new = records[self._count :]
        if new:
            self._arrays = {f: room_for(a, self._count, n) for f, a in self._arrays.items()}
            for f in self.fields:
                values = (getattr(r, f) for r in new)
                self._arrays[f][self._count : n] = np.fromiter(
                    (np.nan if v is None else v for v in values), dtype=np.float64, count=len(new)
                )
            self._count, self._last = n, records[n - 1]
        return {f: self._arrays[f][:n] for f in self.fields}


class LiveCharts:
    """The latest charts of each job, per view (presentation mode or not), rebuilt only when the
    job's change_key moves. Thread-safe: every session's script thread calls it."""

    def __init__(self, max_jobs: int = MAX_SHARED_JOBS):
        self.max_jobs = max_jobs
        self.builds = 0  # how many times charts were built (tests and benches read it)
        self._lock = threading.Lock()
        self._charts: OrderedDict[tuple[str, Hashable], tuple[Hashable, Any]] = OrderedDict()
        self._columns: OrderedDict[tuple[str, str], Columns] = OrderedDict()

    def get(self, snapshot: Any, view: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``'s result for this job and view, built again only when the job's data changed.
        Built under the lock: viewers of one job asking at once build it once."""
        key, slot = change_key(snapshot), (snapshot.job_id, view)
        with self._lock:
            kept = self._charts.get(slot)
            if kept is not None and kept[0] == key:
                self._charts.move_to_end(slot)
                return kept[1]
            built = build()
            self.builds += 1
            self._charts[slot] = (key, built)
            self._charts.move_to_end(slot)
            while len(self._charts) > 2 * self.max_jobs:
                self._charts.popitem(last=False)
            return built

    def columns(self, job_id: str, name: str, fields: Sequence[str], records: Sequence[Any]) -> dict[str, np.ndarray]:
        """The columns of one of a job's record sequences (call it under the lock, from a build)."""
        slot = (job_id, name)
        reader = self._columns.get(slot)
        if reader is None or reader.fields != tuple(fields):
            reader = self._columns[slot] = Columns(fields)
        self._columns.move_to_end(slot)
        while len(self._columns) > 2 * self.max_jobs:
            self._columns.popitem(last=False)
        return reader.read(records)

    def training(self, snapshot: Any, solved_reward: float | None, large: bool = False) -> tuple[go.Figure, go.Figure]:
        """A training job's two live charts: reward per episode (with its evaluations) and
        epsilon/loss."""

        def build() -> tuple[go.Figure, go.Figure]:
            eps = self.columns(snapshot.job_id, "episodes", ("episode", "reward", "epsilon", "loss"), snapshot.episodes)
            evs = self.columns(snapshot.job_id, "evaluations", ("episode", "mean", "std"), snapshot.evaluations)
            rewards = training_spec(
                eps["episode"],
                eps["reward"],
                evs["episode"],
                evs["mean"],
                evs["std"],
                solved_reward=solved_reward,
                large=large,
                meta={"job": snapshot.job_id, "updated_at": snapshot.updated_at, "episode": len(snapshot.episodes)},
            )
            eps_loss = epsilon_loss_spec(eps["episode"], eps["epsilon"], eps["loss"], large=large)
            return shared(rewards, large), shared(eps_loss, large)

        return self.get(snapshot, ("training", solved_reward, large), build)

    def imitation(self, snapshot: Any, large: bool = False) -> go.Figure:
        """An imitation job's live learning curves (every architecture so far)."""
        return self.get(snapshot, ("imitation", large), lambda: shared(imitation_spec(snapshot.curves, large), large))

    def memo(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """``build()`` once per ``key`` (kept like a job's charts): for what is not one job's, such as a
        tuning study's charts keyed by its trials, or the board's table keyed by every training's data."""
        with self._lock:
            slot = ("memo", key)
            kept = self._charts.get(slot)
            if kept is not None:
                self._charts.move_to_end(slot)
                return kept[1]
            built = build()
            self.builds += 1
            self._charts[slot] = (key, built)
            while len(self._charts) > 2 * self.max_jobs:
                self._charts.popitem(last=False)
            return built


def shared(spec: dict[str, Any] | go.Figure, large: bool = False) -> SharedFigure:
    """A figure (or its spec) as a SharedFigure for the view it is drawn in (``large``: presentation
    mode, styled here once rather than by the page on every draw)."""
    if isinstance(spec, go.Figure):
        spec = spec.to_dict()
    return SharedFigure(presentation_layout(spec) if large else spec)


def trials_key(study: Any) -> Hashable:
    """What a tuning study's charts are drawn from: each trial's number, state and value."""
    return tuple((t.number, t.state.name, t.value) for t in study.get_trials(deepcopy=False))


def study_charts(study: Any, large: bool = False) -> dict[str, SharedFigure | str]:
    """A tuning study's Optuna charts: its history, and from 3 complete trials on its parallel
    coordinates and parameter importances (or, when those cannot be computed yet, why not).
    Optuna's importance evaluator fits a forest: once per change of the trials, not once per viewer
    every 2 s."""
    import optuna.visualization as vis

    charts: dict[str, SharedFigure | str] = {
        "history": shared(optuna_figure(vis.plot_optimization_history(study), large), large)
    }
    if sum(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)) >= 3:  # what the page shows
        charts["parallel"] = shared(optuna_figure(vis.plot_parallel_coordinate(study), large), large)
        why_not = importances_meaningless(study)
        if why_not is not None:
            charts["importance"] = why_not
        else:
            try:
                charts["importance"] = shared(optuna_figure(vis.plot_param_importances(study), large), large)
            except (RuntimeError, ValueError) as exc:
                charts["importance"] = str(exc)
    return charts


def importances_meaningless(study: Any) -> str | None:
    """Why a study's parameter importances would mean nothing yet (None when they may mean
    something): every complete trial scored the same, or the importances come out all equal,
    which Optuna's chart draws as if they were a finding."""
    import optuna

    values = [t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(set(values)) <= 1:
        return f"every complete trial scored the same ({values[0]:g}): no parameter explains a difference yet"
    try:
        importances = list(optuna.importance.get_param_importances(study).values())
    except (RuntimeError, ValueError) as exc:
        return str(exc)
    if len(importances) > 1 and max(importances) - min(importances) < 0.02:
        return (
            f"the {len(importances)} parameters come out equally important: with {len(values)} trials "
            "the importance forest cannot tell them apart yet"
        )
    return None


REPLAY_EVERY_SECONDS = 15.0  # a training's live replay is played again at most this often
REPLAY_STEPS = 300  # at most this many steps of it (a 500-step episode would be a 10 s GIF)
REPLAY_WIDTH = 240  # pixels: a corner of the projector's screen


@dataclass(frozen=True)
class LiveReplay:
    gif: bytes
    caption: str
    q_version: int
    made_at: float


class LiveReplays:
    """A small replay of what a training's greedy policy does now (presentation mode, as REINFORCEjs
    shows its agent while it learns): one short GIF per job, played again from the latest
    Q-function when there is a new one, at most every ``every`` seconds, and shared by every viewer.
    Playing and encoding 300 steps (every second frame kept) costs the web process 1.2 s of a core
    (bench/live_replay.py): 8% of a core while a projector shows a training."""

    def __init__(self, every: float = REPLAY_EVERY_SECONDS, max_jobs: int = MAX_SHARED_JOBS):
        self.every = every
        self.max_jobs = max_jobs
        self.plays = 0  # how many replays were played (tests read it)
        self._lock = threading.Lock()
        self._made: OrderedDict[str, LiveReplay] = OrderedDict()

    def replay(
        self, job_id: str, q_version: int, q_function: Callable[[], Any], env_id: str, seed: int
    ) -> LiveReplay | None:
        """The job's latest replay, played again first when it is older than ``every`` seconds and
        the Q-function has changed since; None until there is a Q-function to play."""
        from rl_core.present.rendering import record_gif

        with self._lock:  # one viewer plays it; the others wait and get the same
            kept = self._made.get(job_id)
            if kept is not None and (kept.q_version == q_version or time.monotonic() - kept.made_at < self.every):
                return kept
            policy = q_function()
            if policy is None:
                return kept
            gif, episode = record_gif(
                policy, env_id, seed=seed, width=REPLAY_WIDTH, max_steps=REPLAY_STEPS, overlay=False, stride=2
            )
            self.plays += 1
            steps = len(episode.actions)
            cut = "" if episode.terminated or steps < REPLAY_STEPS else "+"  # one short line: a narrow column
            caption = f"greedy policy now: {float(episode.rewards.sum()):.0f}{cut}"
            made = LiveReplay(gif, caption, q_version, time.monotonic())
            self._made[job_id] = made
            self._made.move_to_end(job_id)
            while len(self._made) > self.max_jobs:
                self._made.popitem(last=False)
            return made


LIVE_CHARTS = LiveCharts()  # one per process: what every session of the web app shares
LIVE_REPLAYS = LiveReplays()
