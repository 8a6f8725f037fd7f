"""Fast vector evaluation against the plain one-episode-at-a-time loop, on the same agent, in one run.

    python bench/eval_speed.py [--agent pretrained/cartpole-deep-q] [--episodes 1000] [--plain-episodes 100]

The plain loop is what a course notebook does: one env, one torch forward per step. Its time is
measured on --plain-episodes and scaled to --episodes (the episodes of a 500-step agent all cost
the same), and both must give the same rewards on the episodes they share.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import machine  # noqa: E402

from rl_core import QAgent, evaluate, load_agent, preset, train  # noqa: E402
from rl_core.learning.envs import make_env  # noqa: E402


def plain_torch_loop(agent: QAgent, env_id: str, n_episodes: int, seed: int) -> np.ndarray:
    env = make_env(env_id)
    rewards = np.zeros(n_episodes)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            with torch.no_grad():
                q = agent.q_net(torch.as_tensor(agent.preprocess(obs)))
            obs, reward, terminated, truncated, _ = env.step(int(q.argmax()))
            rewards[i] += reward
            done = terminated or truncated
    return rewards


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", default="pretrained/cartpole-deep-q")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--plain-episodes", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if Path(args.agent).is_dir():
        agent = load_agent(args.agent).agent
    else:  # no pretrained agent yet: train one
        agent = QAgent(preset("deep-fast", seed=1))
        train(agent)
    env_id = agent.config.env_id
    fast = evaluate(agent, env_id, n_episodes=args.episodes, seed=0)
    start = time.perf_counter()
    plain = plain_torch_loop(agent, env_id, args.plain_episodes, seed=0)
    plain_seconds = (time.perf_counter() - start) * args.episodes / args.plain_episodes
    same = bool(np.array_equal(plain, fast.rewards[: args.plain_episodes]))
    print(f"# {machine()}")
    print(
        json.dumps(
            {
                "agent": args.agent,
                "episodes": args.episodes,
                "eval_mean": fast.mean,
                "fast_seconds": round(fast.seconds, 3),
                "plain_seconds_scaled": round(plain_seconds, 2),
                "plain_episodes_timed": args.plain_episodes,
                "speedup": round(plain_seconds / fast.seconds, 1),
                "same_rewards": same,
            }
        )
    )


if __name__ == "__main__":
    main()
