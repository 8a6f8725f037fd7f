"""Evaluate every pretrained agent over 1000 greedy episodes (seeds 0..999) and over 1000 more
(seeds 100000..100999) that no agent was picked on; print one JSON line per agent.

    python bench/pretrained_eval.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _common import machine  # noqa: E402

from rl_core import evaluate, load_agent  # noqa: E402
from rl_core.artifacts.folders import PRETRAINED_DIR  # noqa: E402
from rl_core.artifacts.storage import list_agents


def main() -> None:
    torch.set_num_threads(1)
    print(f"# {machine()}")
    for entry in list_agents([PRETRAINED_DIR]):
        agent = load_agent(entry.path).agent
        row = {"agent": entry.name, "env_id": agent.config.env_id, "parameters": agent.n_parameters}
        for label, seed in (("seeds_0_999", 0), ("seeds_100000_100999", 100_000)):
            ev = evaluate(agent, agent.config.env_id, n_episodes=1000, seed=seed)
            row[label] = {
                "mean": round(ev.mean, 2),
                "std": round(ev.std, 2),
                "min": ev.min,
                "max": ev.max,
                "solved_share": ev.solved_share,
                "seconds": round(ev.seconds, 2),
            }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
