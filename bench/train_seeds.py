"""Train one preset on many seeds, one after another, and evaluate each over 1000 greedy episodes.

    python bench/train_seeds.py --preset deep-fast --seeds 0-9

Prints one line per seed and a JSON summary (solved = mean >= 475 over the 1000 episodes); the
training time per env step (evaluations during training included) compares presets and versions.
Beside wall-clock seconds each row has the process's CPU seconds, which a busy neighbour inflates
far less (it still shares caches and memory bandwidth).
Seeds run sequentially on purpose: training times are only comparable on an otherwise idle machine.
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
from _common import machine, parse_seeds  # noqa: E402

from rl_core import QAgent, evaluate, preset, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="deep-fast")
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--eval-episodes", type=int, default=1000)
    parser.add_argument("--solved-at", type=float, default=475.0)
    parser.add_argument("--set", action="append", default=[], help="key=json overrides")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    print(f"# {machine()}\n# preset {args.preset} {overrides or ''}", flush=True)
    rows = []
    for seed in parse_seeds(args.seeds):
        agent = QAgent(preset(args.preset, **overrides, seed=seed))
        cpu_start = time.process_time()
        result = train(agent)
        cpu_seconds = time.process_time() - cpu_start  # what the run cost, even on a shared machine
        ev = evaluate(agent, agent.config.env_id, n_episodes=args.eval_episodes, seed=0)
        row = {
            "seed": seed,
            "solved": ev.mean >= args.solved_at,
            "train_seconds": round(result.seconds, 1),
            "train_cpu_seconds": round(cpu_seconds, 1),
            "episodes": len(result.episodes),
            "env_steps": result.env_steps,
            "gradient_steps": agent.n_gradient_steps_done,
            "ms_per_env_step": round(result.seconds / max(result.env_steps, 1) * 1000, 3),
            "cpu_ms_per_env_step": round(cpu_seconds / max(result.env_steps, 1) * 1000, 3),
            "status": result.status,
            "eval_mean": round(ev.mean, 2),
            "eval_std": round(ev.std, 2),
            "eval_min": ev.min,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    seconds = [r["train_seconds"] for r in rows]
    print(
        json.dumps(
            {
                "preset": args.preset,
                "overrides": overrides,
                "seeds": len(rows),
                "solved": sum(r["solved"] for r in rows),
                "median_train_seconds": statistics.median(seconds),
                "max_train_seconds": max(seconds),
                "median_eval_mean": statistics.median(r["eval_mean"] for r in rows),
                "median_train_cpu_seconds": statistics.median(r["train_cpu_seconds"] for r in rows),
                "median_ms_per_env_step": statistics.median(r["ms_per_env_step"] for r in rows),
                "median_cpu_ms_per_env_step": statistics.median(r["cpu_ms_per_env_step"] for r in rows),
            }
        )
    )


if __name__ == "__main__":
    main()
