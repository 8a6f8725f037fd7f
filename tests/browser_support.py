"""What the browser tests share: Debian's Chromium and its flags (skipped without it, failed under
CI=true), starting the app's server, and acting on Streamlit's elements without racing its reruns: each
action waits until Streamlit itself says its script run has finished, never a fixed time."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("QLAB_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skip the calling test module without Chromium; under CI=true fail it (.ci/run installs it)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium", pytrace=False)
        pytest.skip(f"no browser at {CHROMIUM}", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The logs of the app servers started so far, newest last: a failed browser test shows their tails
# (tests/conftest.py), since the server's side of a timeout is only there.
SERVER_LOGS: list[Path] = []


def start_app(
    port: int,
    runs: Path,
    log: IO[str] | int,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str | None] | None = None,
) -> subprocess.Popen:
    """``streamlit run app.py`` on 127.0.0.1:``port``, saving under ``runs``; ``env`` adds variables
    to this process's environment (or, with None, removes them)."""
    environment = {**os.environ, "QLAB_RUNS_DIR": str(runs), "SDL_VIDEODRIVER": "dummy"}
    environment.pop("QLAB_ENGINE", None)  # served as people run it: jobs in the registry service
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    if isinstance(getattr(log, "name", None), str):
        SERVER_LOGS.append(Path(log.name))  # type: ignore[union-attr]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            *extra_args,
        ],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_until_up(url: str, server: subprocess.Popen, what: str, seconds: float = 60) -> None:
    """Return once ``url`` answers 200 (a health check: it serves no page, so the first page request
    is still the test's own); fail the test if ``server`` exits or ``seconds`` pass first."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.3)
    server.kill()
    pytest.fail(f"{what} did not start within {seconds:.0f} s")


def stop_engine(runs: Path) -> None:
    """Stop the local Ray instance (and with it the registry service) an app served from ``runs``
    started: it outlives the app's server by design."""
    from rl_core.compute.engine import stop_local_instance

    stop_local_instance(runs)


@contextmanager
def running_app(
    runs: Path,
    log: IO[str] | int | None = None,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str | None] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A freshly started app server, once it answers: yields (its URL, its process), and stops it.
    Without ``log`` its output goes to streamlit-PORT.log beside ``runs``."""
    port = free_port()
    own_log = None
    if log is None:
        log = own_log = open(runs.parent / f"streamlit-{port}.log", "w")
    server = start_app(port, runs, log, extra_args, env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/_stcore/health", server, "streamlit")
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=20)
        stop_engine(runs)
        if own_log is not None:
            own_log.close()


# Streamlit's root element says whether a script run (the page's or a fragment's) is going on:
# data-test-script-state is "running" from the moment the server starts a run until it has finished,
# "notRunning" between runs. Waiting on it replaces guessing how long a rerun takes on a busy machine.
APP_IDLE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testScriptState === 'notRunning' && app.dataset.testConnectionState === 'CONNECTED';
}"""
APP_STATE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app ? `script ${app.dataset.testScriptState}, connection ${app.dataset.testConnectionState}` : 'not drawn';
}"""
# How many runs have finished since this was first asked on this page load: a MutationObserver counts
# every change of the script state into "notRunning" (records are read in order, so a run that starts
# and ends between two polls is still counted).
RUNS_FINISHED_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) return -1;
    if (app.qlabRunsFinished === undefined) {
        app.qlabRunsFinished = 0;
        new MutationObserver(records => records.forEach((record, i) => {
            const now = i + 1 < records.length ? records[i + 1].oldValue : app.dataset.testScriptState;
            if (record.oldValue !== 'notRunning' && now === 'notRunning') app.qlabRunsFinished++;
        })).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
    }
    return app.qlabRunsFinished;
}"""


# A page's first draw on a cold server imports torch and the app: over 30 s with the 2 cores at a load
# of 40 (issue 21). An upper bound for page loads, not a pace. (Waiting for the whole first run instead
# is too strict: the Evaluate page's first run plays 1000 episodes, over 180 s at that load.)
PAGE_LOAD_MS = 180_000


# A rerun's upper bound: a page's first run after its server's engine came up (the web process joins
# Ray, moves its heap out of the collector's sight, makes its registry client) took over 60 s with the
# 2 cores shared with a 60-student load test. An upper bound, not a pace.
RERUN_MS = 120_000


# Counts the frames the app's WebSocket receives. A rerun's script state can go "running" and back to
# "notRunning" within one React commit when the browser is starved of CPU (both messages handled
# before React renders), and the DOM then never shows the run: the frames still do.
WEBSOCKET_FRAMES_JS = """(() => {
    const Native = window.WebSocket;
    window.qlabFrames = 0;
    window.qlabLastFrameAt = 0;
    class Counted extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', () => {
                window.qlabFrames++;
                window.qlabLastFrameAt = performance.now();
            });
        }
    }
    window.WebSocket = Counted;
})()"""
# After an action, the server's answer counts as a finished rerun once the app has been idle this long
# since the last frame (a rerun not seen in the script state, see above).
QUIET_AFTER_FRAMES_MS = 2_000


def watched_context(browser: Browser, **options: object) -> BrowserContext:
    """A new browser context (``options`` as for Browser.new_context) whose pages count their app's
    WebSocket frames, for ``rerun_by``."""
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.add_init_script(WEBSOCKET_FRAMES_JS)
    return context


def wait_until_idle(page: Page, timeout: float = RERUN_MS) -> None:
    """Wait until no script run is going on (the page has finished drawing and is connected)."""
    page.wait_for_function(APP_IDLE_JS, timeout=timeout)


def rerun_by(page: Page, action: Callable[[], object], timeout: float = RERUN_MS) -> None:
    """Do ``action`` (a click, a key press) on an idle page and wait until the rerun it caused has
    finished. The action must cause a rerun (a widget whose value changes, a button)."""
    wait_until_idle(page, timeout)
    before = page.evaluate(RUNS_FINISHED_JS)
    frames_before = page.evaluate("() => window.qlabFrames ?? -1")
    action()
    answered = (
        f"(window.qlabFrames ?? -1) > {frames_before} && {frames_before} >= 0"
        f" && performance.now() - window.qlabLastFrameAt > {QUIET_AFTER_FRAMES_MS}"
    )
    try:
        page.wait_for_function(
            f"() => (({RUNS_FINISHED_JS})() > {before} || ({answered})) && ({APP_IDLE_JS})()", timeout=timeout
        )
    except PlaywrightTimeoutError:
        state = page.evaluate(APP_STATE_JS)
        frames = page.evaluate("() => window.qlabFrames ?? -1")
        shot = Path(tempfile.gettempdir()) / f"qlab-rerun-failure-{int(time.time())}.png"
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(
            f"no rerun finished {timeout / 1000:.0f} s after the action: runs finished {before} before, "
            f"{page.evaluate(RUNS_FINISHED_JS)} now; WebSocket frames {frames_before} before, {frames} now; "
            f"app {state}; screenshot {shot}"
        ) from None


# No finite animation running (an expander opening, say); endless ones (a spinner) do not count.
# A click on a checkbox in an expander still opening was lost 1 time in 4-6 in Chromium (the focus
# stayed on the expander's header, no message left the page); 0 in 12 once the opening had ended.
ANIMATIONS_DONE_JS = """() => document.getAnimations().every(
    a => a.playState !== 'running' || a.effect === null || a.effect.getComputedTiming().endTime === Infinity)"""


def settled(locator: Locator) -> Locator:
    """The element once the page's script has finished its run (during a run Streamlit still shows
    the old element beside its replacement, and acting on either then is a race) and nothing on the
    page is still moving into place."""
    wait_until_idle(locator.page)
    expect(locator).to_have_count(1)
    locator.page.wait_for_function(ANIMATIONS_DONE_JS, timeout=RERUN_MS)
    return locator


def enter(page: Page, label: str, value: str) -> None:
    """Type into an input and submit it, then wait until the rerun that takes the value has finished."""
    field = settled(page.get_by_label(label, exact=True))
    if field.input_value() == value:
        return  # nothing changes: Streamlit would not rerun
    field.fill(value)
    rerun_by(page, lambda: field.press("Enter"))
    expect(settled(page.get_by_label(label, exact=True))).to_have_value(value)


# The episodes in the live reward chart, found by its trace's name: once a run has had more than
# plots.MAX_ERROR_BARS evaluations their band is drawn first, so data[0] is no longer the rewards.
# Read from the trace as Plotly drew it (_fullData): the live charts send their points as Plotly's
# typed arrays (base64), which only the drawn trace holds decoded.
REWARD_POINTS_JS = """() => {
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const rewards = (plot._fullData || plot.data || []).find(trace => trace.name === 'reward');
        if (rewards) return rewards.x.length;
    }
    return 0;
}"""


def switch_to(page: Page, label: str, on: bool) -> None:
    """Set a toggle, and wait until the rerun it causes has finished."""
    # drawn late in a page's first run (seen taking over 30 s at load 40)
    expect(page.get_by_label(label, exact=True).first).to_be_attached(timeout=PAGE_LOAD_MS)
    switch = settled(page.get_by_label(label, exact=True))
    if switch.is_checked() != on:
        rerun_by(page, settled(page.get_by_text(label, exact=True)).click)
    (expect(switch).to_be_checked if on else expect(switch).not_to_be_checked)()


# A server's first training waits for its compute engine (a local Ray instance) to start: seen taking
# 160 s with the 2 cores at a load of 25-40 (bench/RESULTS.md, issue 21). An upper bound, not a pace.
FIRST_TRAINING_MS = 300_000


def engine_ready(page: Page) -> None:
    """Wait, as a person would, until the page no longer says the compute engine or the job registry
    is still starting (a server's first minute)."""
    for notice in ("Starting the compute engine", "Connecting to the job registry"):
        expect(page.get_by_text(notice)).to_have_count(0, timeout=PAGE_LOAD_MS)
    wait_until_idle(page)


def press_start(page: Page) -> None:
    """Press the Train page's Start once the page has stopped changing by itself: on a fresh server
    the engine notice redraws the whole page when Ray comes up, and during that run Streamlit shows
    the old Start beside the new one (seen in CI: a strict-mode violation between ``settled`` and the
    click)."""
    engine_ready(page)
    start = settled(page.get_by_role("button", name="Start", exact=True))
    expect(start).to_be_enabled()
    start.click()


def wait_for_reward_points(page: Page, more_than: int, timeout: float = FIRST_TRAINING_MS) -> int:
    """Wait until the live reward chart holds more than ``more_than`` episodes and return how many.
    The count comes from the check itself: the chart is briefly absent while a rerun redraws it, so
    reading it again afterwards could find none."""
    check = f"() => {{ const n = ({REWARD_POINTS_JS})(); return n > {more_than} ? n : 0; }}"
    return int(page.wait_for_function(check, timeout=timeout).json_value())
