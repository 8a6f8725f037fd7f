"""What presentation mode's live replay costs the web process: one replay of a training's greedy
policy, as ``rl_core.present.live.LiveReplays`` plays it (at most REPLAY_STEPS steps, every second
frame kept, REPLAY_WIDTH pixels wide), and the share of a core it takes at REPLAY_EVERY_SECONDS.

    python bench/live_replay.py [--agent pretrained/cartpole-deep-q] [--repeats 5]

The agent holds the pole, so every replay is the longest one (REPLAY_STEPS steps). Viewers of the same
job asking within REPLAY_EVERY_SECONDS get the same GIF: the second call is timed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _common import machine  # noqa: E402

from rl_core import load_agent  # noqa: E402
from rl_core.present.live import REPLAY_EVERY_SECONDS, REPLAY_STEPS, REPLAY_WIDTH, LiveReplays  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="pretrained/cartpole-deep-q")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent = load_agent(args.agent).agent
    replays = LiveReplays(every=0.0)  # play again on every call: what one call costs
    replays.replay("warm-up", 0, lambda: agent, agent.config.env_id, 0)
    cpu, wall, size = [], [], 0
    for version in range(1, args.repeats + 1):
        c0, w0 = time.process_time(), time.perf_counter()
        made = replays.replay("job", version, lambda: agent, agent.config.env_id, 0)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        size = len(made.gif) if made else 0
    shared = LiveReplays()
    shared.replay("job", 1, lambda: agent, agent.config.env_id, 0)
    c0 = time.process_time()
    shared.replay("job", 2, lambda: agent, agent.config.env_id, 0)  # a newer Q-function, within the interval
    kept_cpu = time.process_time() - c0
    median = statistics.median(cpu)
    print(
        json.dumps(
            {
                "machine": machine(),
                "steps": REPLAY_STEPS,
                "width": REPLAY_WIDTH,
                "gif_bytes": size,
                "replay_cpu_median_s": round(median, 3),
                "replay_wall_median_s": round(statistics.median(wall), 3),
                "every_s": REPLAY_EVERY_SECONDS,
                "core_share": round(median / REPLAY_EVERY_SECONDS, 3),
                "kept_replay_cpu_s": round(kept_cpu, 6),
            }
        )
    )


if __name__ == "__main__":
    main()
