"""What one student's evaluation costs another student's clicks, measured from a real headless Chromium.

    python bench/eval_contention.py [--rounds 10]

Evaluations (Evaluate, Compare, the class board) run in the web process, not on Ray. Student A is on
Evaluate with the pretrained [256, 256] agent and 1000 episodes; student B is on Train. Each round,
A asks for a new first-episode seed (a cache miss: a fresh 1000-episode evaluation starts in the web
process); once A's page shows its "Playing 1000 episodes" spinner (Streamlit shows it 0.5 s into
the evaluation), B flips the Double DQN toggle and waits for the page's answer (the "custom" notice
listing double_dqn appears or goes). The same clicks are measured first with A idle.
Printed: B's click medians with A idle and during A's evaluations, how many of those clicks were
answered before A's evaluation ended, and A's time from seed to result.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import machine, train_page_click  # noqa: E402
from browser_support import CHROMIUM, LAUNCH_ARGS, enter, running_app  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10, help="evaluations started by student A")
    args = parser.parse_args()
    runs = Path(tempfile.mkdtemp(prefix="qlab-bench-runs-"))
    with running_app(runs, log=sys.stderr) as (url, _):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            a = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            b = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for page in (a, b):
                page.set_default_timeout(120_000)
            a.goto(f"{url}/evaluate")
            a.get_by_test_id("stMetricValue").first.wait_for()  # the first evaluation, seed 0
            b.goto(f"{url}/train")
            b.get_by_role("heading", name="Train an agent").wait_for()
            click = train_page_click(b)

            idle = []
            for _ in range(args.rounds):
                idle.append(click())
                time.sleep(0.3)
            # A's page notes when its evaluation spinner comes and goes (Streamlit shows it once a
            # step has run 0.5 s), on the clock B's clicks are timed with
            a.evaluate(
                """() => {
                    window.spins = []; let shown = false;
                    new MutationObserver(() => {
                        const now = document.body.innerText.includes('Playing 1000 episodes');
                        if (now !== shown) { window.spins.push([now, Date.now() / 1000]); shown = now; }
                    }).observe(document.body, {childList: true, subtree: true, characterData: true});
                }"""
            )
            busy, overlapped, evaluations = [], 0, []
            for i in range(1, args.rounds + 1):
                asked = time.time()
                enter(a, "first episode's seed", str(1000 * i))  # returns once the field holds it
                a.wait_for_function(f"() => window.spins.length >= {2 * i - 1}", timeout=60_000)  # evaluating
                busy.append(click())
                click_end = time.time()
                a.wait_for_function(f"() => window.spins.length >= {2 * i}", timeout=60_000)
                hidden_at = a.evaluate("() => window.spins")[2 * i - 1][1]
                evaluations.append(hidden_at - asked)
                overlapped += click_end < hidden_at  # B saw its answer while A's evaluation still ran
            browser.close()
    print(f"# {machine()}")
    print(
        json.dumps(
            {
                "rounds": args.rounds,
                "click_median_a_idle_s": round(statistics.median(idle), 3),
                "click_median_during_a_evaluation_s": round(statistics.median(busy), 3),
                "click_max_during_a_evaluation_s": round(max(busy), 3),
                "clicks_answered_while_a_evaluated": overlapped,
                "a_seed_to_result_median_s": round(statistics.median(evaluations), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
