"""Server time of one live-chart tick of the Train page at 50 to 5000 episodes.

    python bench/live_tick.py [--ticks 40] [--episodes 50,500,3000,5000] [--before]

A tick is what the live fragment does with the charts every LIVE_TICK_SECONDS: get the figures of the job's
latest snapshot and draw them with st.plotly_chart (Plotly's to_dict/to_json, Streamlit's element
id, protobuf and message hash), run in Streamlit's own script runner (AppTest). Measured as the
process's CPU time per tick (all threads), so that other work on the machine counts less than in
wall time; two cases:

- changed: the job has one more episode than at the last tick (the case of a running job: its
  data changes four times a second), so the charts are built;
- unchanged: the same snapshot again (a second viewer of the same job, or a finished job).

``--before`` draws them as the page did before issue 17 (rl_core.present.plots.training_figure and
epsilon_loss_figure from every episode on every tick): run it with PYTHONPATH on an older tree to
measure that tree's builders.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import git_commit, machine  # noqa: E402


@dataclass(frozen=True)
class Snapshot:  # what the live view reads of a JobSnapshot
    job_id: str
    state: str
    episodes: tuple
    evaluations: tuple
    updated_at: float


def history(n: int):
    from rl_core.learning.training import EpisodeRecord, EvalRecord

    episodes = tuple(
        EpisodeRecord(i, 20.0 + (i * 7919) % 300, 20, max(0.05, 1 - i / 3000), 0.5 * (1 + i % 7), 20 * i, 0.1 * i)
        for i in range(1, n + 1)
    )
    evaluations = tuple(
        EvalRecord(i, 20 * i, 100.0 + i % 50, 20.0, 60.0, 140.0, 0.1, 0.1 * i) for i in range(10, n + 1, 10)
    )
    return episodes, evaluations


def tick_script(before: bool) -> None:
    """The AppTest script: the live fragment's chart lines, for the snapshot in session state."""
    import streamlit as st

    snap = st.session_state["bench_snapshot"]
    if snap is None:  # the script runner's own cost
        return
    if st.session_state["bench_before"]:
        from rl_core.present.plots import epsilon_loss_figure, training_figure

        st.plotly_chart(
            training_figure(snap.episodes, snap.evaluations, solved_reward=475.0, meta={"updated_at": 1.0}),
            key="live_rewards",
        )
        st.plotly_chart(epsilon_loss_figure(snap.episodes), key="live_eps_loss")
    else:
        from rl_core.present.live import LIVE_CHARTS

        rewards, eps_loss = LIVE_CHARTS.training(snap, 475.0)
        st.plotly_chart(rewards, key="live_rewards", theme="streamlit")
        st.plotly_chart(eps_loss, key="live_eps_loss", theme="streamlit")


def measure(n: int, ticks: int, before: bool) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    episodes, evaluations = history(n + ticks + 1)
    app = AppTest.from_function(tick_script, args=(before,), default_timeout=120)

    def run(snapshot: Snapshot | None) -> float:
        app.session_state["bench_snapshot"] = snapshot
        app.session_state["bench_before"] = before
        start = time.process_time()
        app.run()
        assert not app.exception, app.exception
        return time.process_time() - start

    def snap(k: int) -> Snapshot:
        return Snapshot("bench", "running", episodes[:k], tuple(e for e in evaluations if e.episode <= k), float(k))

    run(snap(n))  # imports, first build
    changed = [run(snap(n + 1 + i)) for i in range(ticks)]
    same = snap(n + ticks)
    unchanged = [run(same) for _ in range(ticks)]
    baseline = [run(None) for _ in range(ticks)]  # a run drawing nothing: the script runner's own cost
    return {
        "changed_ms": 1000 * statistics.median(changed),
        "unchanged_ms": 1000 * statistics.median(unchanged),
        "empty_run_ms": 1000 * statistics.median(baseline),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=40)
    parser.add_argument("--episodes", default="50,500,3000,5000")
    parser.add_argument("--before", action="store_true", help="the builders as the page used them before issue 17")
    args = parser.parse_args()
    import os

    print(f"# {machine()}, commit {git_commit()}, load average {os.getloadavg()[0]:.1f}")
    print(f"# {'before (every episode, every tick)' if args.before else 'shared, bounded'}; median of {args.ticks}")
    print("| episodes | changed tick, CPU ms | unchanged tick, CPU ms | a run drawing nothing, CPU ms |")
    print("| --- | --- | --- | --- |")
    result: dict[str, dict[str, float]] = {}
    for n in (int(x) for x in args.episodes.split(",")):
        r = measure(n, args.ticks, args.before)
        result[str(n)] = {k: round(v, 2) for k, v in r.items()}
        print(f"| {n} | {r['changed_ms']:.1f} | {r['unchanged_ms']:.1f} | {r['empty_run_ms']:.1f} |", flush=True)
    print(json.dumps({"before": args.before, "ticks": args.ticks, "by_episodes": result}))


if __name__ == "__main__":
    main()
