"""Stable-Baselines3's DQN with RL Zoo's CartPole-v1 hyperparameters against our deep-fast preset.

    pip install stable-baselines3     # bench-only dependency
    python bench/vs_sb3.py --seeds 0-4

Same seeds, same machine, one run after another, each evaluated greedily over 1000 episodes with
the same exact evaluation. SB3 trains its 50k steps (the Zoo's budget); deep-fast stops once solved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import machine, parse_seeds  # noqa: E402

from rl_core import QAgent, evaluate, preset, train  # noqa: E402

RL_ZOO_CARTPOLE = dict(  # rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)
RL_ZOO_TIMESTEPS = 50_000


class SB3Policy:
    def __init__(self, model):
        self.model = model

    def greedy_actions(self, states: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            q = self.model.q_net(torch.as_tensor(states, dtype=torch.float32))
        return q.argmax(dim=1).numpy()


def run_sb3(seed: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import DQN

    model = DQN("MlpPolicy", gym.make("CartPole-v1"), seed=seed, verbose=0, device="cpu", **RL_ZOO_CARTPOLE)
    start = time.perf_counter()
    model.learn(total_timesteps=RL_ZOO_TIMESTEPS)
    seconds = time.perf_counter() - start
    ev = evaluate(SB3Policy(model), "CartPole-v1", n_episodes=1000, seed=0)
    return {"seed": seed, "train_seconds": round(seconds, 1), "eval_mean": round(ev.mean, 2)}


def run_ours(seed: int) -> dict:
    agent = QAgent(preset("deep-fast", seed=seed))
    result = train(agent)
    ev = evaluate(agent, "CartPole-v1", n_episodes=1000, seed=0)
    return {"seed": seed, "train_seconds": round(result.seconds, 1), "eval_mean": round(ev.mean, 2)}


def summarise(name: str, rows: list[dict]) -> dict:
    solved = [r for r in rows if r["eval_mean"] >= 475]
    return {
        "agent": name,
        "solved": f"{len(solved)}/{len(rows)}",
        "median_train_seconds": statistics.median(r["train_seconds"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0-4")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# {machine()}", flush=True)
    results = {"sb3": [], "deep-fast": []}
    for seed in parse_seeds(args.seeds):
        for name, run in (("sb3", run_sb3), ("deep-fast", run_ours)):
            row = run(seed)
            results[name].append(row)
            print(json.dumps({"agent": name, **row}), flush=True)
    sb3, ours = summarise("sb3", results["sb3"]), summarise("deep-fast", results["deep-fast"])
    ratio = sb3["median_train_seconds"] / ours["median_train_seconds"]
    print(json.dumps({"sb3": sb3, "deep-fast": ours, "median_time_ratio_sb3_over_ours": round(ratio, 1)}))


if __name__ == "__main__":
    main()
