"""Streamlit's config lock under a class's load: page-like runs on many threads, with Streamlit's
own ``config.get_option`` (one process-wide RLock per read) and with Q-Lab's lock-free read
(pages/_ui.lock_free_config_reads).

Each simulated page run does 150 elements' worth of pure-Python work (about 6 ms on this machine),
reading one option per element as Streamlit does for every message it sends; each thread rests
--rest seconds between runs. Printed: runs done and the median and p95 time of one run.

    .venv/bin/python bench/config_lock.py [--threads 30 60] [--rest 0.5] [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = "global.minCachedMessageSize"  # the option Streamlit reads for every message it sends


def element_work(n: int = 300) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def page_run(get_option: Callable[[str], object]) -> None:
    for _ in range(150):
        element_work()
        get_option(KEY)


def measure(get_option: Callable[[str], object], threads: int, rest: float, seconds: float) -> dict[str, float]:
    durations: list[float] = []
    stop = time.monotonic() + seconds

    def student() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            page_run(get_option)
            durations.append(time.perf_counter() - started)
            time.sleep(rest)

    workers = [threading.Thread(target=student) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    ordered = sorted(durations)
    return {
        "runs": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--rest", type=float, default=0.5, help="seconds each thread rests between runs")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()

    from streamlit import config

    config.get_config_options()
    locked = config.get_option
    from pages._ui import lock_free_config_reads

    lock_free_config_reads()
    lock_free = config.get_option
    assert lock_free is not locked and lock_free(KEY) == locked(KEY)
    results = []
    for threads in args.threads:
        for name, read in (("streamlit get_option", locked), ("lock-free read", lock_free)):
            row = {"threads": threads, "read": name, **measure(read, threads, args.rest, args.seconds)}
            print(f"{threads:3d} threads, {name:20s}: {row['runs']:5d} runs, median {row['median_ms']:7.1f} ms, "
                  f"p95 {row['p95_ms']:7.1f} ms", flush=True)  # fmt: skip
            results.append(row)
    print(json.dumps({"rest_s": args.rest, "seconds": args.seconds, "results": results}))


if __name__ == "__main__":
    main()
