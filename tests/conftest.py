import importlib.util
import os
import sys

import pytest
import torch

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
# Page tests keep their jobs in the test process (each with its own runs folder); the browser tests
# start app servers in the default service mode (tests/browser_support.start_app).
os.environ["QLAB_ENGINE"] = "inprocess"
torch.set_num_threads(1)

# Authlib adds warnings.simplefilter("always", AuthlibDeprecationWarning) when authlib.deprecate is first
# imported. Imported inside a test or a module's collection, that filter lands in front of pytest's own
# and pyproject.toml's "ignore" filters never apply; imported here, before pytest installs them, it lands
# behind them.
if importlib.util.find_spec("authlib") is not None:
    import authlib.deprecate  # noqa: F401


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """A private runs folder for the test."""
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("QLAB_RUNS_DIR", str(path))
    return path


def quick_learner_config(**changes):
    """A small deep config that learns CartPole well past random in about ten seconds."""
    from rl_core.config import AgentConfig

    base = dict(
        nn_hidden_layers=[64],
        learning_rate=2e-3,
        batch_size=64,
        memory_size=20000,
        freq_steps_train=2,
        freq_steps_update_target=200,
        n_steps_warm_up_memory=500,
        epsilon_start=1.0,
        epsilon_end=0.05,
        steps_epsilon_decay=3000,
        n_episodes=400,
        eval_every_episodes=5,
        eval_episodes=10,
        stop_at_reward=150,
        seed=4,
    )
    return AgentConfig(**{**base, **changes})


@pytest.fixture(scope="session")
def partly_trained_agent():
    """Trained until a greedy evaluation averages 150: episodes of many different lengths."""
    from rl_core.learning.agent import QAgent
    from rl_core.learning.training import train

    agent = QAgent(quick_learner_config())
    result = train(agent)
    assert result.status == "solved", result.summary()
    return agent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test's report ends with the tail of the app servers' logs it used."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    support = sys.modules.get("browser_support") or sys.modules.get("tests.browser_support")
    for path in list(getattr(support, "SERVER_LOGS", []))[-2:]:
        try:
            lines = path.read_text(errors="replace").splitlines()[-60:]
        except OSError:
            continue
        report.sections.append((f"server log {path} (last {len(lines)} lines)", "\n".join(lines)))


def _ray_leaders() -> dict[int, str]:
    """Every running ``ray start`` process (a local Ray instance's leader), by pid."""
    leaders = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        text = " ".join(a.decode(errors="replace") for a in args if a)
        if "ray" in text and " start " in f" {text} " and "--head" in text:
            leaders[int(entry)] = text
    return leaders


LEFTOVER_LOG = os.path.join(os.environ.get("TMPDIR", "/tmp"), "qlab-leftover-ray.log")


@pytest.fixture(scope="module", autouse=True)
def _no_ray_instance_left(request):
    """Note any local Ray instance a test module started and left running (seen after a CI run)."""
    before = set(_ray_leaders())
    yield
    left = {pid: cmd for pid, cmd in _ray_leaders().items() if pid not in before}
    if left:
        with open(LEFTOVER_LOG, "a") as log:
            for pid, cmd in left.items():
                log.write(f"{request.node.nodeid}: pid {pid}: {cmd}\n")
                _LEFT_BY_MODULES.append((request.node.nodeid, pid))


_LEFT_BY_MODULES: list[tuple[str, int]] = []


def pytest_terminal_summary(terminalreporter):
    """Name, in the run's log, the modules after which a local Ray instance was still running, and
    whether it still runs at the end (a leader stopped a moment later is not left over)."""
    still = _ray_leaders()
    for module, pid in _LEFT_BY_MODULES:
        state = "still running at the end" if pid in still else "gone by the end"
        terminalreporter.write_line(f"Ray instance (pid {pid}) running after {module}: {state} ({LEFTOVER_LOG})")
