"""The web tier holds no job (issue 18), end to end in real headless Chromium: app processes that
die or are many, on one runs store, with the jobs in the registry service.

- kill -9 of the app's server mid-training, a new server on the same store: the run is saved, shown;
- two app processes on two ports: a run started through one is live on the other's Train page and
  on its Class board, and Stop from the other reaches it;
- nginx in front of both (Debian's, deploy/nginx.conf.template): a session through the proxy trains
  and watches live, and a session moved to the other process (its cookie dropped) still finds its run.
"""

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    LAUNCH_ARGS,
    free_port,
    press_start,
    require_chromium,
    settled,
    start_app,
    stop_engine,
    wait_for_reward_points,
    wait_until_up,
    watched_context,
)

require_chromium()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=60_000)
ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# a run that lasts until it is stopped, and one that ends by itself (tiny networks: a busy CI machine)
ENDLESS = "preset=deep-fast&n_episodes=100000&stop_at_reward=none&eval_every_episodes=0&nn_hidden_layers=16"
SHORT = "preset=deep-fast&n_episodes=150&stop_at_reward=none&eval_every_episodes=0&nn_hidden_layers=16"


class Server:
    """An app server on the store ``runs``; ``kill()`` is kill -9, no clean-up."""

    def __init__(self, runs: Path, log: Path):
        self.runs = runs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "a")
        self.process = start_app(self.port, runs, self.log)
        wait_until_up(f"{self.url}/_stcore/health", self.process, "streamlit", seconds=120)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    runs = tmp_path_factory.mktemp("service-e2e") / "runs"
    runs.mkdir()
    yield runs
    stop_engine(runs)


@pytest.fixture(scope="module")
def two_servers(store):
    servers = [Server(store, store.parent / "servers.log") for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def new_page(browser) -> Page:
    context = watched_context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    return page


def agents_with_seed(store: Path, seed: int) -> list[Path]:
    saved = [p for p in store.iterdir() if (p / "model.pt").is_file()]
    return [p for p in saved if json.loads((p / "hparams.json").read_text())["seed"] == seed]


def reserved(store: Path) -> list[str]:
    """The names held by jobs not yet saved (a folder with only its owner record)."""
    return [p.name for p in store.iterdir() if (p / "owner.json").is_file() and not (p / "hparams.json").exists()]


def start_training(page: Page, url: str, query: str, store: Path) -> str:
    """Start a run from the Train page and wait until its own chart is live; return its name.
    A new tab comes back to the user's latest run, so until the click is served the page still
    shows the previous run's chart (seen in CI: the old chart's points taken for the new run's)."""
    before = set(reserved(store))
    page.goto(f"{url}/train?{query}")
    expect(page.get_by_role("heading", name="Train an agent")).to_be_visible()
    press_start(page)
    for _ in range(240):  # the submit reserves the run's folder before the page reruns
        new = sorted(set(reserved(store)) - before)
        if new:
            break
        page.wait_for_timeout(500)
    assert len(new) == 1, f"Start reserved {new} in {store}"
    expect(page.get_by_text(new[0], exact=False).first).to_be_visible()
    wait_for_reward_points(page, 2, timeout=300_000)
    return new[0]


def test_a_killed_server_loses_nothing_the_next_one_shows_the_run_saved(browser, store):
    server = Server(store, store.parent / "killed.log")
    page = new_page(browser)
    try:
        start_training(page, server.url, SHORT + "&seed=11", store)
        server.kill()  # mid-training: no clean-up of any kind
        page.context.close()
        again = Server(store, store.parent / "restarted.log")
        page = new_page(browser)
        try:
            page.goto(f"{again.url}/train")
            # the same user's run is found again, live or done, and saved under the name it reserved
            expect(page.get_by_text("Saved as", exact=False).first).to_be_visible(timeout=600_000)
            assert len(agents_with_seed(store, 11)) == 1, sorted(p.name for p in store.iterdir())
        finally:
            again.stop()
    finally:
        page.context.close()
        server.stop()


def test_a_run_started_on_one_process_is_live_on_the_other_and_stops_from_there(browser, two_servers):
    first, second = two_servers
    starter, watcher = new_page(browser), new_page(browser)
    try:
        name = start_training(starter, first.url, ENDLESS + "&seed=21", first.runs)
        assert name in reserved(first.runs)
        watcher.goto(f"{second.url}/train")
        seen = wait_for_reward_points(watcher, 2, timeout=300_000)
        wait_for_reward_points(watcher, seen, timeout=300_000)  # and it keeps growing there
        watcher.goto(f"{second.url}/board")
        expect(watcher.get_by_text("Training now", exact=False).first).to_be_visible()
        # the live table (a canvas: its cells are not text in the page) lists the run started elsewhere
        expect(watcher.get_by_test_id("stDataFrame").last).to_be_visible(timeout=120_000)
        expect(watcher.get_by_text("Nobody is training right now.")).to_have_count(0)
        assert name in reserved(first.runs)  # still training, under the name it reserved
        watcher.goto(f"{second.url}/train")
        stop = settled(watcher.get_by_role("button", name="Stop", exact=True))
        expect(stop).to_be_enabled(timeout=120_000)
        stop.click()
        expect(starter.get_by_text("stopped", exact=False).first).to_be_visible(timeout=300_000)
        expect(starter.get_by_text("Saved as", exact=False).first).to_be_visible(timeout=300_000)
    finally:
        starter.context.close()
        watcher.context.close()


def _upstream(url: str, cookie: str) -> str:
    request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"qlab_backend={cookie}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["X-Qlab-Upstream"]


def test_through_nginx_a_session_trains_live_and_one_moved_to_the_other_process_finds_its_run(
    browser, two_servers, tmp_path
):
    if not Path(NGINX).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NGINX} is missing: .ci/run installs Debian's nginx", pytrace=False)
        pytest.skip("nginx is not installed (apt-get install nginx)")
    import sys

    sys.path.insert(0, str(ROOT / "deploy"))
    from serve import nginx_config

    port = free_port()
    (tmp_path / "nginx.conf").write_text(nginx_config(tmp_path, f"127.0.0.1:{port}", [s.port for s in two_servers]))
    proxy = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    page = new_page(browser)
    try:
        wait_until_up(f"{url}/_stcore/health", proxy, "nginx")
        start_training(page, url, ENDLESS + "&seed=31", two_servers[0].runs)
        cookie = next(c for c in page.context.cookies() if c["name"] == "qlab_backend")
        home = _upstream(url, cookie["value"])
        other = next(key for key in (f"k{i}" for i in range(200)) if _upstream(url, key) != home)
        page.context.clear_cookies()  # the session is moved: its sticky cookie is gone
        page.context.add_cookies([{"name": "qlab_backend", "value": other, "url": url}])
        page.goto(f"{url}/train")
        seen = wait_for_reward_points(page, 2, timeout=300_000)
        wait_for_reward_points(page, seen, timeout=300_000)  # still live, served by the other process
        served_by = page.evaluate("() => document.cookie")  # HttpOnly: the page cannot read it
        assert "qlab_backend" not in served_by
        settled(page.get_by_role("button", name="Stop", exact=True)).click()
        expect(page.get_by_text("Saved as", exact=False).first).to_be_visible(timeout=300_000)
    finally:
        page.context.close()
        proxy.terminate()
        proxy.wait(timeout=20)
