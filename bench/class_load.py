"""A class of simulated students on one web process, over Streamlit's own websocket protocol.

    python bench/class_load.py [--students 10] [--seconds 60] [--app-dir DIR | --url URL --cookie-secret S]

Each student is what a browser tab is to the server, without the browser (so that 60 fit on 2 cores):
a websocket to ``/_stcore/stream`` speaking Streamlit's protobuf BackMsg/ForwardMsg. A student

1. opens the Train page from a shared link (a ``rerun_script`` BackMsg naming the page ``train`` and
   carrying the link's query string: a tiny training, so that the class's queue on Ray keeps moving);
2. clicks Start: a full rerun whose widget states hold the Start button's trigger (the button's
   element id is read from the deltas the server sent);
3. follows its live fragment as the frontend does: the server sends ``auto_rerun`` (fragment id,
   interval) when the fragment is defined, and the client asks for ``rerun_script`` with that fragment
   id and ``is_auto_rerun`` at that interval, on a timer that does not wait for the previous run
   (App.tsx handleAutoRerun: setInterval); a full run's ``new_session`` or a ``stop_auto_rerun``
   cancels the timers;
4. every ``--click-every`` seconds flips the Double DQN toggle, and, with ``--repeat``, starts a new
   training when the last one has finished. The toggle sits in the page's settings fragment, so, as
   the frontend does for a widget drawn by a fragment, its rerun names that fragment (the ``fragment_id``
   of the delta that drew it): only the settings rerun.

What each student measures:
- update interval: time between successive live reward charts of one job whose data changed (the
  figure's ``layout.meta``: the page puts the job's id, ``updated_at`` and ``episode`` there); the
  time from one run's last chart to the next run's first (its wait in the class's queue on Ray) is
  not an interval of the view, and is left out;
- tick interval: time between successive finished fragment runs (the view is live even while the
  training waits in the queue);
- click latency: from sending a click (Start, or the toggle) to the ``script_finished`` of the run it
  caused: for Start the full run that ends the rerun chain (the settings fragment's run asks for a
  full one), for the toggle the settings fragment's run.

The web process's CPU (utime + stime of its own threads from /proc/<pid>/stat; Ray's processes are
separate) and RSS are sampled over the measuring window, which starts once every student has
clicked Start. The last line printed is one JSON object.

Every student is their own user: the app runs in class mode (a secrets.toml with ``[auth]``, written
here) and each websocket carries a Streamlit login cookie (``_streamlit_user``, signed with the
cookie secret as Streamlit's OIDC callback signs it), so per-user queue limits apply as in a class.
No identity provider is involved: the cookie is what the callback would have set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

COOKIE_SECRET = "class-load-bench-cookie-secret"
FRAGMENT_FINISHED = 3  # ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
RUN_FINISHED = 0  # FINISHED_SUCCESSFULLY
RUN_CUT_SHORT = 2  # FINISHED_EARLY_FOR_RERUN
START_LABEL = "Start"
TOGGLE_LABEL = "Double DQN"
ENGINE_STARTING = "Starting the compute engine"  # pages/_ui.engine_notice, while Ray comes up
MESSAGE_CACHE_SIZE = 300  # the newest cacheable messages this client keeps and names in each rerun
ENGINE_FAILED = "The compute engine is unavailable"  # rl_core.compute.engine, when Ray could not start


def tiny_query(episodes: int) -> str:
    """The shared link's query string: deep-fast cut down so that one training takes seconds."""
    from rl_core.presets import config_to_query, preset

    config = replace(
        preset("deep-fast"),
        n_episodes=episodes,
        nn_hidden_layers=[32, 32],
        n_steps_warm_up_memory=256,
        eval_every_episodes=0,
        stop_at_reward=None,
    )
    return urlencode(config_to_query(config, "deep-fast"))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


class EngineFailed(RuntimeError):
    """The app could not start Ray (seen on a loaded machine: the raylet timed out): a fresh server may."""


# --- the server ----------------------------------------------------------------------------


def write_secrets(path: Path, port: int) -> None:
    """Class mode: Streamlit's [auth] section. The provider is never contacted (nobody logs in
    through it); the cookie secret is the one the students' cookies are signed with."""
    path.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{COOKIE_SECRET}"
client_id = "class-load"
client_secret = "class-load-secret"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
""")


def start_server(app_dir: Path, port: int, base: Path, log: IO[str]) -> subprocess.Popen:
    """``streamlit run app.py`` from ``app_dir`` (its code on PYTHONPATH, its .streamlit/config.toml
    read), in class mode, saving under its own temporary runs folder."""
    runs = base / "runs"
    runs.mkdir()
    secrets = base / "secrets.toml"
    write_secrets(secrets, port)
    env = {**os.environ, "QLAB_RUNS_DIR": str(runs), "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(app_dir)}
    env.pop("QLAB_INSTRUCTORS", None)  # students, not instructors: the class quotas apply
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app_dir / "app.py")]
        + ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"]
        + ["--browser.gatherUsageStats", "false", "--secrets.files", str(secrets)],
        cwd=app_dir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_up(url: str, server: subprocess.Popen | None, seconds: float = 90) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                return
        except OSError:
            if server is not None and server.poll() is not None:
                raise SystemExit(f"the app exited with code {server.returncode} before it answered") from None
            time.sleep(0.3)
    raise SystemExit(f"the app at {url} did not answer within {seconds:.0f} s")


def server_pid(url: str) -> int | None:
    """The pid of the process listening on the URL's port (for --url), from /proc/net/tcp."""
    port = urlparse(url).port
    if port is None:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(parts[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


class ProcessSampler:
    """The web process's own CPU time (children excluded: utime + stime of /proc/<pid>/stat) and RSS."""

    def __init__(self, pid: int):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.rss: list[float] = []

    def cpu_seconds(self) -> float:
        fields = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime (fields 14 and 15)

    def sample_rss(self) -> None:
        pages = int(open(f"/proc/{self.pid}/statm").read().split()[1])
        self.rss.append(pages * self.page / 2**20)


def trace_detail(msg: Any) -> str:
    kind = msg.WhichOneof("type")
    if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
        element = msg.delta.new_element
        what = element.WhichOneof("type")
        inner = getattr(element, what)
        label = getattr(inner, "label", "") or getattr(inner, "body", "")[:60]
        return f"{what} {label!r} frag={msg.delta.fragment_id!r}"
    if kind == "navigation":
        return f"page={msg.navigation.page_script_hash[:8]}"
    if kind == "new_session":
        return f"page={msg.new_session.page_script_hash[:8]} fragments={list(msg.metadata.run.fragment_ids)}"
    if kind in ("auto_rerun", "stop_auto_rerun", "script_finished", "page_info_changed"):
        return str(getattr(msg, kind)).replace("\n", " ")[:120]
    return ""


# --- one student ---------------------------------------------------------------------------


def login_cookie(subject: str, origin: str, secret: str) -> str:
    """The ``_streamlit_user`` cookie Streamlit's OIDC callback would set for this identity."""
    from streamlit.web.server.starlette.starlette_app_utils import create_signed_value

    claims = {"sub": subject, "name": subject.replace("-", " ").title(), "email": f"{subject}@class.test"}
    payload = dict(claims, origin=origin, is_logged_in=True, provider="default")
    return create_signed_value(secret, "_streamlit_user", json.dumps(payload)).decode()


@dataclass
class StudentStats:
    page_load: float | None = None
    update_intervals: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds)
    tick_intervals: list[tuple[float, float]] = field(default_factory=list)
    start_clicks: list[tuple[float, float]] = field(default_factory=list)  # (sent at, seconds)
    toggle_clicks: list[tuple[float, float]] = field(default_factory=list)
    chart_updates: int = 0
    fragment_runs_cut: list[tuple[float, float]] = field(default_factory=list)  # (when, 1): preempted
    silences: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds without a message)
    trainings_started: int = 0
    trainings_finished: int = 0
    errors: list[str] = field(default_factory=list)


class Student:
    """One simulated browser tab on the Train page."""

    def __init__(self, index: int, url: str, query: str, secret: str, args: argparse.Namespace):
        self.name = f"student-{index:02d}" if index < 99 else "warm-up-visitor"
        self.url = url
        self.query = query
        self.secret = secret
        self.args = args
        self.stats = StudentStats()
        self.ws: Any = None
        self.page_script_hash = ""
        self.timers: dict[str, asyncio.Task] = {}  # this client's auto-rerun timers (none in Chromium)
        self.auto_fragments: set[str] = set()  # fragments the server gave an auto-rerun interval
        self.widget_states: dict[str, bool] = {}  # non-trigger values this client has set
        self.start_button: tuple[str, bool] | None = None  # (element id, disabled)
        self.toggle_id: str | None = None
        self.toggle_fragment = ""  # the fragment that draws the toggle ("" when the page draws it)
        self.run_fragments: list[str] = []  # the fragments the current run runs (none: a full run)
        self.last_meta: tuple | None = None
        self.last_update_at: float | None = None
        self.last_tick_at: float | None = None
        self.pending_click: tuple[str, float] | None = None  # (kind, sent at)
        self.toggle_cut_at: float | None = None  # when the toggle's fragment run was cut short
        self.full_run_done = asyncio.Event()
        self.job_live = False  # a job's fragment is polling
        self.started = asyncio.Event()  # the first Start click has been answered
        self.engine_starting = False
        self.message_cache: dict[str, Any] = {}  # hash -> ForwardMsg, as the frontend's ForwardMsgCache
        self.last_message_at: float | None = None
        self.engine_failed = ""
        self.refused = False  # the app said "Cannot start": this student stops trying

    # messages out
    async def send_rerun(self, fragment_id: str = "", trigger: str | None = None, auto: bool = False) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        state.page_script_hash = self.page_script_hash
        if not self.page_script_hash:
            state.page_name = "train"  # the browser's first request names the page from its path
        if fragment_id:
            state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        for widget_id, value in self.widget_states.items():
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            widget.bool_value = value
        if trigger is not None:
            widget = state.widget_states.widgets.add()
            widget.id = trigger
            widget.trigger_value = True
        state.cached_message_hashes.extend(self.message_cache)  # as the frontend does: refs for these
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        state.context_info.url = f"{self.url}/train?{self.query}"
        await self.ws.send(msg.SerializeToString())

    async def auto_rerun(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.send_rerun(fragment_id=fragment_id, auto=True)

    def cancel_timers(self, fragment_ids: list[str] | None = None) -> None:
        for fragment_id in list(self.timers) if fragment_ids is None else fragment_ids:
            task = self.timers.pop(fragment_id, None)
            if task is not None:
                task.cancel()

    # messages in
    def on_element(self, element: Any, fragment_id: str, now: float) -> None:
        kind = element.WhichOneof("type")
        if kind == "button" and element.button.label == START_LABEL:
            self.start_button = (element.button.id, element.button.disabled)
        elif kind == "checkbox" and element.checkbox.label == TOGGLE_LABEL:
            self.toggle_id, self.toggle_fragment = element.checkbox.id, fragment_id
        elif kind == "markdown" and element.markdown.body.startswith(ENGINE_STARTING):
            self.engine_starting = True
        elif kind == "exception":
            self.stats.errors.append(f"{element.exception.type}: {element.exception.message}"[:200])
        elif kind == "alert" and element.alert.format == 1:  # ERROR
            if ENGINE_FAILED in element.alert.body:
                self.engine_failed = element.alert.body
            if "Cannot start" in element.alert.body:
                self.refused = True
                self.stats.errors.append(element.alert.body[:200])
        elif kind == "plotly_chart":
            meta = json.loads(element.plotly_chart.spec).get("layout", {}).get("meta")
            if not isinstance(meta, dict) or "updated_at" not in meta:
                return  # the epsilon/loss chart
            key = (meta.get("job"), meta.get("updated_at"), meta.get("episode"))
            if key != self.last_meta:
                # an interval is between two updates of one job: the wait for a student's next run
                # (queued behind the class's on Ray's CPUs) is not the view lagging
                if self.last_update_at is not None and self.last_meta is not None and self.last_meta[0] == key[0]:
                    self.stats.update_intervals.append((now, now - self.last_update_at))
                self.stats.chart_updates += 1
                self.last_meta, self.last_update_at = key, now

    def answer_toggle(self, at: float) -> None:
        assert self.pending_click is not None
        self.stats.toggle_clicks.append((self.pending_click[1], at - self.pending_click[1]))
        self.pending_click = None
        self.toggle_cut_at = None
        self.full_run_done.set()

    def on_finished(self, status: int, now: float) -> None:
        if status == RUN_CUT_SHORT and self.run_fragments:  # the next rerun came before this fragment run ended
            self.stats.fragment_runs_cut.append((now, 1.0))
            if self.pending_click is not None and self.pending_click[0] == "toggle":
                if self.toggle_fragment in self.run_fragments:
                    self.toggle_cut_at = now  # answered unless the next run draws the settings again
        if status == FRAGMENT_FINISHED:
            clicked = self.pending_click is not None and self.pending_click[0] == "toggle"
            if clicked and self.toggle_fragment in self.run_fragments:
                self.answer_toggle(now)
            if any(f in self.auto_fragments for f in self.run_fragments):  # a tick of a live view
                if self.last_tick_at is not None:
                    self.stats.tick_intervals.append((now, now - self.last_tick_at))
                self.last_tick_at = now
            return
        if status != RUN_FINISHED:
            return
        if self.stats.page_load is None:
            self.stats.page_load = now - self.opened_at
        if self.pending_click is not None:
            kind, sent = self.pending_click
            (self.stats.start_clicks if kind == "start" else self.stats.toggle_clicks).append((sent, now - sent))
            self.pending_click = None
            if kind == "start":
                self.started.set()
        self.full_run_done.set()

    async def read(self) -> None:
        async for data in self.ws:
            self.handle(data, time.perf_counter())

    def handle(self, data: bytes, now: float) -> None:
        """One ForwardMsg from the server, as the frontend acts on it (App.tsx)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        msg.ParseFromString(data)
        if msg.WhichOneof("type") == "ref_hash":  # a message this client said it had cached
            cached = self.message_cache.get(msg.ref_hash)
            if cached is None:
                self.stats.errors.append("the server referred to a message this client never had")
                return
            metadata = msg.metadata
            msg = ForwardMsg()
            msg.CopyFrom(cached)
            msg.metadata.CopyFrom(metadata)
        elif msg.metadata.cacheable and msg.hash:  # Chromium caches too: its refs are read from here
            self.message_cache[msg.hash] = msg
            if len(self.message_cache) > MESSAGE_CACHE_SIZE:
                del self.message_cache[next(iter(self.message_cache))]
        kind = msg.WhichOneof("type")
        if self.job_live and self.last_message_at is not None and now - self.last_message_at > 1.0:
            self.stats.silences.append((now, now - self.last_message_at))
        self.last_message_at = now
        if self.args.trace and self.name == "student-00":
            print(f"{now - self.opened_at:8.3f} {kind} {trace_detail(msg)}", file=sys.stderr)
        if kind == "navigation":  # the page this run shows (new_session names the main script)
            self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "new_session":
            self.run_fragments = list(msg.metadata.run.fragment_ids)
            if self.toggle_cut_at is not None:
                # Streamlit ends a fragment run "early for rerun" when another fragment's rerun is
                # waiting, even after the run drew everything (seen in Chromium: the panel was
                # always complete). If the next run leaves the settings out, that cut run answered.
                if self.run_fragments and self.toggle_fragment not in self.run_fragments:
                    self.answer_toggle(self.toggle_cut_at)
                else:
                    self.toggle_cut_at = None
            if not msg.metadata.run.fragment_ids:  # a full run: the frontend drops its timers
                self.cancel_timers()
                self.auto_fragments.clear()
                self.job_live = False
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            self.on_element(msg.delta.new_element, msg.delta.fragment_id, now)
        elif kind == "auto_rerun":
            self.job_live = True
            self.auto_fragments.add(msg.auto_rerun.fragment_id)
            if self.ws is not None:  # a browser keeps its own timers
                self.cancel_timers([msg.auto_rerun.fragment_id])
                self.timers[msg.auto_rerun.fragment_id] = asyncio.create_task(
                    self.auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
                )
        elif kind == "stop_auto_rerun":
            self.cancel_timers(list(msg.stop_auto_rerun.fragment_ids))
            self.auto_fragments.difference_update(msg.stop_auto_rerun.fragment_ids)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string  # the address bar follows the page
        elif kind == "script_finished":
            self.on_finished(msg.script_finished, now)

    async def click(self, kind: str) -> None:
        """The rerun a click causes; returns once its run has finished (or after 60 s)."""
        self.full_run_done.clear()
        self.pending_click, self.toggle_cut_at = (kind, time.perf_counter()), None
        await self.send_click(kind)
        if kind == "start":
            self.stats.trainings_started += 1
        try:
            await asyncio.wait_for(self.full_run_done.wait(), 60)
        except TimeoutError:
            self.stats.errors.append(f"no script_finished within 60 s of a {kind} click")
            self.pending_click = None

    async def send_click(self, kind: str) -> None:
        if kind == "start":
            assert self.start_button is not None
            await self.send_rerun(trigger=self.start_button[0])  # a button's click is a one-run trigger
        else:
            assert self.toggle_id is not None
            self.widget_states[self.toggle_id] = not self.widget_states.get(self.toggle_id, True)
            await self.send_rerun(fragment_id=self.toggle_fragment)

    async def run(self, stop: asyncio.Event) -> None:
        await self.connected(self.act, stop)

    async def warm_up(self, seconds: float = 300) -> None:
        """Load the Train page until the compute engine is up (a server started before the lesson)."""

        async def reload(_: asyncio.Event) -> None:
            deadline = time.perf_counter() + seconds
            while self.engine_starting and not self.engine_failed and time.perf_counter() < deadline:
                await asyncio.sleep(1.0)
                self.engine_starting = False
                self.full_run_done.clear()
                await self.send_rerun()
                await asyncio.wait_for(self.full_run_done.wait(), 120)
            if self.engine_starting:
                raise SystemExit(f"the compute engine was still starting after {seconds:.0f} s")
            if self.engine_failed:
                raise EngineFailed(f"the app says: {self.engine_failed[:300]}")

        await self.connected(reload, asyncio.Event())

    async def connected(self, then: Any, stop: asyncio.Event) -> None:
        """Open the websocket and the Train page, then ``then(stop)``."""
        from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string
        from websockets.asyncio.client import connect

        origin = f"{urlparse(self.url).scheme}://{urlparse(self.url).netloc}"
        xsrf = generate_xsrf_token_string()
        cookie = f"_streamlit_xsrf={xsrf}; _streamlit_user={login_cookie(self.name, origin, self.secret)}"
        ws_url = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        self.opened_at = time.perf_counter()
        async with connect(
            ws_url,
            subprotocols=["streamlit", xsrf],  # type: ignore[list-item]  # Streamlit's XSRF token rides here
            origin=origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": cookie},
            max_size=None,
            open_timeout=60,
            ping_interval=None,
        ) as self.ws:
            reader = asyncio.create_task(self.read())
            try:
                await self.send_rerun()
                await asyncio.wait_for(self.full_run_done.wait(), 120)
                await then(stop)
            except TimeoutError:
                self.stats.errors.append("the Train page did not finish loading within 120 s")
                self.started.set()
            finally:
                self.cancel_timers()
                reader.cancel()

    async def act(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.name)
        next_toggle = time.perf_counter() + rng.uniform(0, self.args.click_every)
        first = True
        give_up = time.perf_counter() + 120
        while not stop.is_set():
            if first and time.perf_counter() > give_up:
                self.stats.errors.append(f"Start stayed disabled or absent for 120 s: {self.start_button}")
                self.started.set()
                return
            can_start = self.start_button is not None and not self.start_button[1]
            if can_start and not self.refused and (first or (self.args.repeat and not self.job_live)):
                if not first:
                    self.stats.trainings_finished += 1
                first = False
                await self.click("start")
                self.started.set()
            elif self.toggle_id and self.args.click_every > 0 and time.perf_counter() >= next_toggle:
                await self.click("toggle")
                next_toggle = time.perf_counter() + self.args.click_every
            elif first and self.start_button is None:
                self.stats.errors.append("no Start button on the Train page")
                self.started.set()
                return
            await asyncio.sleep(0.2)


class BrowserStudent(Student):
    """The same student in a real Chromium tab (--browser), for checking the simulation: the page
    clicks as a person does, and the same measurements are read from the websocket frames the
    browser receives."""

    def __init__(self, *args: Any, browser: Any) -> None:
        super().__init__(*args)
        self.browser = browser
        self.page: Any = None

    async def send_click(self, kind: str) -> None:
        label = START_LABEL if kind == "start" else TOGGLE_LABEL
        target = (
            self.page.get_by_role("button", name=label, exact=True)
            if kind == "start"
            else self.page.get_by_text(label, exact=True)
        )
        await target.click()

    async def run(self, stop: asyncio.Event) -> None:
        context = await self.browser.new_context(viewport={"width": 1400, "height": 1000})
        origin = f"{urlparse(self.url).scheme}://{urlparse(self.url).netloc}"
        cookie = login_cookie(self.name, origin, self.secret)
        await context.add_cookies([{"name": "_streamlit_user", "value": cookie, "url": self.url}])
        self.page = await context.new_page()
        self.page.set_default_timeout(120_000)  # a loaded machine's Chromium draws slowly

        def on_websocket(ws: Any) -> None:
            def on_frame(payload: str | bytes) -> None:
                if isinstance(payload, bytes):
                    self.handle(payload, time.perf_counter())

            ws.on("framereceived", on_frame)

        self.page.on("websocket", on_websocket)
        self.opened_at = time.perf_counter()
        try:
            await self.page.goto(f"{self.url}/train?{self.query}")
            await asyncio.wait_for(self.full_run_done.wait(), 120)
            await self.act(stop)
        except TimeoutError:
            self.stats.errors.append("the Train page did not finish loading within 120 s")
            self.started.set()
        finally:
            await context.close()


# --- the class -----------------------------------------------------------------------------


async def run_class(url: str, pid: int | None, args: argparse.Namespace) -> dict[str, Any]:
    query = args.query or tiny_query(args.episodes)
    if args.browser:
        from playwright.async_api import async_playwright

        playwright = await async_playwright().start()
        sys.path.insert(0, str(ROOT / "tests"))
        from browser_support import CHROMIUM, LAUNCH_ARGS

        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        students: list[Student] = [
            BrowserStudent(i, url, query, args.cookie_secret, args, browser=browser) for i in range(args.students)
        ]
    else:
        students = [Student(i, url, query, args.cookie_secret, args) for i in range(args.students)]
    began = time.perf_counter()

    def progress(what: str) -> None:
        print(f"[class_load {time.perf_counter() - began:6.1f} s] {what}", file=sys.stderr, flush=True)

    await Student(99, url, query, args.cookie_secret, args).warm_up()
    progress("the Train page loads and the compute engine is up")
    stop = asyncio.Event()
    tasks = []
    for student in students:  # a class does not press Enter all in the same millisecond
        tasks.append(asyncio.create_task(student.run(stop)))
        await asyncio.sleep(args.stagger)
    await asyncio.wait_for(asyncio.gather(*(s.started.wait() for s in students)), args.students * 30 + 60)
    progress(f"all {args.students} students have clicked Start")
    # the window opens once some training draws: Ray's workers may still be warming up
    first_chart = time.perf_counter() + args.first_chart_timeout
    while not any(s.stats.chart_updates for s in students) and time.perf_counter() < first_chart:
        await asyncio.sleep(0.5)
    progress(f"measuring for {args.seconds:.0f} s")
    sampler = ProcessSampler(pid) if pid else None
    window_start = time.perf_counter()
    cpu_start = sampler.cpu_seconds() if sampler else 0.0
    own_start = time.process_time()

    def updates_so_far() -> int:
        return sum(1 for s in students for when, _ in s.stats.update_intervals if when >= window_start)

    # at least --seconds; longer (up to --max-seconds) until --min-updates chart updates were seen
    while (elapsed := time.perf_counter() - window_start) < args.seconds or (
        updates_so_far() < args.min_updates and elapsed < max(args.max_seconds, args.seconds)
    ):
        if sampler:
            sampler.sample_rss()
        await asyncio.sleep(1.0)
    window = time.perf_counter() - window_start
    web_cpu = (sampler.cpu_seconds() - cpu_start) / window if sampler else None
    own_cpu = (time.process_time() - own_start) / window
    stop.set()
    done, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
    errors = [str(t.exception())[:200] for t in done if t.exception() is not None]
    if args.browser:
        await browser.close()
        await playwright.stop()

    def in_window(pairs: list[tuple[float, float]]) -> list[float]:
        return [v for when, v in pairs if window_start <= when <= window_start + window]

    updates = [v for s in students for v in in_window(s.stats.update_intervals)]
    ticks = [v for s in students for v in in_window(s.stats.tick_intervals)]
    starts = [v for s in students for _, v in s.stats.start_clicks]  # the class's arrival included
    toggles = [v for s in students for v in in_window(s.stats.toggle_clicks)]
    clicks = [v for s in students for v in in_window(s.stats.start_clicks + s.stats.toggle_clicks)]
    silences = [v for s in students for v in in_window(s.stats.silences)]
    loads = [s.stats.page_load for s in students if s.stats.page_load is not None]
    errors += [e for s in students for e in s.stats.errors]
    return {
        "students": args.students,
        "clients": "chromium" if args.browser else "websocket",
        "seconds": round(window, 1),
        "update_interval_median_s": rounded(statistics.median(updates) if updates else None),
        "update_interval_p95_s": rounded(percentile(updates, 0.95)),
        "click_p95_s": rounded(percentile(clicks, 0.95)),
        "web_cpu_cores": rounded(web_cpu),
        "web_rss_mb": rounded(max(sampler.rss), 1) if sampler and sampler.rss else None,
        "web_rss_start_end_mb": [round(sampler.rss[0], 1), round(sampler.rss[-1], 1)]
        if sampler and sampler.rss
        else None,
        "chart_updates_in_window": len(updates),
        "students_with_chart_updates": sum(1 for s in students if in_window(s.stats.update_intervals)),
        "tick_interval_median_s": rounded(statistics.median(ticks) if ticks else None),
        "tick_interval_p95_s": rounded(percentile(ticks, 0.95)),
        "ticks_in_window": len(ticks),
        "fragment_runs_cut_short_in_window": sum(len(in_window(s.stats.fragment_runs_cut)) for s in students),
        "longest_silence_while_live_s": rounded(max(silences, default=0)),
        "click_median_s": rounded(statistics.median(clicks) if clicks else None),
        "start_click_p95_s": rounded(percentile(starts, 0.95)),
        "toggle_click_median_s": rounded(statistics.median(toggles) if toggles else None),
        "toggle_click_p95_s": rounded(percentile(toggles, 0.95)),
        "clicks_in_window": len(clicks),
        "start_clicks": len(starts),
        "page_load_p95_s": rounded(percentile(loads, 0.95)),
        "trainings_started": sum(s.stats.trainings_started for s in students),
        "trainings_finished": sum(s.stats.trainings_finished for s in students),
        "generator_cpu_cores": round(own_cpu, 3),
        "errors": len(errors),
        "first_errors": sorted(set(errors))[:5],
    }


def serve_and_run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the app on a free port, run the class against it, stop it."""
    from socket import socket

    base = Path(tempfile.mkdtemp(prefix="qlab-class-load-"))
    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(args.log or base / "streamlit.log", "a")
    server = start_server(args.app_dir.resolve(), port, base, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, server)
        return asyncio.run(run_class(url, server.pid, args))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        # the app's local Ray instance outlives its server by design, and would go on training the
        # class's queue: the next run would then share Ray's CPUs with it
        from rl_core.compute.engine import stop_local_instance

        print(f"[class_load] {stop_local_instance(base / 'runs')}", file=sys.stderr)
        log.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60, help="the measuring window, once all have clicked Start")
    parser.add_argument("--url", help="an app already running in class mode (else one is started here)")
    parser.add_argument("--pid", type=int, help="the web process's pid with --url (found from its port otherwise)")
    parser.add_argument("--cookie-secret", default=COOKIE_SECRET, help="that app's [auth] cookie_secret")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the code to serve (a worktree)")
    parser.add_argument("--episodes", type=int, default=60, help="episodes of each student's tiny training")
    parser.add_argument("--query", help="the shared link's query string instead of the tiny deep-fast one")
    parser.add_argument("--click-every", type=float, default=10.0, help="seconds between toggle clicks (0: none)")
    parser.add_argument("--stagger", type=float, default=0.2, help="seconds between two students' arrivals")
    parser.add_argument("--repeat", action=argparse.BooleanOptionalAction, default=True, help="train again when done")
    parser.add_argument("--first-chart-timeout", type=float, default=120, help="seconds to wait for any live chart")
    parser.add_argument("--browser", action="store_true", help="students in Chromium tabs (checks the simulation)")
    parser.add_argument("--attempts", type=int, default=3, help="fresh servers to try when Ray fails to start")
    parser.add_argument("--min-updates", type=int, default=0, help="keep measuring until this many chart updates")
    parser.add_argument("--max-seconds", type=float, default=300, help="the window's limit with --min-updates")
    parser.add_argument("--trace", action="store_true", help="print the first student's messages to stderr")
    parser.add_argument("--log", type=Path, help="the started app's log (default: in its temporary folder)")
    args = parser.parse_args(argv)

    from _common import git_commit, machine

    if args.url:
        url = args.url.rstrip("/")
        wait_until_up(url, None)
        result = asyncio.run(run_class(url, args.pid or server_pid(url), args))
    else:
        for attempt in range(1, args.attempts + 1):
            try:
                result = serve_and_run(args)
                break
            except EngineFailed as exc:
                print(f"[class_load] attempt {attempt}: {exc}", file=sys.stderr, flush=True)
                if attempt == args.attempts:
                    raise
    app_dir = args.app_dir.resolve()
    result["app"] = args.url or str(app_dir)
    result["app_commit"] = subprocess.run(
        ["git", "-C", str(app_dir), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result["bench_commit"] = git_commit()
    result["machine"] = machine()
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
