"""What the bad inputs of issue 12 cost the server, before and after: bytes inflated, peak memory
(Python allocations, tracemalloc) and seconds.

    python bench/bad_input.py            # the current code
    python bench/bad_input.py --before   # also the code before issue 12 (read from git, 7e61028)

"before" loads the old rl_core/storage.py from git beside the current package (its sibling modules
mapped to their new homes); only its upload and history readers are used.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
import zipfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import git_commit, machine  # noqa: E402

from rl_core.artifacts import storage, zips  # noqa: E402
from rl_core.config import AgentConfig  # noqa: E402
from rl_core.learning.agent import QAgent  # noqa: E402

BEFORE = "7e61028"


class Counting:
    inflated = 0

    def __init__(self, inner):
        self._inner = inner

    def decompress(self, data, max_length=0):
        out = self._inner.decompress(data, max_length)
        Counting.inflated += len(out)
        return out

    def __getattr__(self, name):
        return getattr(self._inner, name)


def old_storage():
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:rl_core/storage.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("rl_core._storage_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "rl_core"
    module.__file__ = storage.__file__
    sys.modules[spec.name] = module  # dataclasses look their module up
    # the old module's relative imports, from before rl_core's subpackages
    for old, new in (("agent", "learning.agent"), ("envs", "learning.envs"), ("networks", "learning.networks")):
        sys.modules.setdefault(f"rl_core.{old}", importlib.import_module(f"rl_core.{new}"))
    exec(compile(source, "storage_before.py", "exec"), module.__dict__)
    return module


def bomb(agent_dir: Path) -> bytes:
    """An agent zip whose model.pt declares 1,000 bytes and inflates to 1 GiB (the test's recipe)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_bad_input import bomb_zip

    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = b"".join(packer.compress(bytes(1 << 20)) for _ in range(1024)) + packer.flush()
    others = {p.name: p.read_bytes() for p in agent_dir.iterdir() if p.name != "model.pt"}
    return bomb_zip(others, deflated, 1000)


def measure(label: str, action) -> dict:
    real = zipfile._get_decompressor
    zipfile._get_decompressor = lambda kind: Counting(real(kind))
    Counting.inflated = 0
    tracemalloc.start()
    start = time.perf_counter()
    try:
        action()
        outcome = "accepted"
    except Exception as exc:  # noqa: BLE001 - the outcome is what is measured
        outcome = f"{type(exc).__name__}: {' '.join(str(exc).split())[:90]}"
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    zipfile._get_decompressor = real
    return {
        "case": label,
        "inflated_MB": round(Counting.inflated / 1e6, 1),
        "peak_MB": round(peak / 1e6, 1),
        "seconds": round(seconds, 2),
        "outcome": outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", action="store_true")
    args = parser.parse_args()
    print(f"# {machine()}, commit {git_commit()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        agent = storage.save_agent(QAgent(AgentConfig(nn_hidden_layers=[8])), tmp / "agent", metrics={})
        zipped = bomb(agent)
        history_dir = tmp / "history"
        history_dir.mkdir()
        (history_dir / "history.csv").write_bytes(
            b"episode,reward,steps,epsilon,loss,seconds\n" + b"1,1,1,1,1,1\n" * 5_000_000
        )
        deep = tmp / "deep"
        deep.mkdir()
        (deep / "hparams.json").write_text("[" * 100_000 + "]" * 100_000)
        after = types.SimpleNamespace(
            import_agent_zip=zips.import_agent_zip, read_history=storage.read_history, read_config=storage.read_config
        )
        versions = [("after", after)] + ([("before", old_storage())] if args.before else [])
        for name, module in versions:
            for label, action in [
                (
                    "zip bomb: model.pt declares 1,000 B, holds 1 GiB",
                    lambda m=module, n=name: m.import_agent_zip(zipped, tmp / f"runs-{n}", "bomb"),
                ),
                ("history.csv of 5,000,000 rows on disk", lambda m=module: m.read_history(history_dir)),
                ("hparams.json nested 100,000 deep", lambda m=module: m.read_config(deep)),
            ]:
                print(json.dumps({"code": name, **measure(label, action)}), flush=True)


if __name__ == "__main__":
    main()
