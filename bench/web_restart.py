"""A web process killed mid-lesson loses nothing (issue 18).

    python bench/web_restart.py [--jobs 8] [--episodes 60]

A driver process stands in for the web process: it holds a RegistryClient (what every app process
holds), submits ``--jobs`` trainings for as many students, and is killed with SIGKILL once the
first ones train (so some run, the rest queue). A second driver, started afterwards as a restarted
web process would be, reconnects to the registry service: it sees every job again live (episodes
still growing), waits for all of them, and checks each agent saved under the name it reserved.
Prints the figures, and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SUBMIT = """
import json, sys, time
from rl_core.presets import preset
from rl_core.compute.service import RegistryClient
client = RegistryClient()
config = preset("deep-fast", n_episodes={episodes}, stop_at_reward=None, eval_every_episodes=0)
ids = [client.submit(f"student{{i}}", config.replace(seed=i), name=f"restart-{{i}}") for i in range({jobs})]
while sum(client.snapshot(j).state == "running" and len(client.snapshot(j).episodes) > 0 for j in ids) < 1:
    time.sleep(0.1)
states = [client.snapshot(j).state for j in ids]
print(json.dumps({{"ids": ids, "states": states}}), flush=True)
time.sleep(3600)  # killed here, mid-training
"""

RECONNECT = """
import json, sys, time
from rl_core.compute.service import RegistryClient
ids = json.loads(sys.argv[1])
start = time.time()
client = RegistryClient()
while not all(client.snapshot(j) is not None for j in ids):
    time.sleep(0.1)
seen_at = time.time() - start
first = {j: len(client.snapshot(j).episodes) for j in ids}
time.sleep(2)
grew = sum(len(client.snapshot(j).episodes) > first[j] for j in ids if not client.snapshot(j).done)
while not all(client.snapshot(j).done for j in ids):
    time.sleep(0.2)
snaps = [client.snapshot(j) for j in ids]
print(json.dumps({"seen_again_s": round(seen_at, 2), "live_ones_growing": grew,
                  "states": [s.state for s in snaps], "saved": [str(s.saved_path) for s in snaps],
                  "names": [s.name for s in snaps], "all_done_s": round(time.time() - start, 1)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=60)
    args = parser.parse_args()
    from rl_core.compute.engine import stop_local_instance

    runs = Path(tempfile.mkdtemp(prefix="qlab-restart-")) / "runs"
    runs.mkdir()
    env = {**os.environ, "QLAB_RUNS_DIR": str(runs), "SDL_VIDEODRIVER": "dummy"}
    env.pop("QLAB_ENGINE", None)
    try:
        web = subprocess.Popen(
            [sys.executable, "-c", SUBMIT.format(jobs=args.jobs, episodes=args.episodes)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert web.stdout is not None
        submitted = json.loads(web.stdout.readline())
        web.send_signal(signal.SIGKILL)
        web.wait()
        killed_at = {"running": submitted["states"].count("running"), "queued": submitted["states"].count("queued")}
        print(f"killed the web process with {killed_at['running']} running and {killed_at['queued']} queued")
        again = subprocess.run(
            [sys.executable, "-c", RECONNECT, json.dumps(submitted["ids"])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if again.returncode:
            raise SystemExit(again.stderr[-3000:])
        result = json.loads(again.stdout.strip().splitlines()[-1])
        saved_ok = [
            path == str(runs / name) and (Path(path) / "model.pt").is_file()
            for path, name in zip(result["saved"], result["names"])
        ]
        summary = {
            "jobs": args.jobs,
            "killed_with": killed_at,
            "seen_again_s": result["seen_again_s"],
            "live_ones_growing": result["live_ones_growing"],
            "finished": result["states"].count("finished"),
            "saved_under_reserved_names": sum(saved_ok),
            "all_done_s": result["all_done_s"],
        }
        print(
            f"after the restart: {summary['finished']} of {args.jobs} finished, "
            f"{summary['saved_under_reserved_names']} saved under the names they reserved"
        )
        print(json.dumps(summary))
    finally:
        stop_local_instance(runs)


if __name__ == "__main__":
    main()
