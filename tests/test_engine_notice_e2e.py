"""The "Starting the compute engine (Ray)…" notice goes by itself once Ray is up: no click needed
(it used to stay until the next click, although Ray was up in 6 s)."""

from pathlib import Path

import pytest
from browser_support import CHROMIUM, LAUNCH_ARGS, require_chromium, running_app, watched_context
from playwright.sync_api import expect, sync_playwright

require_chromium()

NOTICE = "Starting the compute engine (Ray)…"


@pytest.fixture
def fresh_server(tmp_path: Path):
    """A server of its own: the notice shows only while that process's engine is starting."""
    runs = tmp_path / "runs"
    runs.mkdir()
    with running_app(runs) as (url, _server):
        yield url


def test_the_engine_notice_clears_without_a_click(fresh_server):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = watched_context(browser, viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{fresh_server}/train")  # at once: Ray takes seconds to start, the page less
        page.get_by_role("heading", name="Train an agent").wait_for()
        notice = page.get_by_text(NOTICE)
        expect(notice).to_be_visible(timeout=10_000)
        # nothing clicked, typed or reloaded from here on: the page must notice the engine by itself
        expect(notice).to_have_count(0, timeout=180_000)
        # and the page was drawn again with what the engine became: up (Start usable), or, on a
        # machine too loaded for Ray to come up within its own 30 s, failed (said so)
        start = page.get_by_role("button", name="Start", exact=True)
        failed = page.get_by_text("The compute engine is unavailable")
        expect(start.and_(page.locator("button:enabled")).or_(failed).first).to_be_visible()
        browser.close()
