"""The app under load, measured from a real headless Chromium.

    python bench/app_latency.py [--seconds 30] [--background N | --heatmap]

1. Cold start: from spawning ``streamlit run`` to the home page's heading painted in the browser.
2. Chart lag, with one training running: every time the live reward chart shows a new episode,
   the browser's clock minus the moment the training thread recorded that data (both clocks are
   this machine's; the page puts the thread's timestamp in the figure's layout.meta).
3. Interaction latency during that training: flipping a toggle on the Train page until the page
   shows the consequence (its name appears in, or leaves, the "custom" notice), median and p95.

With ``--heatmap``, the clicks come in blocks of 5 with the live Q heatmap alternately off and on
(it is redrawn as new weights arrive, and a click must not pay for it again): both medians are
printed, measured in the same training on the same machine.

With ``--background N``, N other students first start a long training each from their own browser
session (and close their tab: the jobs run on), so the measuring student trains beside N others.
A user trains one run at a time, so these students are real users: the app then runs in class mode,
logging in through a local mock OIDC provider (oidc-provider-mock), one subject per student.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, train_page_click  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
# the browser tests' Chromium flags and server launch, so that the bench measures the app they test
from browser_support import CHROMIUM, LAUNCH_ARGS, free_port, start_app, switch_to  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30, help="how long to watch the live chart")
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--background", type=int, default=0, help="other students' trainings running meanwhile")
    parser.add_argument(
        "--heatmap",
        action="store_true",
        help="alternate blocks of clicks with the live Q heatmap off and on (one student only)",
    )
    args = parser.parse_args()
    if args.heatmap and args.background:
        parser.error("--heatmap measures the training student's own page: use it without --background")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runs = tempfile.mkdtemp(prefix="qlab-bench-runs-")
    class_args, provider = [], None
    if args.background:
        oidc_port = free_port()
        provider = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "--port", str(oidc_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        secrets = Path(runs) / "secrets.toml"
        secrets.write_text(f"""[auth]
redirect_uri = "{url}/oauth2callback"
cookie_secret = "bench-only-cookie-secret"
client_id = "qlab"
client_secret = "qlab-secret"
server_metadata_url = "http://127.0.0.1:{oidc_port}/.well-known/openid-configuration"
""")
        class_args = ["--secrets.files", str(secrets)]
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{oidc_port}/.well-known/openid-configuration", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)

        def new_student(subject: str):
            student = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            student.set_default_timeout(120_000)
            if args.background:
                student.goto(url)
                student.get_by_role("button", name="Log in").click()
                student.get_by_placeholder("sub").fill(subject)
                student.get_by_role("button", name="Authorize", exact=True).click()
                student.get_by_text("Logged in as").wait_for()
            return student

        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        spawn = time.time()
        server = start_app(port, Path(runs), subprocess.DEVNULL, extra_args=tuple(class_args))
        try:
            while True:
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
            server_ready = time.time() - spawn
            page.goto(url)
            page.get_by_role("heading", name="Q-Lab").wait_for()
            cold_start = time.time() - spawn
            if args.background:
                page.close()
                page = new_student("measurer")

            def start_long_training(student) -> None:
                student.goto(f"{url}/train")
                student.get_by_role("heading", name="Train an agent").wait_for()
                episodes = student.get_by_label("episodes", exact=True)
                episodes.fill("100000")
                episodes.press("Enter")
                student.get_by_text("stop once an evaluation reaches").click()
                student.get_by_label("target reward", exact=True).wait_for(state="detached")  # runs until Stop
                student.get_by_role("button", name="Start", exact=True).click()
                student.get_by_role("button", name="Stop").wait_for()

            for i in range(args.background):
                other = new_student(f"student{i}")
                start_long_training(other)
                other.close()
            lags: list[float] = []
            if args.background:
                # the measuring student's own run would wait in the queue behind the others: measure
                # the Train page's clicks while they train
                page.goto(f"{url}/train")
                page.get_by_role("heading", name="Train an agent").wait_for()
                page.get_by_label("episodes", exact=True).fill("100000")
                page.get_by_label("episodes", exact=True).press("Enter")
            else:
                start_long_training(page)
                page.wait_for_function(
                    "() => { const p = document.querySelector('.js-plotly-plot');"
                    " return p && p.layout && p.layout.meta; }"
                )
                # Sample the chart from inside the page every 20 ms: record each new episode count once.
                lags = page.evaluate(
                    """async (ms) => {
                    const lags = []; let seen = -1; const end = Date.now() + ms;
                    while (Date.now() < end) {
                        const p = document.querySelector('.js-plotly-plot');
                        const meta = p && p.layout && p.layout.meta;
                        if (meta && meta.episode !== seen) {
                            if (seen !== -1) lags.push(Date.now() / 1000 - meta.updated_at);
                            seen = meta.episode;
                        }
                        await new Promise(r => setTimeout(r, 20));
                    }
                    return lags;
                }""",
                    int(args.seconds * 1000),
                )

            click_and_see = train_page_click(page)

            def set_heatmap(on: bool) -> None:
                switch_to(page, "Look inside: the Q-function over two state dimensions, redrawn as it learns", on)
                page.wait_for_function(  # rewards, epsilon/loss, and the heatmap once drawn
                    f"() => (document.querySelectorAll('.js-plotly-plot').length >= 3) === {str(on).lower()}",
                    timeout=15_000,
                )

            # with --heatmap, blocks of 5 clicks alternate heatmap off / on in the same training, so
            # that the machine's drift falls on both alike
            latencies: list[float] = []
            heatmap_latencies: list[float] = []
            for block in range(0, args.clicks, 5):
                on = args.heatmap and (block // 5) % 2 == 1
                if args.heatmap:
                    set_heatmap(on)
                for _ in range(min(5, args.clicks - block)):
                    (heatmap_latencies if on else latencies).append(click_and_see())
                    time.sleep(0.2)
            if not args.background:
                page.get_by_role("button", name="Stop").click()
        finally:
            server.terminate()
            server.wait(timeout=30)
            if provider is not None:
                provider.terminate()
            browser.close()
    print(f"# {machine()}")
    print(
        json.dumps(
            {
                "background_trainings": args.background,
                "cold_start_seconds": round(cold_start, 2),
                "server_ready_seconds": round(server_ready, 2),
                "chart_updates_seen": len(lags),
                "chart_lag_median_s": round(statistics.median(lags), 3) if lags else None,
                "chart_lag_p95_s": round(percentile(lags, 0.95), 3) if lags else None,
                "interaction_median_s": round(statistics.median(latencies), 3),
                "interaction_p95_s": round(percentile(latencies, 0.95), 3),
                **(
                    {
                        "clicks_with_heatmap": len(heatmap_latencies),
                        "interaction_heatmap_median_s": round(statistics.median(heatmap_latencies), 3),
                        "interaction_heatmap_p95_s": round(percentile(heatmap_latencies, 0.95), 3),
                    }
                    if heatmap_latencies
                    else {}
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
