"""Class mode end to end: a real OIDC provider on localhost, the app logged into as several people in
real headless Chromium.

The fixture starts ``oidc-provider-mock`` (any client id and secret; its login form takes a subject,
``sub``) and a Streamlit server whose secrets file configures ``[auth]`` against it. Each user gets
a browser context of their own (their own cookies). Needs /usr/bin/chromium, as test_e2e.py does.
"""

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    LAUNCH_ARGS,
    PAGE_LOAD_MS,
    engine_ready,
    enter,
    press_start,
    require_chromium,
    rerun_by,
    settled,
    start_app,
    stop_engine,
    wait_for_reward_points,
    wait_until_idle,
    wait_until_up,
    watched_context,
)

ROOT = Path(__file__).resolve().parent.parent
require_chromium()
pytest.importorskip("oidc_provider_mock", reason="pip install oidc-provider-mock (the test extras)")
pytest.importorskip("authlib", reason="pip install 'streamlit[auth]'")

from playwright.sync_api import BrowserContext, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=30_000)
USERS = {  # claims the provider sends for each subject
    "alice": {"sub": "alice", "name": "Alice Martin", "email": "alice@school.edu"},
    "bob": {"sub": "bob", "name": "Bob Stone", "email": "bob@school.edu"},
    "teacher": {"sub": "teacher", "name": "Ms Teacher", "email": "teacher@school.edu"},
}


def ports() -> tuple[int, int]:
    """Two free ports (or $QLAB_TEST_PORT_BASE and the next one, on a machine with assigned ranges)."""
    if os.environ.get("QLAB_TEST_PORT_BASE"):
        base = int(os.environ["QLAB_TEST_PORT_BASE"])
        return base, base + 1
    found = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            found.append(s.getsockname()[1])
    return found[0], found[1]


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    """(app url, runs folder): the app in class mode, logging in through a mock OIDC provider."""
    app_port, oidc_port = ports()
    base = tmp_path_factory.mktemp("class")
    runs = base / "runs"
    runs.mkdir()
    log = open(base / "servers.log", "w")
    provider = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--port", str(oidc_port)]
        + [arg for claims in USERS.values() for arg in ("--user-claims", json.dumps(claims))],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    issuer = f"http://127.0.0.1:{oidc_port}"
    wait_until_up(f"{issuer}/.well-known/openid-configuration", provider, "the OIDC provider")
    secrets = base / "secrets.toml"
    # what a class's .streamlit/secrets.toml holds (README, "Run it for a class")
    secrets.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"
cookie_secret = "a-long-random-string-for-the-test"
client_id = "qlab"
client_secret = "qlab-secret"
server_metadata_url = "{issuer}/.well-known/openid-configuration"

[qlab]
instructors = ["teacher@school.edu"]
""")
    app = start_app(
        app_port,
        runs,
        log,
        extra_args=("--secrets.files", str(secrets)),
        env={"QLAB_INSTRUCTORS": None},  # the secrets file names the instructors
    )
    url = f"http://127.0.0.1:{app_port}"
    wait_until_up(f"{url}/_stcore/health", app, "streamlit")
    yield url, runs
    for server in (app, provider):
        server.terminate()
        server.wait(timeout=20)
    stop_engine(runs)
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def no_exception(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


def open_page(page: Page, url: str, heading: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=PAGE_LOAD_MS)
    no_exception(page)


def log_in(browser, url: str, subject: str) -> Page:
    """A new browser context (its own cookies) logged in as ``subject`` through the provider's form."""
    context: BrowserContext = watched_context(browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("button", name="Log in").click(timeout=PAGE_LOAD_MS)
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize", exact=True).click()
    expect(page.get_by_text(f"Logged in as {USERS[subject]['name']}")).to_be_visible()
    return page


def start_training(page: Page, url: str, name: str, episodes: int, until_stopped: bool = False) -> None:
    """Start a run; ``until_stopped`` turns off the preset's stop-once-solved, so it lasts until Stop."""
    open_page(page, f"{url}/train", "Train an agent")
    engine_ready(page)
    enter(page, "episodes", str(episodes))
    enter(page, "run name (optional)", name)
    if until_stopped:
        rerun_by(page, settled(page.get_by_text("stop once an evaluation reaches")).click)
        expect(page.get_by_label("target reward")).to_have_count(0)
    press_start(page)


def selectbox(page: Page, label: str):
    return settled(page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)))


def selected(page: Page, label: str) -> str:
    """The option a selectbox shows: Streamlit 1.67 keeps it in its combobox input's value (the
    element's text is the label only)."""
    return selectbox(page, label).get_by_role("combobox").input_value()


def open_selectbox(page: Page, label: str, attempts: int = 4):
    """Open a selectbox's list, once the page has finished its run, and return its options.

    A run that starts between the idle check and the click (a fragment's tick, the page's rerun once
    the engine is up) redraws the selectbox and closes its list: then it is opened again."""
    options = page.get_by_role("option")
    for attempt in range(attempts):
        wait_until_idle(page)
        selectbox(page, label).click()
        try:
            expect(options.first).to_be_visible(timeout=10_000)
            return options
        except AssertionError:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    return options


def selectbox_options(page: Page, label: str) -> list[str]:
    texts = open_selectbox(page, label).all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def poisoned_zip(path: Path) -> Path:
    """An agent zip that passes the upload's checks but whose metrics.json has fields of the wrong
    type: before issue 11 it broke every page that listed it, for every user."""
    source = ROOT / "pretrained" / "cartpole-linear-q"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for file in source.iterdir():
            if file.name in ("hparams.json", "model.pt", "normalizer.json", "history.csv"):
                zf.write(file, f"poison/{file.name}")
        zf.writestr(
            "poison/metrics.json",
            json.dumps({"final_evaluation": 5, "best_evaluation": "x", "evaluations": [1], "seconds": "slow"}),
        )
    path.write_bytes(buffer.getvalue())
    return path


def test_an_anonymous_visitor_sees_only_a_login_button(browser, class_server):
    url, _ = class_server
    context = watched_context(browser)
    page = context.new_page()
    for address in (url, f"{url}/train", f"{url}/runs"):
        page.goto(address)
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        expect(page.get_by_role("button", name="Start", exact=True)).to_have_count(0)
        expect(page.get_by_role("link", name="Train")).to_have_count(0)
        no_exception(page)
    context.close()


# Keeps the app's WebSocket frames as text: the session's id is a UUID in the first one (NewSession).
SESSION_ID_JS = """(() => {
    const Native = window.WebSocket;
    window.qlabSessionIds = [];
    class Kept extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', async event => {
                const data = event.data instanceof Blob ? await event.data.arrayBuffer() : event.data;
                const text = typeof data === 'string' ? data : new TextDecoder('latin1').decode(data);
                const ids = text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) || [];
                window.qlabSessionIds.push(...ids);
            });
        }
    }
    window.WebSocket = Kept;
})()"""
# A PUT to Streamlit's upload route for this page's session, as its own uploader would send it.
# Tried with every UUID the frames held: the server answers 400 for an id that is no live session.
UPLOAD_JS = """async size => {
    const xsrf = (document.cookie.match(/_streamlit_xsrf=([^;]+)/) || [])[1] || '';
    const statuses = [];
    for (const session of new Set(window.qlabSessionIds)) {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(size)]), 'agent.zip');
        const answer = await fetch(`/_stcore/upload_file/${session}/probe-file`, {
            method: 'PUT', body: form, headers: {'X-Xsrftoken': xsrf}, credentials: 'same-origin'});
        if (answer.status !== 400) statuses.push(answer.status);
    }
    return statuses;
}"""


def test_only_a_logged_in_session_can_upload_a_file(browser, class_server):
    """Issue 23: Streamlit's upload route took 30 MB files from a visitor on the login screen."""
    url, _ = class_server
    context = watched_context(browser)
    context.add_init_script(SESSION_ID_JS)
    visitor = context.new_page()
    visitor.goto(url)
    expect(visitor.get_by_role("button", name="Log in")).to_be_visible(timeout=PAGE_LOAD_MS)
    visitor.wait_for_function("() => window.qlabSessionIds.length > 0")
    assert visitor.evaluate(UPLOAD_JS, 1_000_000) == [403]  # its session's id, refused
    context.close()
    # the same request from a logged-in student's page is taken, as her uploader's would be
    alice = log_in(browser, url, "alice")
    alice.context.add_init_script(SESSION_ID_JS)
    alice.reload()
    expect(alice.get_by_text("Logged in as Alice Martin")).to_be_visible()
    alice.wait_for_function("() => window.qlabSessionIds.length > 0")
    assert alice.evaluate(UPLOAD_JS, 1_000) == [204]
    alice.context.close()


def test_media_files_are_served_only_to_a_logged_in_browser(browser, class_server):
    """Issue 23: Streamlit's media route checks nothing, so a private agent's download URL worked
    without a login. The same URL, fetched with the student's cookies and without any."""
    url, _ = class_server
    alice = log_in(browser, url, "alice")
    open_page(alice, f"{url}/evaluate", "Evaluate & replay")
    frame = alice.locator('img[src*="/media/"]').first
    expect(frame).to_be_visible(timeout=PAGE_LOAD_MS)
    media = frame.get_attribute("src")
    media_url = media if media.startswith("http") else url + "/" + media.lstrip("/")
    assert alice.context.request.get(media_url).status == 200  # her browser's cookies: served
    visitor = browser.new_context()
    try:
        assert visitor.request.get(media_url).status == 404  # no login cookie: as if there were no file
    finally:
        visitor.close()
    assert alice.context.request.get(media_url).status == 200  # and still there for her
    alice.context.close()


def test_two_students_own_their_runs_share_one_and_the_instructor_deletes_it(browser, class_server, tmp_path):
    url, runs = class_server
    alice = log_in(browser, url, "alice")
    bob = log_in(browser, url, "bob")

    # Alice starts a long run, reloads mid-training, and finds it still going on the Train page
    start_training(alice, url, "alice-run", 100_000, until_stopped=True)
    wait_for_reward_points(alice, 2)
    alice.reload()
    expect(alice.get_by_text("alice-run", exact=False).first).to_be_visible()
    first = wait_for_reward_points(alice, 0)
    wait_for_reward_points(alice, first)
    settled(alice.get_by_role("button", name="Stop")).click()
    expect(alice.get_by_text(re.compile("Saved as alice-run"))).to_be_visible(timeout=30_000)

    # Bob trains a short run of his own
    start_training(bob, url, "bob-run", 5)
    expect(bob.get_by_text(re.compile("Saved as bob-run"))).to_be_visible(timeout=90_000)
    from rl_core.classroom.ownership import User

    alices, bobs = (runs / "class" / User(id=sub, name=sub).key for sub in ("alice", "bob"))  # each one's folder
    assert (alices / "alice-run" / "model.pt").is_file() and (bobs / "bob-run" / "model.pt").is_file()

    # Bob can neither see nor change Alice's run: it is on none of his lists
    open_page(bob, f"{url}/runs", "Runs")
    assert selectbox_options(bob, "Run") == ["bob-run"]
    open_page(bob, f"{url}/evaluate", "Evaluate & replay")
    assert not any("alice-run" in o for o in selectbox_options(bob, "Agent"))
    open_page(bob, f"{url}/board", "Class board")
    expect(bob.get_by_text("No agent shared for CartPole-v1 yet", exact=False)).to_be_visible()

    # Alice shares it with the class
    open_page(alice, f"{url}/runs", "Runs")
    rerun_by(alice, settled(alice.get_by_text("Shared with the class")).click)
    expect(alice.get_by_role("switch", name="Shared with the class")).to_be_checked()

    # Bob sees it on the class board, with Alice's name; still read-only: not on his Runs page
    open_page(bob, f"{url}/board", "Class board")
    board = bob.get_by_test_id("stTable")
    expect(board.get_by_text("alice-run")).to_be_visible(timeout=120_000)
    expect(board.get_by_text("Alice Martin")).to_be_visible()
    expect(bob.get_by_role("button", name="Replay the top agent")).to_be_visible()
    open_page(bob, f"{url}/runs", "Runs")
    assert selectbox_options(bob, "Run") == ["bob-run"]
    open_page(bob, f"{url}/evaluate", "Evaluate & replay")
    assert any("alice-run" in o for o in selectbox_options(bob, "Agent"))  # he may evaluate it

    # the instructor manages everyone's runs and deletes Alice's
    teacher = log_in(browser, url, "teacher")
    expect(teacher.get_by_text("instructor", exact=False).first).to_be_visible()
    open_page(teacher, f"{url}/runs", "Runs")
    # names may repeat across users: the instructor's list says whose each run is
    assert sorted(selectbox_options(teacher, "Run")) == ["alice-run by Alice Martin", "bob-run by Bob Stone"]
    shown = selected(teacher, "Run")
    open_selectbox(teacher, "Run")
    pick = teacher.get_by_role("option", name="alice-run by Alice Martin")
    if shown == "alice-run by Alice Martin":
        pick.click()  # already the one shown: the picker keeps its choice and does not rerun
    else:  # the rerun it causes redraws what comes next: wait for it, or the next click can be lost
        rerun_by(teacher, pick.click)
    settled(teacher.get_by_text("Rename or delete alice-run")).click()
    delete = teacher.get_by_role("button", name="Delete", exact=True)
    rerun_by(teacher, settled(teacher.get_by_text("yes, delete alice-run")).click)
    expect(delete).to_be_enabled()
    delete.click()
    expect(teacher.get_by_text("yes, delete bob-run")).to_be_attached()
    assert not (alices / "alice-run").exists() and (bobs / "bob-run").is_dir()
    no_exception(teacher)


def test_a_poisoned_upload_breaks_no_other_users_page(browser, class_server, tmp_path):
    url, runs = class_server
    alice = log_in(browser, url, "alice")
    bob = log_in(browser, url, "bob")
    open_page(alice, f"{url}/evaluate", "Evaluate & replay")
    alice.get_by_text("Upload an agent").click()
    alice.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(poisoned_zip(tmp_path / "poison.zip"))
    expect(alice.get_by_text("metrics.json", exact=False).first).to_be_visible()  # refused, in one line
    no_exception(alice)
    # and one that got in some other way (an older version, a hand edit) stays Alice's problem only
    from rl_core.classroom.ownership import User, record_owner

    planted = runs / "uploads" / User(id="alice", name="alice").key / "uploaded-poison"
    shutil.copytree(ROOT / "pretrained" / "cartpole-linear-q", planted)
    (planted / "metrics.json").write_text(json.dumps({"best_evaluation": "x", "seconds": "slow"}))
    record_owner(planted, "alice")
    for path, heading in (
        ("evaluate", "Evaluate & replay"),
        ("compare", "Compare agents"),
        ("runs", "Runs"),
        ("imitation", "Imitation: networks with fixed targets"),
        ("board", "Class board"),
    ):
        open_page(bob, f"{url}/{path}", heading)
        expect(bob.get_by_text("uploaded-poison")).to_have_count(0)
    open_page(alice, f"{url}/runs", "Runs")  # and its owner can still reach it, to delete it
    assert "uploaded-poison (uploaded)" in selectbox_options(alice, "Run")
