"""What every page shares: the job registry, the session's id, cached loads, evaluations and GIFs.

Widgets and layout only; the work itself is done by rl_core.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# pandas in full before any session can draw a chart: plotly serialising a figure looks pandas up in
# sys.modules without importing it, and finds it half imported while another session's thread is
# importing it (AttributeError: partially initialized module 'pandas' has no attribute 'Series').
import pandas  # noqa: F401
import streamlit as st

from pages._state import bind, recall, remember, remember_all
from rl_core.artifacts.folders import PRETRAINED_DIR, TUNING, AgentFolderError, agent_roots, runs_dir
from rl_core.artifacts.storage import AgentEntry, SavedAgent, list_agents, load_agent, pretrained_agents, read_config
from rl_core.classroom.ownership import (
    LOCAL_USER,
    QuotaError,
    User,
    can_view,
    display_name,
    instructors_from,
    read_owner,
    remember_user,
    user_from_claims,
    visible_agents,
)
from rl_core.compute.engine import EngineUnavailable, engine_status, service_mode
from rl_core.compute.registry import JobLimitReached, JobRegistry
from rl_core.compute.service import RegistryClient
from rl_core.config import ENGINE_POLL_SECONDS, AgentConfig, Bound, ConfigError
from rl_core.envinfo import env_info
from rl_core.learning.evaluation import EvalResult, evaluate
from rl_core.learning.qfunction import q_slice
from rl_core.learning.training import saved_weights_evaluation
from rl_core.present.figures import q_heatmap_figure
from rl_core.present.live import SharedFigure, pace_changed
from rl_core.present.rendering import play_episode, record_gif, render_fps, saved_replay, side_by_side_gif
from rl_core.present.train_setup import started_from, widget_values

PRETRAINED_DEEP = "cartpole-deep-q"
# The live Q heatmap is redrawn at most this often: redrawn with every new copy of the weights
# (twice a second) it cost each click on the Train page about a second (bench/RESULTS.md, issue 13).
LIVE_HEATMAP_SECONDS = 3.0
_MARKDOWN_SIGNS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=])")

# The app's pages, in navigation order: (file, title, icon). The first is the default.
_ROUTED = "_qlab_routed"
APP_PATH = Path(__file__).resolve().parent.parent / "app.py"


def mark_routed() -> None:
    """Called by app.py just before it runs the chosen page."""
    st.session_state[_ROUTED] = True


def ensure_routed() -> None:
    """Every page calls this first. A page URL opened on a freshly started server (``/train`` as
    its first request) is run by Streamlit on its own, in its legacy ``pages/`` mode, until some
    run calls ``st.navigation``; AppTest does the same on every run. Then this run goes through
    app.py after all: it registers the real pages (navigation, presentation switch, ...) and runs
    this page inside it, in the same run, so a click that started the run is not lost, and the
    unrouted outer run stops here."""
    if st.session_state.pop(_ROUTED, False):
        return
    runpy.run_path(str(APP_PATH), run_name="__main__")
    st.stop()


def plain(text: object) -> str:
    """Text for st.error/st.warning/st.markdown shown exactly as typed: every sign Markdown, links,
    images, HTML or LaTeX could act on is escaped. Use it on anything a user or an upload supplied."""
    return _MARKDOWN_SIGNS.sub(r"\\\1", " ".join(str(text).split()))


def job_registry() -> JobRegistry | RegistryClient:
    """The jobs of this runs store. By default they live in the registry service, a detached Ray
    actor that outlives this process (a restart loses nothing, and every app process of the store
    sees the same jobs); QLAB_ENGINE=inprocess keeps them in this process (page tests). The work
    runs on Ray (a local instance, or the cluster named by RAY_ADDRESS): as many jobs at once as
    the cluster has CPUs, the rest queue."""
    return _registry_of_store(str(runs_dir()))


@st.cache_resource(show_spinner=False)
def _registry_of_store(store: str) -> JobRegistry | RegistryClient:
    # one per runs folder, as the service has one actor per store: another store's jobs never show
    return RegistryClient() if service_mode() else JobRegistry(holds_the_store=True)


def registry_notice() -> None:
    """One line on every page when the job registry cannot be reached (Ray gone, say)."""
    error = getattr(job_registry(), "error", None)
    if error and engine_status().state == "ready":
        st.error(plain(error), icon=":material/cloud_off:")


@st.cache_resource(show_spinner=False)
def freeze_start_up_heap(stage: str) -> str:
    """Move what is alive now (the imported stack: torch, plotly, pandas, then Ray once the engine
    is up) out of the garbage collector's sight, once per ``stage``: the collector then walks only
    what runs create. Streamlit's forced full collection after every run is off
    (.streamlit/config.toml, runner.postScriptGC)."""
    gc.collect()  # garbage now would otherwise be kept for good
    gc.freeze()
    return stage


@st.cache_resource(show_spinner=False)
def lock_free_config_reads() -> bool:
    """Read Streamlit's config options without its global lock (once per process).

    Streamlit looks up an option under one process-wide RLock for every message a script sends
    (``populate_hash_if_needed`` reads ``global.minCachedMessageSize``). With a class's script
    threads sharing the GIL, a thread that loses the GIL while holding that lock makes every other
    thread queue behind it, and each page run pays one GIL hand-off per element: with 60 threads
    doing Train-page-like runs, the p95 of a run was 200-340 ms with the lock and 40-60 ms without
    it (bench/config_lock.py, three runs). The read below takes the last fully parsed options,
    which a re-parse (config.toml edited while serving) replaces whole: never one half-built.
    """
    from streamlit import config

    if getattr(config.get_option, "lock_free", False):
        return True
    locked_read = config.get_option
    parsed = {"options": config.get_config_options()}

    def remember_parsed() -> None:
        parsed["options"] = config.get_config_options()

    config.on_config_parsed(remember_parsed, force_connect=True)

    def get_option(key: str) -> Any:
        option = parsed["options"].get(key)
        return locked_read(key) if option is None else option.value  # an unknown key: Streamlit's own error

    get_option.lock_free = True  # type: ignore[attr-defined]
    config.get_option = get_option
    return True


def engine_notice() -> bool:
    """Say when training is unavailable (Ray cannot be started or reached); True if it is usable.
    While the engine is starting, the notice looks again every ENGINE_POLL_SECONDS on its own and
    goes (the page redrawn once) as soon as the engine is up or has failed: not at the next click."""
    status = engine_status()
    if status.state == "failed":
        st.error(status.message + " Training is off; everything else works.", icon=":material/cloud_off:")
        return False
    if _still_starting() is not None:
        _starting_notice()
    return True


def _still_starting() -> str | None:
    """What the jobs still wait for, in words: Ray, then this process's first copy of the registry's
    jobs (a registry actor's first start loads the training code); None once both are there."""
    if engine_status().state == "starting":
        return engine_status().message  # "Starting the compute engine (Ray)…", or again and why
    registry = job_registry()
    connecting = not getattr(registry, "synced", True) and not getattr(registry, "error", None)
    if engine_status().state == "ready" and connecting:
        return "Connecting to the job registry (its first start loads the training code)…"
    return None


@st.fragment(run_every=ENGINE_POLL_SECONDS)
def _starting_notice() -> None:
    waiting_for = _still_starting()
    if waiting_for is not None:
        st.caption(waiting_for)
    else:  # up or failed: the whole page again, which no longer draws this fragment (its polling ends)
        st.rerun(scope="app")


# OSError: a full disk or a read-only runs folder, said in one line like the rest
SUBMIT_ERRORS = (ConfigError, EngineUnavailable, JobLimitReached, ValueError, OSError)


# --- who is using the app (rl_core.classroom.ownership holds the rules) ------------------------------


def class_mode() -> bool:
    """Class mode: Streamlit's own [auth] section is configured in .streamlit/secrets.toml."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


@st.cache_resource(show_spinner=False)
def guard_uploads() -> bool:
    """In class mode, refuse uploads from sessions nobody has logged in to (once per process).

    Streamlit's upload route takes a file for any live session, a visitor's on the login screen
    included (issue 23: 30 MB from an anonymous client, +150 MB resident). It hands every file to the
    runtime's upload manager, so that is where the check goes: its add_file refuses (HTTP 403) a
    session whose user is not logged in. Reaches into Streamlit's runtime (1.67): a test checks
    the attributes used still exist."""
    from starlette.exceptions import HTTPException
    from streamlit.runtime import Runtime

    if not class_mode() or not Runtime.exists():
        return False
    runtime = Runtime.instance()
    manager = runtime.uploaded_file_mgr
    store_file = manager.add_file

    def add_file_if_logged_in(session_id: str, file: Any) -> None:
        if not session_logged_in(runtime, session_id):
            raise HTTPException(status_code=403, detail="log in to upload")
        store_file(session_id, file)

    manager.add_file = add_file_if_logged_in  # type: ignore[method-assign]
    return True


@st.cache_resource(show_spinner=False)
def guard_media() -> bool:
    """In class mode, serve media files (GIFs, frames, downloads such as a private agent's zip)
    only to a browser logged in (once per process).

    Streamlit's media route (``/media/<id>``) checks nothing: a private agent's download URL, once
    copied, worked without a login (issue 23). The route asks the runtime's media storage for the
    file with the request in hand, so the storage's ``get_file`` is wrapped and looks at the
    caller's ``request`` for Streamlit's signed login cookie; a request without it is answered 404.
    Reaches into Streamlit 1.67 (the storage and the route's local name); a browser test fetches a
    media URL with and without the cookie, and catches an upgrade that moves them."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.media_file_storage import MediaFileStorageError

    if not class_mode() or not Runtime.exists():
        return False
    storage = Runtime.instance().media_file_mgr._storage
    get_file = storage.get_file

    def get_file_if_logged_in(filename: str) -> Any:
        request = sys._getframe(1).f_locals.get("request")
        cookies = getattr(request, "cookies", None)
        if isinstance(cookies, dict) and not cookies_logged_in(cookies):
            raise MediaFileStorageError("log in to see this file")
        return get_file(filename)

    storage.get_file = get_file_if_logged_in
    return True


def cookies_logged_in(cookies: dict[str, str]) -> bool:
    """Whether a request's cookies hold Streamlit's signed login cookie of a logged-in user."""
    from streamlit.web.server.starlette.starlette_websocket import USER_COOKIE_NAME, _get_signed_cookie_with_chunks

    try:
        raw = _get_signed_cookie_with_chunks(cookies, USER_COOKIE_NAME)
        return raw is not None and bool(json.loads(raw).get("is_logged_in"))
    except (ValueError, AttributeError, UnicodeError):
        return False


def session_logged_in(runtime: Any, session_id: str) -> bool:
    """Whether the Streamlit session ``session_id`` belongs to a logged-in user."""
    info = runtime._session_mgr.get_active_session_info(session_id)
    return info is not None and bool(getattr(info.session, "_user_info", {}).get("is_logged_in"))


def current_user() -> User | None:
    """The logged-in user in class mode (None until they log in); the one local user otherwise."""
    if not class_mode():
        return LOCAL_USER
    if not st.user.is_logged_in:
        return None
    configured = (st.secrets.get("qlab") or {}).get("instructors")
    user = user_from_claims(st.user.to_dict(), instructors_from(configured))
    if st.session_state.get("_remembered_user") != user.id:
        remember_user(user)
        st.session_state._remembered_user = user.id
    return user


def user() -> User:
    """The user of a page. app.py lets no anonymous visitor reach a page in class mode; should a page
    run without it, it shows the login button and goes no further."""
    found = current_user()
    if found is None:
        login_screen()
        st.stop()
    return found


def session_id() -> str:
    """The id that owns the jobs this user starts (the user's, so a reload or a new tab finds them)."""
    return user().id


def my_latest_job(kind: str):
    """The snapshot of the user's most recent job of this kind ("training", "imitation", "tuning",
    "seeds"; a running one first), to come back to after a reload, a new tab or a restart."""
    mine = job_registry().snapshots(owner=session_id(), kind=kind)
    going = [s for s in mine if not s.done]
    return (going or mine or [None])[-1]


def quota_refusal(check, *args) -> str | None:
    """Run one of rl_core.classroom.ownership's quota checks: None when allowed, else its message."""
    try:
        check(user(), *args)
    except QuotaError as exc:
        return str(exc)
    return None


def agent_entries() -> list[AgentEntry]:
    """What this user's pickers offer: pretrained agents, their own runs and those shared with the
    class, and the tuning trials' agents they may see (runs/tuning/<study>/trial-NNNN, named
    "<study>/trial-NNNN")."""
    me = user()
    entries = visible_agents(me)
    tuning = runs_dir() / TUNING
    if tuning.is_dir():
        studies = sorted(p for p in tuning.iterdir() if p.is_dir() and not p.name.startswith("."))
        for study, entry in ((s, e) for s in studies for e in list_agents([s])):
            if can_view(me, entry.path):
                entries.append(dataclasses.replace(entry, name=f"{study.name}/{entry.name}", source="tuning"))
    return entries


def pretrained_entries() -> list[AgentEntry]:
    """The shipped agents only: what a link to "the pretrained agent" needs (cached: see
    rl_core's pretrained_agents)."""
    return pretrained_agents()


def entry_label(entry: AgentEntry) -> str:
    """The agent's name, env, preset (a pretrained one's kind) and the evaluation of its saved
    weights (never the best evaluation during training, which those weights may not reach)."""
    evaluation = saved_weights_evaluation(entry.metrics)
    score = f" · scores {evaluation['mean']:.1f}" if evaluation else ""
    what = entry.agent_kind if entry.source == "pretrained" else run_preset(entry)
    return f"{entry.source} / {entry.name}{owner_note(entry.path)} ({entry.env_id}, {what}{score})"


def owner_note(path: Path) -> str:
    """ " by <owner>" for another user's run in class mode: two students' runs may share a name."""
    me = current_user()
    if me is None or not me.class_mode or Path(path).resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        return ""
    owner = read_owner(path).owner
    return "" if owner == me.id else f" by {display_name(owner)}"


def saved_evaluation(path: Path) -> dict | None:
    """The evaluation of an agent folder's saved weights (from its metrics.json), or None."""
    try:
        metrics = json.loads((Path(path) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return saved_weights_evaluation(metrics) if isinstance(metrics, dict) else None


@st.cache_data(max_entries=512, show_spinner=False)
def _started_from(path: str, stamp: float, recorded: str | None) -> str:
    try:
        return started_from(read_config(path), recorded)
    except AgentFolderError:
        return "?"


def run_preset(entry: AgentEntry) -> str:
    """The preset a listed agent started from, or "custom from <closest>"."""
    hparams = entry.path / "hparams.json"
    stamp = hparams.stat().st_mtime if hparams.exists() else 0.0
    recorded = entry.metrics.get("preset")
    return _started_from(str(entry.path), stamp, recorded if isinstance(recorded, str) else None)


def _stamp(path: Path) -> float:
    model = path / "model.pt"
    return model.stat().st_mtime if model.exists() else 0.0


@st.cache_resource(max_entries=32, show_spinner=False)
def _load(path: str, stamp: float) -> SavedAgent:
    return load_agent(path, roots=agent_roots())


def load(path: Path) -> SavedAgent:
    """A checked agent, cached until its model file changes; raises AgentFolderError."""
    return _load(str(path), _stamp(path))


@st.cache_data(max_entries=64, show_spinner=False)
def _evaluate(path: str, stamp: float, n_episodes: int, seed: int) -> EvalResult:
    agent = _load(path, stamp).agent
    return evaluate(agent, agent.config.env_id, n_episodes=n_episodes, seed=seed)


def evaluation(path: Path, n_episodes: int, seed: int) -> EvalResult:
    return _evaluate(str(path), _stamp(path), n_episodes, seed)


@st.cache_data(max_entries=32, show_spinner=False)
def _gif(path: str, stamp: float, seed: int, speed: float, width: int) -> tuple[bytes, int, float]:
    ready = saved_replay(path, seed=seed, speed=speed, width=width)  # written with the agent (build.sh)
    if ready is not None:
        return ready
    agent = _load(path, stamp).agent
    gif, episode = record_gif(agent, agent.config.env_id, seed=seed, speed=speed, width=width)
    return gif, episode.steps, episode.total_reward


def replay_gif(path: Path, seed: int, speed: float = 1.0, width: int = 300) -> tuple[bytes, int, float]:
    """(GIF bytes, steps, reward) of one greedy episode."""
    return _gif(str(path), _stamp(path), seed, speed, width)


@st.cache_data(max_entries=16, show_spinner=False)
def _side_by_side(
    paths: tuple[str, ...], names: tuple[str, ...], stamps: tuple[float, ...], seed: int, width: int
) -> tuple[bytes, list[tuple[int, float]]]:
    agents = [_load(p, st_).agent for p, st_ in zip(paths, stamps)]
    env_id = agents[0].config.env_id

    def player(agent):
        return lambda sink: play_episode(agent, env_id, seed=seed, on_frame=sink)

    gif, episodes = side_by_side_gif(
        [(n, player(a)) for n, a in zip(names, agents)], fps=render_fps(env_id), width=width
    )
    return gif, [(e.steps, e.total_reward) for e in episodes]


def side_by_side_replay(paths: list[Path], names: list[str], seed: int, width: int = 240):
    """One GIF with every agent's episode from the same seed, side by side and in step."""
    return _side_by_side(tuple(map(str, paths)), tuple(names), tuple(_stamp(p) for p in paths), seed, width)


@st.cache_data(max_entries=32, show_spinner=False)
def _episode_steps(path: str, stamp: float, seed: int) -> dict:
    agent = _load(path, stamp).agent
    episode = play_episode(agent, agent.config.env_id, seed=seed, render=False)
    return {
        "states": episode.states,
        "actions": episode.actions,
        "q_values": episode.q_values,
        "reward": episode.total_reward,
    }


def episode_steps(path: Path, seed: int) -> dict:
    """States, actions and Q-values of one greedy episode (no frames: they are drawn on demand)."""
    return _episode_steps(str(path), _stamp(path), seed)


PRESENTATION_TEXT = dict(size=20, color="#000000")


def chart(figure, key: str) -> None:
    """A Plotly chart; in presentation mode with large, black text everywhere (title, legend, ticks,
    axis titles). Streamlit's chart theme would put its own small grey type on whatever the figure
    does not set, so it is left out then. A shared live figure (rl_core.present.live) is drawn as it is: it
    was built for the view it is drawn in, and other sessions draw it too."""
    if isinstance(figure, SharedFigure):
        st.plotly_chart(figure, key=key, theme=None if st.session_state.get("presentation") else "streamlit")
        return
    if not st.session_state.get("presentation"):
        st.plotly_chart(figure, key=key)
        return
    axis = dict(tickfont=PRESENTATION_TEXT, title_font=dict(size=22, color="#000000"))
    figure.update_layout(
        font=PRESENTATION_TEXT,
        title_font=dict(size=24, color="#000000"),
        title_x=0.01,
        title_xanchor="left",
        paper_bgcolor="white",
        legend_font=PRESENTATION_TEXT,
        # under the plot: at this size a legend beside the title would cover it
        legend=dict(orientation="h", yanchor="top", y=-0.28, x=0, xanchor="left"),
        margin_b=140,
    )
    figure.update_xaxes(**axis)
    figure.update_yaxes(**axis)
    st.plotly_chart(figure, key=key, theme=None)


def setup_link(query: dict[str, str]) -> str:
    """This page's address with ``query``: the link that opens the same setup."""
    from urllib.parse import urlencode

    base = st.context.url or "/train"  # None under AppTest
    return f"{base}?{urlencode(query)}"


def show_gif(gif: bytes, caption: str | None = None) -> None:
    # width="content": a GIF shown smaller than its own size is re-encoded to its first frame only.
    # The caption is Markdown (a run's or a user's name in it could be a link or an image): escaped.
    st.image(gif, caption=None if caption is None else plain(caption), width="content")


def plain_table(frame: pandas.DataFrame) -> pandas.DataFrame:
    """``frame`` for st.table, which renders every cell, index value and heading as Markdown (seen
    in Chromium: a display name "[x](http://...)" became a live link, "![t](...)" an image that
    loads): each text escaped with ``plain``, numbers untouched."""

    def cell(value: object) -> object:
        return plain(value) if isinstance(value, str) else value

    shown = frame.map(cell)
    shown.index = shown.index.map(cell)
    shown.columns = shown.columns.map(cell)
    return shown


def fill_train_setup(config: AgentConfig, preset_name: str) -> None:
    """Set the Train page's setup to ``config`` (a preset's, or one sent from another page): its
    widgets show it on their next draw, on whichever run that is."""
    remember_all(widget_values(config, preset_name))


def bound_args(bound: Bound, kind: type = int) -> dict:
    """A slider's or number input's min, max and step from one of the config's bounds."""
    args = {"min_value": kind(bound.low), "max_value": kind(bound.high)}
    return args | ({"step": kind(bound.step)} if bound.step is not None else {})


def q_inspector(q_function, env_id: str, key: str, seed: int = 0, live: bool = False) -> None:
    """Heatmap of the policy or Q-values over two chosen state dimensions, the others on sliders,
    with a greedy episode's path drawn on top.

    The figure is built once per (weights, view) and kept in the session: a click elsewhere on
    the page reuses it. ``live`` (redrawn as training goes) uses a coarser grid and is redrawn at
    most every LIVE_HEATMAP_SECONDS, however often new weights arrive."""
    info = env_info(env_id)
    names = info.state_names
    dims_default = info.default_slice
    large = bool(st.session_state.get("presentation"))
    c1, c2, c3 = st.columns(3)
    dims = list(range(len(names)))
    x_dim = c1.selectbox(
        "x axis", dims, format_func=names.__getitem__, **bind(f"{key}_x", dims_default[0], options=dims)
    )
    y_dim = c2.selectbox(
        "y axis", dims, format_func=names.__getitem__, **bind(f"{key}_y", dims_default[1], options=dims)
    )
    n_actions = len(info.action_names)

    def show_label(option: str) -> str:
        if option == "policy":
            return "greedy policy"
        if option == "value":
            return "max Q"
        return f"Q({info.action_names[int(option[1:])]})"

    shows = ["policy", "value"] + [f"q{a}" for a in range(n_actions)]
    show = c3.selectbox("show", shows, format_func=show_label, **bind(f"{key}_show", "policy", options=shows))
    if x_dim == y_dim:
        st.error("choose two different state dimensions for the axes")
        return
    base = np.zeros(len(names), dtype=np.float32)
    others = [d for d in range(len(names)) if d not in (x_dim, y_dim)]
    if others:
        cols = st.columns(len(others))
        for col, d in zip(cols, others):
            lo, hi = info.slice_ranges[d]
            fix = f"{key}_fix_{d}"
            remember(fix, min(float(hi), max(float(lo), float(recall(fix, 0.0)))))  # another env's ranges differ
            base[d] = col.slider(f"{names[d]} held at", float(lo), float(hi), **bind(fix))
    view = (x_dim, y_dim, show, tuple(base.tolist()), seed, large, live)
    cached = st.session_state.get(f"_{key}_figure")
    if (
        cached is not None
        and cached[1] == view
        and (cached[0] is q_function or (live and time.monotonic() - cached[3] < LIVE_HEATMAP_SECONDS))
    ):
        figure = cached[2]
    else:
        qs = q_slice(q_function, env_id, dims=(x_dim, y_dim), base_state=base, resolution=31 if live else 61)
        path = play_episode(q_function, env_id, seed=seed, render=False).states
        figure = q_heatmap_figure(qs, show=show, trajectory=path, action_names=info.action_names, large=large)
        st.session_state[f"_{key}_figure"] = (q_function, view, figure, time.monotonic())
    chart(figure, key=f"{key}_heatmap")
    st.caption(
        f"The path is a greedy episode from seed {seed}, drawn through these two dimensions (its other "
        "dimensions vary along the way, while the heatmap holds them at the slider values)."
    )


def job_status(state: str, message: str, queue_position: int | None, running=None, queued_note: str = "") -> None:
    """A background job's status line: its place in the queue, its progress (``running`` draws a
    richer one), or how it ended."""
    if state == "queued":
        where = f"position {queue_position}" if queue_position is not None else "waiting for a free CPU"
        st.info(f"Queued: {where}{queued_note}.")
    elif state == "running":
        running() if running is not None else st.caption(message)
    else:
        said = message.removeprefix(f"{state}: ")  # a failure's message often starts "failed: " itself
        (st.error if state in ("diverged", "failed") else st.success)(f"**{state}**: {plain(said)}")


def rerun_when_the_pace_changes(state_key: str, state: str) -> None:
    """Called from a polling fragment: rerun the whole page once when its job leaves the queue
    (the fragment then ticks at the running pace) or ends (end-of-run actions outside the fragment
    catch up, and the polling stops). The page's full run records, under ``state_key``, the state
    it set the fragment's pace from, so a full run is never followed by a second one for nothing."""
    previous = st.session_state.get(state_key)
    st.session_state[state_key] = state
    if pace_changed(previous, state):
        st.rerun(scope="app")


def find_entry(entries: list[AgentEntry], name: str, source: str | None = None) -> AgentEntry | None:
    for entry in entries:
        if entry.name == name and (source is None or entry.source == source):
            return entry
    return None


def login_screen() -> None:
    """What an anonymous visitor sees in class mode: what this is, and a login button."""
    st.title(":material/target: Q-Lab")
    st.markdown("This Q-Lab server is run for a class. Log in to train agents, keep your runs and see the class board.")
    st.button("Log in", type="primary", icon=":material/login:", on_click=st.login, key="login")


def account_box(visitor: User) -> None:
    """The sidebar's who-am-I line and logout button (class mode only)."""
    if visitor.class_mode:
        role = " · instructor" if visitor.is_instructor else ""
        st.sidebar.caption(f"Logged in as **{visitor.name}**{role}")
        st.sidebar.button("Log out", icon=":material/logout:", on_click=st.logout, key="logout")


def trainings_now() -> list:
    """Every user's training jobs (JobSnapshot), for the class board."""
    return job_registry().snapshots(kind="training")
