"""A class on one server: trainings submitted together through the app's own code path (JobRegistry
on Ray), as the Train page submits them.

    python bench/classroom_load.py [--preset deep-fast] [--seed 0] [--parts alone,two,eight,stop]

- alone: one training, submit to finished (wall seconds, and the worker's training seconds);
- two: two with the same config and seed submitted together: each one's time over "alone";
- eight: eight submitted together: the makespan over "alone" (ideal on 2 CPUs: 4x);
- every run above has the same config and seed, so every saved model.pt must be byte-identical:
  the same weights whether a run is alone or beside 7 others;
- stop: eight long runs submitted, Stop pressed on each once two are training: the time from
  Stop to the final state, for the running ones (they save what they learned) and the queued ones.

Click latency in a browser while eight run: bench/app_latency.py --background 8.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import git_commit, machine  # noqa: E402


def run_together(registry, config, n: int, owner_prefix: str = "student") -> dict:
    start = time.perf_counter()
    ids = [registry.submit(f"{owner_prefix}{i}", config, name=f"bench-{n}-{i}") for i in range(n)]
    finished_at = {}
    while len(finished_at) < n:
        for job_id in ids:
            if job_id not in finished_at and registry.snapshot(job_id).done:
                finished_at[job_id] = time.perf_counter() - start
        time.sleep(0.05)
    snaps = [registry.snapshot(i) for i in ids]
    bad = [s.message for s in snaps if s.state not in ("finished", "solved")]
    if bad:
        raise SystemExit(f"a run did not finish: {bad[0]}")
    return {
        "walls": [round(finished_at[i], 2) for i in ids],
        "train_seconds": [round(s.seconds, 2) for s in snaps],
        "hashes": [hashlib.sha256((s.saved_path / "model.pt").read_bytes()).hexdigest()[:16] for s in snaps],
        "episodes": [s.episode for s in snaps],
    }


def measure_stop(registry, config) -> dict:
    from dataclasses import replace

    long_config = replace(config, n_episodes=100_000, stop_at_reward=None, eval_every_episodes=0)
    ids = [registry.submit(f"stopper{i}", long_config, name=f"bench-stop-{i}") for i in range(8)]
    deadline = time.time() + 120
    while sum(registry.snapshot(i).episode >= 3 for i in ids) < 2 and time.time() < deadline:
        time.sleep(0.1)
    was_running = {i: registry.snapshot(i).state == "running" for i in ids}
    pressed = {}
    for job_id in ids:
        pressed[job_id] = time.perf_counter()
        registry.stop(job_id)
    took = {}
    while len(took) < len(ids):
        for job_id in ids:
            if job_id not in took and registry.snapshot(job_id).done:
                took[job_id] = time.perf_counter() - pressed[job_id]
        time.sleep(0.01)
    running = [took[i] for i in ids if was_running[i]]
    queued = [took[i] for i in ids if not was_running[i]]
    saved = [registry.snapshot(i).saved_path is not None for i in ids if was_running[i]]
    return {
        "running_when_stopped": len(running),
        "stop_to_final_running_s": [round(t, 3) for t in running],
        "stop_to_final_queued_max_s": round(max(queued), 3) if queued else None,
        "running_ones_saved": all(saved),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="deep-fast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="alone,two,eight,stop")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    from rl_core.compute.engine import require_engine
    from rl_core.compute.registry import JobRegistry
    from rl_core.config import AgentConfig
    from rl_core.presets import preset

    runs = Path(tempfile.mkdtemp(prefix="qlab-classroom-"))
    status = require_engine()
    registry = JobRegistry(out_dir=runs, max_active_per_owner=8)
    # warm every worker process (torch imported) as a running server's would be
    warm = AgentConfig(
        nn_hidden_layers=[8],
        batch_size=8,
        memory_size=200,
        n_steps_warm_up_memory=8,
        n_episodes=2,
        eval_every_episodes=0,
    )
    for job_id in [registry.submit("warm", warm, name=f"warm-{i}") for i in range(status.cpus)]:
        registry.wait(job_id)

    config = preset(args.preset, seed=args.seed)
    out: dict = {
        "machine": machine(),
        "commit": git_commit(),
        "engine": status.message,
        "preset": args.preset,
        "seed": args.seed,
    }
    hashes = set()
    if parts & {"alone", "two", "eight"}:
        alone = run_together(registry, config, 1)
        out["alone"] = alone
        hashes.update(alone["hashes"])
        base = alone["walls"][0]
        if "two" in parts:
            two = run_together(registry, config, 2)
            out["two"] = {**two, "slowest_over_alone": round(max(two["walls"]) / base, 2)}
            hashes.update(two["hashes"])
        if "eight" in parts:
            eight = run_together(registry, config, 8)
            out["eight"] = {**eight, "makespan_over_alone": round(max(eight["walls"]) / base, 2)}
            hashes.update(eight["hashes"])
        out["identical_weights_everywhere"] = len(hashes) == 1
    if "stop" in parts:
        out["stop"] = measure_stop(registry, config)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
