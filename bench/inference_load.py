"""What loading an agent for inference costs: `python -m rl_core render` and a bare `load_agent`, each in
a fresh process, and whether torch._dynamo (imported by torch's first Adam) got loaded.

    python bench/inference_load.py [--repeats 5] [--before DIR]

``--before DIR`` also times the code of another checkout (a folder holding rl_core/ and pretrained/,
e.g. `git archive <commit> rl_core pretrained | tar -x -C DIR`), interleaved with this one's runs so
that both see the same machine load. Wall time moves with whatever else runs on the machine; the
children's CPU time (user + sys) moves far less, so both are reported (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import git_commit, machine  # noqa: E402

LOAD = (
    "import sys, time; t = time.perf_counter(); from rl_core.artifacts.storage import load_agent; "
    "load_agent(sys.argv[1]); "
    "print(any(m.startswith('torch._dynamo') for m in sys.modules), round(time.perf_counter() - t, 3))"
)


def timed(argv: list[str], code_dir: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stdout) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(code_dir), "SDL_VIDEODRIVER": "dummy"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=code_dir, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--agent", default="pretrained/cartpole-deep-q")
    parser.add_argument("--before", type=Path, default=None, help="another checkout's folder, timed alongside")
    args = parser.parse_args()
    trees = {"after": HERE.parent} | ({"before": args.before.resolve()} if args.before else {})
    samples: dict[str, dict[str, list[float]]] = {
        name: {"render_wall": [], "render_cpu": [], "load_wall": [], "load_cpu": []} for name in trees
    }
    dynamo: dict[str, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, code in trees.items():
                gif = str(Path(tmp) / f"{name}.gif")
                wall, cpu, _ = timed([sys.executable, "-m", "rl_core", "render", args.agent, "--out", gif], code)
                samples[name]["render_wall"].append(wall)
                samples[name]["render_cpu"].append(cpu)
                wall, cpu, out = timed([sys.executable, "-c", LOAD, args.agent], code)
                samples[name]["load_wall"].append(wall)
                samples[name]["load_cpu"].append(cpu)
                dynamo[name] = out.split()[0] == "True"
    result: dict[str, object] = {"machine": machine(), "commit": git_commit(), "repeats": args.repeats}
    for name, figures in samples.items():
        medians = {key: round(statistics.median(values), 2) for key, values in figures.items()}
        print(f"{name}: " + ", ".join(f"{k} {v} s" for k, v in medians.items()) + f"; torch._dynamo {dynamo[name]}")
        result[name] = {**medians, "dynamo_imported": dynamo[name]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
