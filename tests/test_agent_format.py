"""Agent folders carry a format_version (issue 20): older folders load, a newer field takes its default.

The pretrained agents are folders of the first format (no format_version in hparams.json). A
config class with one more field, marked as added by the next format version, stands for the day
a hyperparameter is added: every folder written before it must still load.
"""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rl_core.artifacts.folders import AgentFolderError
from rl_core.artifacts.storage import load_agent, read_config, save_agent
from rl_core.config import FORMAT_VERSION, AgentConfig, format_version_of
from rl_core.learning.agent import QAgent

ROOT = Path(__file__).resolve().parent.parent
PRETRAINED = ROOT / "pretrained"
TINY = dict(nn_hidden_layers=[8], batch_size=16, memory_size=500, n_steps_warm_up_memory=16)
NEXT = FORMAT_VERSION + 1


@dataclass
class NewerConfig(AgentConfig):
    """AgentConfig as it would be once format NEXT adds one hyperparameter."""

    warm_restarts: int = field(default=7, metadata={"since": NEXT})


def hparams(folder: Path) -> dict:
    return json.loads((folder / "hparams.json").read_text())


def rewrite(folder: Path, **changes) -> None:
    data = {**hparams(folder), **changes}
    (folder / "hparams.json").write_text(json.dumps({k: v for k, v in data.items() if v is not ...}))


def test_a_saved_folder_names_its_format_version(tmp_path):
    folder = save_agent(QAgent(AgentConfig(**TINY)), tmp_path / "a")
    assert hparams(folder)["format_version"] == FORMAT_VERSION == format_version_of(AgentConfig)
    assert load_agent(folder).agent.config == AgentConfig(**TINY)
    newer = save_agent(QAgent(NewerConfig(**TINY, warm_restarts=3)), tmp_path / "b")
    assert hparams(newer)["format_version"] == NEXT and hparams(newer)["warm_restarts"] == 3


@pytest.mark.parametrize("name", ["cartpole-deep-q", "cartpole-linear-q", "mountaincar-linear-q"])
def test_a_pretrained_folder_loads_after_a_field_is_added(name):
    assert "format_version" not in hparams(PRETRAINED / name)  # the first format, as shipped
    today = load_agent(PRETRAINED / name).agent.config
    later = load_agent(PRETRAINED / name, config_class=NewerConfig).agent.config
    assert isinstance(later, NewerConfig) and later.warm_restarts == 7  # the new field's default
    assert {k: v for k, v in later.to_dict().items() if k != "warm_restarts"} == today.to_dict()


def test_a_folder_of_todays_format_loads_after_a_field_is_added(tmp_path):
    folder = save_agent(QAgent(AgentConfig(**TINY)), tmp_path / "a")
    assert read_config(folder, NewerConfig).warm_restarts == 7


def test_the_newer_format_must_hold_its_new_field(tmp_path):
    folder = save_agent(QAgent(NewerConfig(**TINY)), tmp_path / "a")
    rewrite(folder, warm_restarts=...)
    with pytest.raises(AgentFolderError, match="missing hyperparameter 'warm_restarts'"):
        read_config(folder, NewerConfig)


def test_a_folder_newer_than_the_code_is_refused_in_one_line(tmp_path):
    folder = save_agent(QAgent(NewerConfig(**TINY)), tmp_path / "a")
    with pytest.raises(AgentFolderError) as info:
        load_agent(folder)
    message = str(info.value)
    assert f"format_version {NEXT} is newer than this Q-Lab reads (at most {FORMAT_VERSION})" in message
    assert "hparams.json" in message and "\n" not in message


@pytest.mark.parametrize(
    "changes,needle",
    [
        ({"bogus": 1}, "unknown hyperparameter 'bogus'"),
        ({"warm_restarts": 2}, "unknown hyperparameter 'warm_restarts'"),  # unknown to today's AgentConfig
        ({"seed": ...}, "missing hyperparameter 'seed'"),
        ({"format_version": 0}, "format_version must be a whole number from 1, got '0'"),
        ({"format_version": "2"}, "format_version must be a whole number from 1"),
        ({"format_version": True}, "format_version must be a whole number from 1"),
    ],
)
def test_unknown_missing_and_bad_fields_are_still_refused(tmp_path, changes, needle):
    folder = tmp_path / "a"
    shutil.copytree(PRETRAINED / "cartpole-deep-q", folder)
    rewrite(folder, **changes)
    with pytest.raises(AgentFolderError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_agent(folder)


def test_loading_for_inference_builds_no_optimiser():
    saved = load_agent(PRETRAINED / "cartpole-deep-q")
    assert saved.agent._optimizer is None
    # In a fresh process: nothing of loading imports torch._dynamo (torch's first Adam does).
    code = (
        "import sys; from rl_core.artifacts.storage import load_agent; "
        f"load_agent({str(PRETRAINED / 'cartpole-deep-q')!r}); "
        "print(any(m.startswith('torch._dynamo') for m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_a_loaded_agent_makes_its_optimiser_on_the_first_gradient_step(tmp_path):
    agent = QAgent(AgentConfig(**TINY, freq_steps_train=1))
    assert agent._optimizer is None
    state = [0.0, 0.0, 0.0, 0.0]
    for step in range(20):
        agent.observe(state, step % 2, 1.0, state, False)
    assert agent._optimizer is not None and agent.n_gradient_steps_done > 0
    assert agent.optimizer is agent._optimizer  # made once
    assert agent.optimizer.param_groups[0]["lr"] == agent.config.learning_rate
