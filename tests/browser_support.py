"""What the browser tests share: Debian's Chromium and its flags (skipped without it, failed under
CI=true), and acting on Streamlit's elements without racing its reruns."""

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

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
