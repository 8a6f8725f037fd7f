"""In real headless Chromium: a setup changes only when the user changes it.

Streamlit drops a widget's value on every run that does not draw the widget; visiting another page by
the sidebar is such a run, and Train used to come back with its preset's defaults (or, when only the
preset survived, with every widget at its minimum).
"""

import pytest
from browser_support import (
    CHROMIUM,
    LAUNCH_ARGS,
    engine_ready,
    enter,
    require_chromium,
    running_app,
    watched_context,
)

require_chromium()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

expect.set_options(timeout=60_000)  # a cold server imports torch on its first page


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("state-runs")) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = watched_context(browser, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.app_url = url  # type: ignore[attr-defined]
        yield page
        context.close()
        browser.close()


def test_the_train_setup_survives_a_visit_to_home(page):
    page.goto(f"{page.app_url}/train")
    # a cold server imports torch first: slow on a busy machine (other modules may set a shorter default)
    expect(page.get_by_role("heading", name="Train an agent")).to_be_visible(timeout=180_000)
    enter(page, "seed", "5")
    enter(page, "episodes", "321")
    # the server has both (the address bar mirrors its setup) before we leave
    page.wait_for_function(
        "() => location.search.includes('seed=5') && location.search.includes('n_episodes=321')", timeout=60_000
    )
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Home").click()
    expect(page.get_by_role("heading", name="Q-Lab")).to_be_visible()
    page.wait_for_timeout(1000)  # the Home run completes: the one that drops the Train widgets' values
    nav.get_by_role("link", name="Train").click()
    expect(page.get_by_role("heading", name="Train an agent")).to_be_visible()
    expect(page.get_by_label("seed", exact=True)).to_have_value("5")
    expect(page.get_by_label("episodes", exact=True)).to_have_value("321")
    expect(page.get_by_label("learning rate", exact=True)).to_have_value("2.500e-3")  # deep-fast's, not 1e-6
    page.wait_for_function("() => location.search.includes('seed=5')", timeout=30_000)  # and the link again
    assert "preset=deep-fast" in page.url


def test_a_setting_change_reruns_only_the_settings_and_the_link_follows(page):
    """The settings are a fragment (in a class, full reruns for each slider moved were most of the
    web process's CPU): the browser's rerun names the fragment, the server runs only it, and the
    address bar still follows the setup."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    sent: list = []  # the rerun requests the page sends
    runs: list = []  # the fragment ids of each run the server starts ([] for a full run)

    def on_websocket(ws) -> None:
        def on_sent(payload) -> None:
            if isinstance(payload, bytes):
                msg = BackMsg()
                msg.ParseFromString(payload)
                if msg.WhichOneof("type") == "rerun_script":
                    sent.append(msg.rerun_script)

        def on_received(payload) -> None:
            if isinstance(payload, bytes):
                msg = ForwardMsg()
                msg.ParseFromString(payload)
                if msg.WhichOneof("type") == "new_session":
                    runs.append(list(msg.metadata.run.fragment_ids))

        ws.on("framesent", on_sent)
        ws.on("framereceived", on_received)

    page.on("websocket", on_websocket)
    try:
        page.goto(f"{page.app_url}/train?preset=deep-fast&double_dqn=true")
        expect(page.get_by_role("heading", name="Train an agent")).to_be_visible(timeout=180_000)
        page.wait_for_function("() => location.search.includes('double_dqn=true')", timeout=60_000)
        engine_ready(page)  # Ray coming up redraws the whole page once: not the click's doing
        sent.clear()
        runs.clear()
        page.get_by_text("Double DQN", exact=True).click()
        page.wait_for_function("() => location.search.includes('double_dqn=false')", timeout=60_000)
        assert sent and sent[-1].fragment_id, "the toggle asked for a full rerun"
        # only the settings ran: no full run (another fragment, the engine notice, may tick meanwhile)
        assert [sent[-1].fragment_id] in runs and [] not in runs, runs
        expect(page.get_by_text("changed: double_dqn", exact=False)).to_be_visible()  # drawn by that run
    finally:
        page.remove_listener("websocket", on_websocket)
