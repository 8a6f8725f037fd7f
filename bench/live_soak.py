"""A long live training watched from real headless Chromium tabs: does the web process stay flat?

    python bench/live_soak.py [--minutes 30] [--viewers 1] [--sample 5] [-- extra streamlit args]

One app server; the first tab opens Train, starts a long training (100000 episodes, never stopping
early) and follows its live charts; the other tabs (separate sessions of the same local user) open
Train and follow the same run, as a second tab or a projector would. Every ``--sample`` seconds the
web process's (the ``streamlit run`` process's own, not Ray's) resident memory and CPU time are read
from /proc, and the run's episode count from the first tab's progress line. If the training ends
(it should not) a new one is started and counted.

Prints the series (one row a minute), a summary (RSS at the start of the second minute, its min,
max and end, the slope of a least-squares line through the samples after the first 3 minutes, in
MB per 10 minutes; the web process's CPU in cores, median over one-minute windows), and last one
JSON line with those figures.

Extra arguments after ``--`` go to ``streamlit run`` (for instance ``--runner.postScriptGC true``
to measure Streamlit's default).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import git_commit, machine  # noqa: E402
from browser_support import CHROMIUM, LAUNCH_ARGS, enter, running_app, settled  # noqa: E402

EPISODE = re.compile(r"episode (\d+) of \d")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_10_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per 10 minutes."""
    if len(samples) < 3:
        return float("nan")
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 600 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def start_training(page) -> None:
    page.goto(page.url.split("/train")[0] + "/train")
    page.get_by_role("heading", name="Train an agent").wait_for()
    page.get_by_label("episodes", exact=True).first.wait_for()  # a busy machine draws the page slowly
    enter(page, "episodes", "100000")
    # .first: a settings run ended early can leave a stale copy beside it (bench/RESULTS.md, 2026-12-04)
    switch = page.get_by_label("stop once an evaluation reaches a target", exact=True).first
    if switch.is_checked():
        settled(page.get_by_text("stop once an evaluation reaches")).click()
    start = settled(page.get_by_role("button", name="Start", exact=True))
    start.click()
    page.get_by_text("Live training").wait_for()


def episode_of(page) -> int | None:
    try:  # the live progress line (a widget label such as "episodes" is a markdown container too)
        text = page.get_by_text(EPISODE).first.inner_text(timeout=2_000)
    except Exception:  # a rerun was redrawing it
        return None
    found = EPISODE.search(text.replace("*", ""))
    return int(found.group(1)) if found else None


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--viewers", type=int, default=1, help="tabs following the same live training")
    parser.add_argument("--sample", type=float, default=5, help="seconds between samples")
    parser.add_argument(
        "--ray-address",
        help="a running Ray cluster for the app (RAY_ADDRESS): on a machine too loaded for the app's own "
        "Ray to start within Ray's 30 s, start one beforehand (ray start --head, retried)",
    )
    parser.add_argument("--screenshot", help="save the first tab's last view here (to check what it showed)")
    parser.add_argument("streamlit_args", nargs="*", help="after --: extra arguments for streamlit run")
    args = parser.parse_args()
    print(f"# {machine()}, commit {git_commit()}, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"# {args.viewers} viewer(s), {args.minutes:g} minutes, streamlit args: {args.streamlit_args or 'none'}")
    runs = Path(tempfile.mkdtemp(prefix="qlab-soak-")) / "runs"
    runs.mkdir()
    samples: list[dict[str, float]] = []
    restarts = 0
    env = {"RAY_ADDRESS": args.ray_address} if args.ray_address else None
    with running_app(runs, extra_args=tuple(args.streamlit_args), env=env) as (url, server), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        pages = []
        for _ in range(args.viewers):
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(180_000)  # the first page imports torch: slow on a loaded machine
            pages.append(page)
        pages[0].goto(f"{url}/train")
        start_training(pages[0])
        for page in pages[1:]:
            page.goto(f"{url}/train")
            page.get_by_text("Live training").wait_for()
        begin = time.monotonic()
        last_cpu, last_t = cpu_seconds(server.pid), begin
        print("| minute | web RSS MB | web CPU cores (last minute) | episodes |")
        print("| --- | --- | --- | --- |")
        minute_cpu, minute_start = last_cpu, begin
        enabled_in_a_row = 0
        while (now := time.monotonic()) - begin < args.minutes * 60:
            pages[0].wait_for_timeout(args.sample * 1000)
            now = time.monotonic()
            cpu = cpu_seconds(server.pid)
            episode = episode_of(pages[0])
            if pages[0].get_by_text("The compute engine is unavailable").count():
                sys.exit("the compute engine (Ray) did not start: no live training to watch")
            # Start enabled on one sample is not proof that the run ended (seen mid-run: start_training
            # then waited 180 s on a disabled Start; or a rerun showed two Start buttons): restart only
            # once it is enabled on 3 samples in a row, and print every sample that sees it enabled.
            try:
                start_enabled = settled(pages[0].get_by_role("button", name="Start", exact=True)).is_enabled()
            except Exception as exc:  # noqa: BLE001 - a rerun redrawing the button: not an end
                start_enabled = False
                print(f"# {(now - begin) / 60:.1f} min: Start not readable ({str(exc).splitlines()[0][:120]})")
            enabled_in_a_row = enabled_in_a_row + 1 if start_enabled else 0
            if start_enabled:
                print(f"# {(now - begin) / 60:.1f} min: Start enabled ({enabled_in_a_row} in a row), episode {episode}")
            if enabled_in_a_row >= 3:
                restarts += 1  # the run ended: start another one, and say so
                enabled_in_a_row = 0
                start_training(pages[0])
            samples.append(
                {"t": now - begin, "rss": rss_mb(server.pid), "cores": (cpu - last_cpu) / (now - last_t), "ep": episode}
            )
            last_cpu, last_t = cpu, now
            if now - minute_start >= 60:
                print(
                    f"| {(now - begin) / 60:.0f} | {samples[-1]['rss']:.0f} | "
                    f"{(cpu - minute_cpu) / (now - minute_start):.3f} | {episode} |",
                    flush=True,
                )
                minute_cpu, minute_start = cpu, now
        if args.screenshot:
            pages[0].screenshot(path=args.screenshot, full_page=True)
        browser.close()
    settled_samples = [(s["t"], s["rss"]) for s in samples if s["t"] >= 180]
    after_first_minute = [s["rss"] for s in samples if s["t"] >= 60]
    windows: dict[int, list[float]] = {}
    for s in samples:
        windows.setdefault(int(s["t"] // 60), []).append(s["cores"])
    per_minute = [statistics.fmean(v) for v in windows.values()]
    result = {
        "viewers": args.viewers,
        "minutes": args.minutes,
        "streamlit_args": " ".join(args.streamlit_args),
        "rss_mb_at_1_min": round(after_first_minute[0], 1) if after_first_minute else None,
        "rss_mb_min": round(min(after_first_minute), 1) if after_first_minute else None,
        "rss_mb_max": round(max(after_first_minute), 1) if after_first_minute else None,
        "rss_mb_end": round(samples[-1]["rss"], 1) if samples else None,
        "rss_slope_mb_per_10_min_after_3_min": round(slope_per_10_min(settled_samples), 2),
        "web_cpu_cores_median_per_minute": round(statistics.median(per_minute), 4) if per_minute else None,
        "web_cpu_cores_per_viewer": round(statistics.median(per_minute) / args.viewers, 4) if per_minute else None,
        "episodes_end": next((s["ep"] for s in reversed(samples) if s["ep"] is not None), None),
        "restarts": restarts,
        "load_average_end": round(os.getloadavg()[0], 1),
    }
    print(
        f"# RSS: {result['rss_mb_at_1_min']} MB at 1 min, {result['rss_mb_min']}-{result['rss_mb_max']} MB, "
        f"{result['rss_mb_end']} MB at the end; slope after 3 min {result['rss_slope_mb_per_10_min_after_3_min']} "
        f"MB/10 min. Web CPU {result['web_cpu_cores_median_per_minute']} cores (median of minutes), "
        f"{result['episodes_end']} episodes, {restarts} restarts"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
