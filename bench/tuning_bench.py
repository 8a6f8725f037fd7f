"""Optuna on this machine, with 1 and with 2 trials training at once (one SQLite study).

    python bench/tuning_bench.py search      # trials and time until a trial reaches 500 (at most 20 trials)
    python bench/tuning_bench.py speedup     # a fixed number of trials: wall time with 1 vs 2 workers

One `python -m rl_core tune --workers N`: its trials train N at a time on Ray workers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna  # noqa: E402
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run_study(workers: int, trials: int, episodes: int, target: float, extra: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="qlab-tune-"))
    url = f"sqlite:///{tmp / 'study.db'}"
    env = {**os.environ, "QLAB_RUNS_DIR": str(tmp / "runs"), "SDL_VIDEODRIVER": "dummy"}
    command = [
        sys.executable,
        "-m",
        "rl_core",
        "tune",
        "--study",
        "bench",
        "--storage",
        url,
        "--trials",
        str(trials),
        "--workers",
        str(workers),
        "--episodes",
        str(episodes),
        "--target",
        str(target),
        "--quiet",
        *extra,
    ]
    # create the study first so the workers do not race to create the tables
    optuna.create_study(study_name="bench", storage=url, direction="maximize", load_if_exists=True)
    start = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    outputs = [p.communicate() for p in procs]
    wall = time.perf_counter() - start
    for p, (_, err) in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"worker failed: {err.strip()}")
    trials = optuna.load_study(study_name="bench", storage=url).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    reached = sorted(
        (t for t in trials if t.value is not None and t.value >= target), key=lambda t: t.datetime_complete
    )
    first = reached[0] if reached else None
    return {
        "workers": workers,
        "wall_seconds": round(wall, 1),
        "trials_finished": len(finished),
        "complete": sum(t.state.name == "COMPLETE" for t in trials),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "best": max((t.value for t in trials if t.value is not None), default=None),
        "first_reaching_target": None
        if first is None
        else {
            "trial": first.number,
            "trials_started_before": sum(t.datetime_start <= first.datetime_start for t in trials),
            "seconds_from_start": round(
                (first.datetime_complete - min(t.datetime_start for t in trials)).total_seconds(), 1
            ),
            "params": first.params,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["search", "speedup"])
    args = parser.parse_args()
    print(f"# {machine()}", flush=True)
    if args.mode == "search":
        # the course's objective: 200 training episodes, then 1000 greedy episodes; a [256, 256] network
        for space, workers in (("course", 1), ("focused", 1), ("focused", 2)):
            result = run_study(
                workers, 20, episodes=200, target=500.0, extra=["--space", space, "--set", "nn_hidden_layers=[256,256]"]
            )
            print(json.dumps({"mode": "search", "space": space, **result}), flush=True)
    else:
        # the same work in every trial (only the seed varies, a learning rate too small to learn, no
        # pruning, no early stop), ~5 s each so that process start-up does not hide the parallelism
        fixed = [
            "--space",
            "focused",
            "--params",
            "seed",
            "--no-pruning",
            "--eval-episodes",
            "100",
            "--set",
            "learning_rate=1e-5",
            "--set",
            "stop_at_reward=null",
        ]
        for workers in (1, 2):
            result = run_study(workers, 8, episodes=600, target=1e9, extra=fixed)
            print(json.dumps({"mode": "speedup", **result}), flush=True)


if __name__ == "__main__":
    main()
