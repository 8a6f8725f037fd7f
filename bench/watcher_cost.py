"""What Streamlit's file watcher costs the web process when other processes read files under the app's
folder, measured from a real headless Chromium.

    python bench/watcher_cost.py [--imports 3] [--clicks 15]

`make app` puts `.venv` inside the app's folder, and Streamlit watches the folder of every file it
watches recursively. With watchdog installed (Streamlit's extras pull it in) its inotify watch also
reports every file *opened* there, so each Ray worker that imports torch, each CLI run and each test
process wakes the web process's watcher thread, and the queue overflows and is rescanned. The app
ships with `fileWatcherType = "none"` (.streamlit/config.toml); this script starts the app once per
setting, as shipped and with the watcher forced back on (`auto`, which is watchdog here, and `poll`),
and for each prints:

- the web process's CPU seconds while `--imports` processes import torch, ray, gymnasium, plotly
  and optuna one after another (what a Ray worker does when it starts);
- the median and worst time of a Train-page click (flipping Double DQN until the page answers) with
  the machine idle, then while those imports run in a loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import git_commit, machine, train_page_click  # noqa: E402
from browser_support import CHROMIUM, LAUNCH_ARGS, running_app  # noqa: E402

IMPORT_STACK = [sys.executable, "-c", "import torch, ray, gymnasium, plotly, optuna"]
SETTINGS = {
    "as shipped": (),
    "auto": ("--server.fileWatcherType", "auto"),
    "poll": ("--server.fileWatcherType", "poll"),
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(setting: str, imports: int, clicks: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    runs = Path(tempfile.mkdtemp(prefix="qlab-watcher-")) / "runs"
    runs.mkdir()
    log_path = runs.parent / "streamlit.log"
    with open(log_path, "w") as log, running_app(runs, log, extra_args=SETTINGS[setting]) as (url, server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{url}/train")
            page.get_by_role("heading", name="Train an agent").wait_for()
            click = train_page_click(page)
            click()  # the first click imports what the page needs: not counted
            time.sleep(3)
            idle = [click() for _ in range(clicks)]

            before = cpu_seconds(server.pid)
            start = time.perf_counter()
            for _ in range(imports):
                subprocess.run(IMPORT_STACK, check=True)
            import_cpu = cpu_seconds(server.pid) - before
            import_wall = time.perf_counter() - start

            done = threading.Event()

            def keep_importing() -> None:
                while not done.is_set():
                    subprocess.run(IMPORT_STACK, check=True)

            importer = threading.Thread(target=keep_importing, daemon=True)
            importer.start()
            busy = [click() for _ in range(clicks)]
            done.set()
            importer.join()
            browser.close()
    overflows = log_path.read_text().count("Inotify queue overflowed")
    return {
        "import_cpu": import_cpu,
        "import_wall": import_wall,
        "idle_median": statistics.median(idle),
        "idle_max": max(idle),
        "busy_median": statistics.median(busy),
        "busy_max": max(busy),
        "overflows": overflows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--imports", type=int, default=3, help="processes importing the ML stack, one after another")
    parser.add_argument("--clicks", type=int, default=15, help="Train-page clicks timed per condition")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated: " + ", ".join(SETTINGS))
    args = parser.parse_args()
    print(f"# {machine()}, commit {git_commit()}")
    print(f"# {args.imports} imports of the ML stack; {args.clicks} Train-page clicks per condition")
    print(
        "| watcher | web process CPU during the imports | clicks idle: median / max "
        "| clicks while importing: median / max | queue overflows logged |"
    )
    print("| --- | --- | --- | --- | --- |")
    for setting in args.settings.split(","):
        r = measure(setting, args.imports, args.clicks)
        print(
            f"| {setting} | {r['import_cpu']:.2f} s in {r['import_wall']:.1f} s | "
            f"{r['idle_median']:.2f} / {r['idle_max']:.2f} s | {r['busy_median']:.2f} / {r['busy_max']:.2f} s | "
            f"{r['overflows']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
