"""Leftover settings on the Train page: toggle a layout-changing switch while the live view ticks.

    python bench/stale_settings.py [--clicks 40] [--settle 3]

One app server and one headless Chromium tab. The tab starts a long linear training (it never stops
early), so the live fragment reruns every second beside the settings fragment. Then it clicks the
"stop once an evaluation reaches a target" switch ``--clicks`` times. That switch shows or hides the
stop target, which moves every settings element below it. After each click the tab waits
``--settle`` seconds and until no run is going on (a run in progress shows old elements beside new
ones for a moment). Then it counts three labels of the settings column that the page draws once.
More than one is a leftover of an earlier layout.

The page's websocket frames are decoded to count the settings runs that ended early for a rerun
(``FINISHED_EARLY_FOR_RERUN``): only such a run can leave a leftover behind. Prints a line per click
with a leftover, then one JSON line: clicks, settings runs, those ended early, clicks with a leftover.

To measure older code, run this script from a worktree of that commit (it serves the app beside it).
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
from browser_support import (  # noqa: E402
    CHROMIUM,
    LAUNCH_ARGS,
    press_start,
    running_app,
    wait_for_reward_points,
    wait_until_idle,
    watched_context,
)

SWITCH = "stop once an evaluation reaches a target"
DRAWN_ONCE = (SWITCH, "run name (optional)", "also write TensorBoard logs (under runs/tensorboard/)")
FINISHED_EARLY_FOR_RERUN = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=40)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait after each click")
    args = parser.parse_args()

    from playwright.sync_api import expect, sync_playwright

    settings_fragment: dict[str, str] = {}  # learnt from the first click's rerun request
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_app(Path(tmp) / "runs") as (url, _),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = watched_context(browser, viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)

        def sent(payload) -> None:
            from streamlit.proto.BackMsg_pb2 import BackMsg

            if isinstance(payload, bytes):
                msg = BackMsg()
                msg.ParseFromString(payload)
                rerun = msg.rerun_script if msg.WhichOneof("type") == "rerun_script" else None
                if rerun is not None and rerun.fragment_id and not rerun.is_auto_rerun:
                    settings_fragment.setdefault("id", rerun.fragment_id)  # Start, in the settings

        ends = record_run_ends(page)
        page.on("websocket", lambda ws: ws.on("framesent", sent))
        page.goto(f"{url}/train?preset=linear-fast&n_episodes=100000&eval_every_episodes=50&stop_on=false")
        expect(page.get_by_role("heading", name="Train an agent")).to_be_visible(timeout=180_000)
        press_start(page)
        wait_for_reward_points(page, 3)
        leftovers = 0
        for click in range(args.clicks):
            page.get_by_text(SWITCH, exact=True).first.click()
            page.wait_for_timeout(args.settle * 1000)
            wait_until_idle(page)
            counts = [page.get_by_text(label, exact=True).count() for label in DRAWN_ONCE]
            if any(count != 1 for count in counts):
                leftovers += 1
                print(f"click {click + 1}: {dict(zip(DRAWN_ONCE, counts, strict=True))}", flush=True)
        browser.close()
    settings_runs = [status for run, status in ends if run and run == settings_fragment.get("id")]
    early = sum(status == FINISHED_EARLY_FOR_RERUN for status in settings_runs)
    print(f"machine: {machine()}; commit {git_commit()}")
    print(
        json.dumps(
            {
                "clicks": args.clicks,
                "settings_runs": len(settings_runs),
                "settings_runs_ended_early": early,
                "clicks_with_leftover": leftovers,
            }
        )
    )


if __name__ == "__main__":
    main()
