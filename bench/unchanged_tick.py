"""What a browser receives and redraws when a fragment re-sends a chart that did not change.

    python bench/unchanged_tick.py [--seconds 8]

A minimal Streamlit app (written to a temporary folder) has one fragment that reruns every 0.5 s and
draws a shared live figure (rl_core.present.live.SharedFigure, ~30 KB of spec): in the first half of the
time the same figure object on every tick, then a new one on every tick. Headless Chromium opens it
and records every websocket frame the server sends (its size) and every time Plotly finished
drawing the chart (its ``plotly_afterplot`` event).

Streamlit hashes each message; one of at least 10 KB (global.minCachedMessageSize) whose hash the
browser says it has cached is sent as a reference to it. So an unchanged chart should cost the
browser a frame of a few hundred bytes, not the spec; whether Plotly redraws it is printed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, LAUNCH_ARGS, free_port, wait_until_up  # noqa: E402

APP = """
import time
import numpy as np
import streamlit as st
from rl_core.present.live import shared
from rl_core.present.plots import training_spec

def figure(n):
    x = np.arange(1, n + 1, dtype=float)
    return shared(training_spec(x, np.sin(x / 30) * 100 + 200, x[9::10], x[9::10] * 0 + 150, x[9::10] * 0 + 5))

if "same" not in st.session_state:
    st.session_state.same = figure(900)
    st.session_state.ticks = 0

@st.fragment(run_every=0.5)
def live():
    st.session_state.ticks += 1  # the browser asks for each tick: counted from when it is there
    phase = "same" if st.session_state.ticks <= {half} else "new"
    st.caption(phase)
    fig = st.session_state.same if phase == "same" else figure(900 + int(time.time() * 10) % 50)
    st.plotly_chart(fig, key="chart")

live()
"""


def main() -> None:
    import argparse

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8, help="of each phase")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qlab-unchanged-"))
    (folder / "app.py").write_text(APP.replace("{half}", str(int(4 * args.seconds))))  # ticks of 0.5 s
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(folder / "app.py"), "--server.port", str(port)]
        + ["--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=folder,
        env=env,
        stdout=open(folder / "server.log", "w"),
        stderr=subprocess.STDOUT,
    )
    frames: list[tuple[float, int]] = []
    try:
        wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", server, "streamlit", seconds=300)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page()
            page.on(
                "websocket",
                lambda ws: ws.on("framereceived", lambda f: frames.append((time.monotonic(), len(f)))),
            )
            page.goto(f"http://127.0.0.1:{port}")
            page.locator(".js-plotly-plot").wait_for(timeout=300_000)
            page.evaluate("""() => { window.redraws = {same: 0, new: 0};
                const phase = () => document.querySelector('[data-testid="stCaptionContainer"]')?.innerText;
                const hook = () => { const plot = document.querySelector('.js-plotly-plot');
                    if (plot && plot.on && !plot.__counted) { plot.__counted = true;
                        plot.on('plotly_afterplot', () => { window.redraws[phase()] += 1; }); } };
                setInterval(hook, 50); hook(); }""")
            page.get_by_text("same", exact=True).wait_for(timeout=300_000)
            start_same = time.monotonic()
            page.get_by_text("new", exact=True).wait_for(timeout=120_000)
            start_new = time.monotonic()
            page.wait_for_timeout(args.seconds * 1000)
            end = time.monotonic()
            redraws = page.evaluate("() => window.redraws")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)

    def phase(lo: float, hi: float) -> dict[str, float]:
        sizes = [n for t, n in frames if lo + 1 <= t < hi]  # a second to settle
        return {
            "frames": len(sizes),
            "largest_frame_bytes": max(sizes, default=0),
            "median_frame_bytes": statistics.median(sizes) if sizes else 0,
            "bytes_per_second": round(sum(sizes) / max(1e-9, hi - lo - 1)),
        }

    same, new = phase(start_same, start_new), phase(start_new, end)
    print("| the fragment draws | frames | largest frame | median frame | bytes/s | Plotly redraws |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in (("the same figure", same), ("a new figure", new)):
        count = redraws["same" if r is same else "new"]
        print(
            f"| {name} | {r['frames']} | {r['largest_frame_bytes']} B | {r['median_frame_bytes']:.0f} B | "
            f"{r['bytes_per_second']} | {count} |"
        )
    print(json.dumps({"same": same, "new": new, "plotly_redraws": redraws}))


if __name__ == "__main__":
    main()
