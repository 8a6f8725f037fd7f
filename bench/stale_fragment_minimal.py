"""Streamlit leaves a fragment's old elements behind when its run ends early: a minimal app, in Chromium.

    python bench/stale_fragment_minimal.py [--clicks 40]

The app has two fragments: a ticker that reruns every 0.3 s, and a panel with a checkbox. Checked,
the panel draws a caption first, then 300 lines and "END True"; unchecked, no caption, so "END False"
comes one position earlier. Streamlit's frontend removes a fragment's leftover elements only after a
run of that fragment finished normally. When the panel's run ends "early for rerun", the old END at
the position the new layout no longer uses can stay beside the new one.

Two variants of the panel are served in turn:
- ``conditional``: the caption is drawn only when checked (the layout changes);
- ``slot``: an ``st.empty()`` is drawn on every run and holds the caption when checked (the layout
  stays the same; this is what the Train settings do).

For each variant: ``--clicks`` clicks on the checkbox; after each, wait 2 s and until no run is going
on, then count the END lines (one expected). Prints one JSON line per variant: clicks, panel runs,
those ended early for rerun, and clicks after which more than one END stayed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import git_commit, machine, record_run_ends  # noqa: E402
from browser_support import CHROMIUM, LAUNCH_ARGS, free_port, wait_until_idle, wait_until_up  # noqa: E402

APP = """
import time
import streamlit as st

VARIANT = "{variant}"


@st.fragment(run_every=0.3)
def ticker():
    st.caption(f"tick {{time.monotonic():.1f}}")


@st.fragment
def panel():
    on = st.checkbox("flip", key="flip")
    if VARIANT == "slot":
        slot = st.empty()
        if on:
            slot.caption("flipped on")
    elif on:
        st.caption("flipped on")
    for i in range(300):
        st.text(f"line {{i}}")
    st.text(f"END {{on}}")


ticker()
panel()
"""
FINISHED_EARLY_FOR_RERUN = 2


def measure(variant: str, clicks: int) -> dict[str, object]:
    import subprocess

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app.py"
        app.write_text(APP.format(variant=variant))
        port = free_port()
        args = ["--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), *args]
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(f"{url}/_stcore/health", server, "streamlit")
            ticker_id: dict[str, str] = {}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                page = browser.new_page()
                ends = record_run_ends(page)
                page.goto(url)
                page.get_by_text("END False").wait_for()
                page.wait_for_timeout(2000)
                ticker_id["id"] = next(run for run, _ in reversed(ends) if run)  # the ticker ticks alone
                leftovers = 0
                for _ in range(clicks):
                    page.get_by_text("flip", exact=True).click()
                    page.wait_for_timeout(2000)
                    wait_until_idle(page, 30_000)
                    leftovers += page.get_by_text("END ", exact=False).count() > 1
                browser.close()
            panel = [status for run, status in ends if run and run != ticker_id["id"]]
            return {
                "variant": variant,
                "clicks": clicks,
                "panel_runs": len(panel),
                "panel_runs_ended_early": sum(s == FINISHED_EARLY_FOR_RERUN for s in panel),
                "clicks_with_leftover": leftovers,
            }
        finally:
            server.terminate()
            server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {machine()}; commit {git_commit()}")
    for variant in ("conditional", "slot"):
        print(json.dumps(measure(variant, args.clicks)), flush=True)


if __name__ == "__main__":
    main()
