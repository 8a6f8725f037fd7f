"""In real headless Chromium: a setup changes only when the user changes it.

Streamlit drops a widget's value on every run that does not draw the widget; visiting another page by
the sidebar is such a run, and Train used to come back with its preset's defaults (or, when only the
preset survived, with every widget at its minimum).
"""

import pytest
from browser_support import CHROMIUM, LAUNCH_ARGS, enter, require_chromium, running_app, watched_context

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
