"""The supervised crash course, measured: the course's four models on 1000 rows and 150 epochs, and
[256, 256] on 10,000 rows (the homework: 95% test accuracy).

    python bench/imitation_bench.py [--epochs 150]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _common import machine  # noqa: E402

from rl_core import load_agent  # noqa: E402
from rl_core.learning.imitation import evaluate_as_policy, expert_data, train_classifier  # noqa: E402

COURSE = {
    "[]": (0.682, 0.687),
    "[256]": (0.869, 0.849),
    "[256, 256]": (0.926, 0.890),
    "[256, 256, 256]": (0.920, 0.875),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expert", default="pretrained/cartpole-deep-q")
    parser.add_argument("--epochs", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(1)
    expert = load_agent(args.expert).agent
    print(f"# {machine()}")
    test = expert_data(expert, "CartPole-v1", 1000, seed=1)
    runs = [([], 1000), ([256], 1000), ([256, 256], 1000), ([256, 256, 256], 1000), ([256, 256], 10_000)]
    for hidden, rows in runs:
        train = expert_data(expert, "CartPole-v1", rows, seed=0)
        result = train_classifier(train, test, hidden, epochs=args.epochs, seed=0)
        policy = evaluate_as_policy(result, n_episodes=1000)
        course = COURSE.get(str(hidden)) if rows == 1000 else None
        print(
            json.dumps(
                {
                    "hidden": hidden,
                    "rows": rows,
                    "parameters": result.parameters,
                    "epochs": args.epochs,
                    "train_acc": round(result.train_acc, 3),
                    "test_acc": round(result.test_acc, 3),
                    "course_train_acc": course[0] if course else None,
                    "course_test_acc": course[1] if course else None,
                    "policy_mean_reward": round(policy.mean, 1),
                    "policy_solved_share": policy.solved_share,
                    "seconds": round(result.seconds, 1),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
