"""Time and size of a full 500-step CartPole episode as a GIF at the default settings.

    python bench/gif_speed.py [--agent pretrained/cartpole-deep-q] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from _common import machine  # noqa: E402
from rl_core import load_agent  # noqa: E402
from rl_core.rendering import episode_gif, play_episode  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="pretrained/cartpole-deep-q")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    agent = load_agent(args.agent).agent
    print(f"# {machine()}")
    totals, plays, encodes = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        episode = play_episode(agent, agent.config.env_id, seed=0)
        middle = time.perf_counter()
        gif = episode_gif(episode)
        end = time.perf_counter()
        totals.append(end - start)
        plays.append(middle - start)
        encodes.append(end - middle)
    image = Image.open(io.BytesIO(gif))
    print(json.dumps({
        "steps": episode.steps, "frames": image.n_frames, "frame_ms": image.info["duration"],
        "loop": image.info["loop"], "bytes": len(gif), "width": image.size[0],
        "median_total_seconds": round(statistics.median(totals), 3),
        "median_play_and_render_seconds": round(statistics.median(plays), 3),
        "median_encode_seconds": round(statistics.median(encodes), 3),
    }))


if __name__ == "__main__":
    main()
