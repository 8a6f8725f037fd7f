"""The engine beyond one process: a real 2-node Ray cluster, and a cluster that cannot be reached.

The cluster is two `ray start` nodes on this machine (1 CPU each, each with its own temp dir),
joined with token authentication. `.ci/run` starts one and passes its address in
QLAB_TEST_RAY_ADDRESS; without it this module starts (and stops) its own.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from rl_core.artifacts.folders import STORE_FOLDERS

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_driver(code: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def ray_cluster():
    given = os.environ.get("QLAB_TEST_RAY_ADDRESS")
    if given:
        yield given
        return
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.pop("RAY_ADDRESS", None)
    # short temp dirs: Ray's unix socket paths must stay under ~107 characters
    head_dir, node_dir = tempfile.mkdtemp(prefix="qh", dir="/tmp"), tempfile.mkdtemp(prefix="qn", dir="/tmp")
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--block", "--disable-usage-stats"]
    # --block keeps each node in the foreground, so ending it stops that node only (`ray stop` would
    # stop every Ray process on the machine, this test session's local instance included)
    head = subprocess.Popen(
        [RAY, "start", "--head", "--port", str(port), "--temp-dir", head_dir, "--include-dashboard=false", *common],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    node = subprocess.Popen(
        [RAY, "start", "--address", f"127.0.0.1:{port}", "--temp-dir", node_dir, *common],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for process in (node, head):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in (node, head):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


DRIVER = """
import json, sys, time
from pathlib import Path
from rl_core.config import AgentConfig
from rl_core.compute.engine import cluster_cpus, nodes_used, require_engine
from rl_core.compute.registry import JobRegistry

status = require_engine(timeout=120)
deadline = time.time() + 90
while (cluster_cpus() < 2 or len(nodes_used()) < 2) and time.time() < deadline:
    time.sleep(0.5)  # the second node may still be joining
registry = JobRegistry(out_dir=Path(sys.argv[1]), capacity=2)
config = dict(nn_hidden_layers=[8], batch_size=8, memory_size=500, n_steps_warm_up_memory=8, n_episodes=40,
              eval_every_episodes=0)
ids = [registry.submit("alice", AgentConfig(**config, seed=i), name=f"cluster-{i}") for i in range(4)]
snaps = [registry.wait(i, timeout=300) for i in ids]
print(json.dumps({"engine": status.message, "nodes": len(nodes_used()), "states": [s.state for s in snaps],
                  "messages": [s.message for s in snaps], "ran_on": [s.worker["node_id"] for s in snaps],
                  "saved": [str(s.saved_path) for s in snaps]}))
"""


def test_four_trainings_run_on_both_nodes_and_land_in_the_apps_runs_store(ray_cluster, tmp_path):
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "RAY_AUTH_MODE": "token", "SDL_VIDEODRIVER": "dummy"}
    done = _run_driver(DRIVER.replace("sys.argv[1]", repr(str(tmp_path))), env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["nodes"] == 2 and "Ray cluster at" in result["engine"], result
    assert result["states"] == ["finished"] * 4, result["messages"]
    assert len(set(result["ran_on"])) == 2  # both nodes trained
    from rl_core.artifacts.storage import load_agent

    for i, path in enumerate(result["saved"]):
        assert Path(path) == tmp_path / f"cluster-{i}"
        assert load_agent(path, roots=[tmp_path]).agent.config.seed == i


def test_an_unreachable_cluster_is_one_line_and_the_app_still_serves_what_needs_no_training(tmp_path):
    port = _free_port()  # nothing listens there
    env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}", "QLAB_RUNS_DIR": str(tmp_path), "SDL_VIDEODRIVER": "dummy"}
    cli = subprocess.run(
        [sys.executable, "-m", "rl_core", "seeds", "--seeds", "0-1", "--episodes", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines() == [
        f"error: The compute engine is unavailable: cannot reach the Ray cluster at 127.0.0.1:{port} "
        "(Connection refused)."
    ]
    pages = _run_driver(
        f"""
        import json
        from streamlit.testing.v1 import AppTest
        from rl_core.compute.engine import require_engine, EngineUnavailable
        try:
            require_engine(timeout=60)
        except EngineUnavailable:
            pass
        out = {{}}
        at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=120)
        at.run()
        at.switch_page("pages/train.py").run()
        out["train_errors"] = [e.value for e in at.error]
        out["train_exceptions"] = [e.value for e in at.exception]
        at.button(key="train_start").click().run()
        out["after_start"] = [e.value for e in at.error]
        at.switch_page("pages/evaluate.py").run()
        out["evaluate_exceptions"] = [e.value for e in at.exception]
        out["evaluate_metrics"] = len(at.metric)
        print(json.dumps(out))
    """,
        env,
    )
    assert pages.returncode == 0, pages.stderr[-3000:]
    out = json.loads(pages.stdout.strip().splitlines()[-1])
    assert not out["train_exceptions"] and not out["evaluate_exceptions"], out
    assert any(f"cannot reach the Ray cluster at 127.0.0.1:{port}" in e for e in out["train_errors"]), out
    assert any("Cannot start" in e and "compute engine is unavailable" in e for e in out["after_start"]), out
    assert out["evaluate_metrics"] > 0  # the pretrained agent is still evaluated in the page
    assert {p.name for p in tmp_path.iterdir()} <= STORE_FOLDERS  # the refused start reserved nothing


def test_the_registry_service_runs_trainings_on_both_nodes_and_saves_them_in_the_apps_runs_store(ray_cluster, tmp_path):
    """The app's own path on a cluster: its jobs in the registry service (a detached actor pinned to
    the app's node), the trainings on both nodes, the agents in the app's runs folder."""
    swaps = {
        "from rl_core.compute.registry import JobRegistry": "from rl_core.compute.service import RegistryClient",
        "registry = JobRegistry(out_dir=Path(sys.argv[1]), capacity=2)": "registry = RegistryClient(Path(sys.argv[1]))",
    }
    service = DRIVER
    for old, new in swaps.items():
        assert old in service, old  # the driver changed: this test would silently run the in-process registry
        service = service.replace(old, new)
    service = service.replace("status = require_engine(timeout=120)", "status = require_engine(timeout=120)")
    assert "RegistryClient(" in service
    code = service.replace("sys.argv[1]", repr(str(tmp_path)))
    code = code.replace("from rl_core.compute.engine import", "from rl_core.compute.engine import start_engine,")
    code = code.replace(
        "status = require_engine(timeout=120)", "start_engine(service=True)\nstatus = require_engine(timeout=120)"
    )
    env = {**os.environ, "RAY_ADDRESS": ray_cluster, "RAY_AUTH_MODE": "token", "SDL_VIDEODRIVER": "dummy"}
    env.pop("QLAB_ENGINE", None)
    done = _run_driver(code, env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["states"] == ["finished"] * 4, result["messages"]
    assert len(set(result["ran_on"])) == 2  # both nodes trained
    assert result["saved"] == [str(tmp_path / f"cluster-{i}") for i in range(4)]
