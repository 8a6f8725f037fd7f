"""What a web process holds, in Python objects, for one live training as its history grows.

The web process keeps a copy of every live job (the registry mirror, rl_core/compute/service.py:
each sync appends the new episodes, unpickled as they arrive from Ray) and draws it on every tick
(rl_core.present.live.LIVE_CHARTS: columns of the history, read incrementally, and two decimated
figures). This replays that path without Streamlit or Ray: ``--episodes`` episodes arriving
``--per-sync`` at a time, each sync followed by one tick that builds the charts and serialises
them, and prints the Python memory still held (tracemalloc) per episode of history, so that a
soak's RSS growth can be set against what the history itself must take.

    .venv/bin/python bench/live_memory.py [--episodes 30000] [--per-sync 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import pickle
import platform
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.io as pio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rl_core.learning.history import EpisodeHistory, EvaluationHistory  # noqa: E402
from rl_core.learning.training import EpisodeRecord, EvalRecord  # noqa: E402
from rl_core.present.live import LiveCharts  # noqa: E402


@dataclass(frozen=True)
class Snap:  # what the mirror keeps and LiveCharts reads of a JobSnapshot
    job_id: str
    state: str
    episodes: tuple
    evaluations: tuple
    updated_at: float
    version: int


def arriving(start: int, count: int, rng: np.random.Generator) -> tuple[EpisodeRecord, ...]:
    """New episodes as a sync delivers them: unpickled, so every number is a fresh object."""
    made = tuple(
        EpisodeRecord(
            i + 1,
            float(rng.uniform(10, 500)),
            int(rng.integers(10, 500)),
            0.05,
            float(rng.uniform()),
            100 * i + int(rng.integers(0, 99)),
            0.05 * i + float(rng.uniform()),
        )
        for i in range(start, start + count)
    )
    return pickle.loads(pickle.dumps(made))


def held_bytes() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=30000)
    parser.add_argument("--per-sync", type=int, default=20, help="episodes a sync brings (about 1 s of training)")
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--tuples", action="store_true", help="keep the history as a tuple of records (the old way)")
    args = parser.parse_args()
    print(f"# {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rng = np.random.default_rng(0)
    charts = LiveCharts()
    tracemalloc.start()
    base = held_bytes()
    # what the mirror keeps
    keep = (lambda records: records) if args.tuples else EpisodeHistory.of
    keep_evals = (lambda records: records) if args.tuples else EvaluationHistory.of
    snap = Snap("job-1", "running", keep(()), keep_evals(()), 0.0, 0)
    marks: list[tuple[int, int]] = []
    print("| episodes | Python bytes held | per episode |")
    print("| --- | --- | --- |")
    while snap.episodes.__len__() < args.episodes:
        n = len(snap.episodes)
        new = arriving(n, args.per_sync, rng)
        evals = tuple(
            EvalRecord(r.episode, r.env_steps, 200.0, 5.0, 190.0, 210.0, 0.0, r.seconds)
            for r in new
            if r.episode % args.eval_every == 0
        )
        # the mirror's merge: the old history plus what is new, in a new snapshot
        snap = dataclasses.replace(
            snap,
            episodes=keep(snap.episodes) + new,
            evaluations=keep_evals(snap.evaluations) + evals,
            version=snap.version + 1,
        )
        rewards, eps_loss = charts.training(snap, 475.0)
        pio.to_json(rewards.to_dict(), validate=False)  # what Streamlit sends: made and dropped
        pio.to_json(eps_loss.to_dict(), validate=False)
        if len(snap.episodes) % 5000 == 0:
            marks.append((len(snap.episodes), held_bytes() - base))
            count, held = marks[-1]
            print(f"| {count} | {held / 1e6:.1f} MB | {held / count:.0f} B |")
    records_only = Snap("job-2", "running", keep(arriving(0, args.episodes, rng)), (), 0.0, 0)
    with_records = held_bytes() - base - marks[-1][1]
    del records_only
    (n0, b0), (n1, b1) = marks[0], marks[-1]
    result = {
        "episodes": n1,
        "kept_as": "tuple of records" if args.tuples else "EpisodeHistory, EvaluationHistory",
        "python_bytes_per_episode_live_path": round(b1 / n1),
        "python_bytes_per_episode_growth": round((b1 - b0) / (n1 - n0)),
        "python_bytes_per_episode_history_alone": round(with_records / args.episodes),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
