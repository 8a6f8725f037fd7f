"""What the browser tests share: Debian's Chromium and its flags (skipped without it, failed under
CI=true), starting the app's server, and acting on Streamlit's elements without racing its reruns."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

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
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
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
        if own_log is not None:
            own_log.close()


def settled(locator):
    """The element once a rerun has settled (Streamlit briefly shows the old element beside its
    replacement, and acting on either then is a race)."""
    expect(locator).to_have_count(1)
    return locator


def enter(page: Page, label: str, value: str) -> None:
    """Type into an input and submit it, again if a rerun swapped the element meanwhile (a check
    that one element is there, then a fill, is a race with the next rerun)."""
    for _ in range(10):
        field = settled(page.get_by_label(label, exact=True))
        try:
            field.fill(value, timeout=5_000)
            field.press("Enter", timeout=5_000)
            expect(field).to_have_value(value, timeout=5_000)
            return
        except (PlaywrightError, AssertionError):
            time.sleep(0.5)
    raise AssertionError(f"could not enter {value!r} into {label!r}")


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
    """Set a toggle, clicking again if a rerun swallowed the click (the page may still be drawing)."""
    switch = page.get_by_label(label, exact=True)
    for _ in range(5):
        if switch.is_checked() == on:
            return
        settled(page.get_by_text(label, exact=True)).click()
        try:
            (expect(switch).to_be_checked if on else expect(switch).not_to_be_checked)(timeout=5_000)
            return
        except AssertionError:
            pass
    raise AssertionError(f"could not switch {'on' if on else 'off'} {label!r}")


def wait_for_reward_points(page: Page, more_than: int, timeout: float = 60_000) -> int:
    """Wait until the live reward chart holds more than ``more_than`` episodes and return how many.
    The count comes from the check itself: the chart is briefly absent while a rerun redraws it, so
    reading it again afterwards could find none."""
    check = f"() => {{ const n = ({REWARD_POINTS_JS})(); return n > {more_than} ? n : 0; }}"
    return int(page.wait_for_function(check, timeout=timeout).json_value())
