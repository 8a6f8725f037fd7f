"""What the live Q heatmap costs a page rerun (issue 13: a click took ~2.5 s with it on, 0.3 s without).

    python bench/heatmap_cost.py [--repeats 5]

Before: every rerun (each click, each poll) rebuilt a 61x61 slice, replayed a greedy episode for the
path and built the figure. Now: a 31x31 slice while live, built once per weights snapshot and kept
in the session, so a click between two snapshots costs a dictionary lookup.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine  # noqa: E402

from rl_core import load_agent  # noqa: E402
from rl_core.envinfo import env_info  # noqa: E402
from rl_core.learning.qfunction import q_slice  # noqa: E402
from rl_core.present.figures import q_heatmap_figure  # noqa: E402
from rl_core.present.rendering import play_episode  # noqa: E402


def build(agent, resolution: int) -> None:
    qs = q_slice(agent, "CartPole-v1", resolution=resolution)
    path = play_episode(agent, "CartPole-v1", seed=0, render=False).states
    q_heatmap_figure(qs, trajectory=path, action_names=env_info("CartPole-v1").action_names).to_json()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="pretrained/cartpole-deep-q")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    agent = load_agent(args.agent).agent
    print(f"# {machine()}")
    result = {}
    for resolution in (61, 31):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            build(agent, resolution)
            times.append(time.perf_counter() - start)
        result[f"build_{resolution}x{resolution}_median_s"] = round(statistics.median(times), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
