"""Issue 7's library side: the Q-function slice, shareable links, lasting runs, TensorBoard."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rl_core.artifacts.folders import AgentFolderError, delete_agent, rename_agent
from rl_core.artifacts.storage import list_agents, save_agent
from rl_core.config import AgentConfig
from rl_core.learning.agent import FrozenQ, QAgent
from rl_core.learning.qfunction import q_slice
from rl_core.present.figures import q_heatmap_figure
from rl_core.present.rendering import render_state
from rl_core.presets import PRESET_NAMES, config_from_query, config_to_query, preset

ROOT = Path(__file__).resolve().parent.parent


def known_linear_agent():
    agent = QAgent(AgentConfig(nn_hidden_layers=[]))
    with torch.no_grad():
        agent.q_net[0].weight.copy_(torch.tensor([[0.0, 0.0, -10.0, -1.0], [0.0, 0.0, 10.0, 1.0]]))
        agent.q_net[0].bias.copy_(torch.tensor([1.0, 2.0]))
    return agent


def test_the_heatmap_of_a_known_linear_agent():
    qs = q_slice(known_linear_agent(), "CartPole-v1", dims=(2, 3), resolution=5, ranges=((-0.2, 0.2), (-2.0, 2.0)))
    theta, omega = np.meshgrid(qs.xs, qs.ys)
    np.testing.assert_allclose(qs.q[..., 0], 1.0 - 10 * theta - omega, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(qs.q[..., 1], 2.0 + 10 * theta + omega, rtol=1e-5, atol=1e-5)
    # pushes right exactly where 20 theta + 2 omega + 1 > 0: towards where the pole falls
    np.testing.assert_array_equal(qs.greedy, (20 * theta + 2 * omega + 1 > 0).astype(int))
    assert qs.names == ("pole angle theta", "pole angular velocity omega")
    figure = q_heatmap_figure(qs, show="policy", trajectory=np.zeros((3, 4)))
    assert figure.data[0].type == "heatmap" and len(figure.data) == 3
    assert q_heatmap_figure(qs, show="q1").data[0].z.shape == (5, 5)


def test_slice_holds_the_other_dimensions_and_checks_its_arguments():
    agent = known_linear_agent()
    base = np.array([0.0, 0.0, 0.05, 0.0], dtype=np.float32)
    qs = q_slice(agent, "CartPole-v1", dims=(0, 1), base_state=base, resolution=3)
    np.testing.assert_allclose(qs.q[..., 1], 2.0 + 10 * 0.05, rtol=1e-5)  # x and v have no weight
    with pytest.raises(ValueError, match="two different state dimensions"):
        q_slice(agent, "CartPole-v1", dims=(1, 1))
    with pytest.raises(ValueError, match="base_state must have 4 values"):
        q_slice(agent, "CartPole-v1", base_state=np.zeros(3))


def test_a_frozen_copy_does_not_follow_the_live_network():
    agent = known_linear_agent()
    frozen = FrozenQ.of(agent)
    before = frozen.q_values(np.ones((1, 4)))
    with torch.no_grad():
        agent.q_net[0].bias.add_(100.0)
    np.testing.assert_array_equal(frozen.q_values(np.ones((1, 4))), before)
    assert not np.array_equal(agent.q_values(np.ones((1, 4))), before)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_a_link_round_trip_is_lossless(name):
    config = preset(
        name,
        learning_rate=0.00012345678901234,
        nn_hidden_layers=[] if "linear" in name else [64, 32],
        stop_at_reward=None,
        seed=4294967295,
    )
    query = config_to_query(config, name)
    assert all(isinstance(v, str) for v in query.values())
    restored, restored_name, notices = config_from_query(query)
    assert restored == config and restored_name == name and notices == []


@pytest.mark.parametrize(
    "query,needle",
    [
        ({"preset": "nope"}, "unknown preset 'nope'"),
        ({"learning_rate": "fast"}, "ignored learning_rate='fast'"),
        ({"colour": "blue"}, "ignored unknown setting 'colour'"),
        ({"env_id": "Pong-v5"}, "unknown env_id 'Pong-v5'"),
        ({"batch_size": "512", "memory_size": "100"}, "ignored memory_size='100': it does not fit"),
    ],
)
def test_a_bad_or_partial_link_falls_back_with_a_notice(query, needle):
    config, name, notices = config_from_query(query)
    assert any(needle in n for n in notices), notices
    assert config.errors() == {}


def test_a_partial_link_fills_the_rest_from_its_preset():
    config, name, notices = config_from_query({"preset": "deep-good", "seed": "7"})
    assert notices == [] and name == "deep-good" and config == preset("deep-good", seed=7)


def tiny_saved(root: Path, name: str) -> Path:
    agent = QAgent(AgentConfig(nn_hidden_layers=[4]))
    return save_agent(agent, root / name, metrics={"episodes": 1})


def test_runs_survive_a_new_process_and_can_be_renamed_and_deleted(runs_dir):
    tiny_saved(runs_dir, "first")
    code = (
        "from rl_core.artifacts.folders import runs_dir; from rl_core.artifacts.storage import list_agents; "
        "print([e.name for e in list_agents([runs_dir()])])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "QLAB_RUNS_DIR": str(runs_dir)},
    ).stdout
    assert out.strip() == "['first']"
    renamed = rename_agent(runs_dir / "first", "my best agent")
    assert renamed.name == "my-best-agent" and [e.name for e in list_agents([runs_dir])] == ["my-best-agent"]
    tiny_saved(runs_dir, "other")
    with pytest.raises(AgentFolderError, match="already exists"):
        rename_agent(renamed, "other")
    delete_agent(renamed)
    assert [e.name for e in list_agents([runs_dir])] == ["other"]
    assert [p.name for p in runs_dir.iterdir()] == ["other"]


def test_pretrained_agents_cannot_be_renamed_or_deleted(runs_dir):
    from rl_core.artifacts.folders import PRETRAINED_DIR

    with pytest.raises(AgentFolderError, match="not a run"):
        delete_agent(PRETRAINED_DIR / "cartpole-deep-q")
    assert (PRETRAINED_DIR / "cartpole-deep-q" / "model.pt").is_file()


def test_tensorboard_logs_from_the_cli(tmp_path):
    pytest.importorskip("tensorboard")
    from rl_core.cli import main

    logs = tmp_path / "tb"
    assert (
        main(
            [
                "train",
                "--preset",
                "deep-fast",
                "--episodes",
                "3",
                "--set",
                "nn_hidden_layers=[8]",
                "--set",
                "eval_every_episodes=2",
                "--set",
                "eval_episodes=2",
                "--tensorboard",
                str(logs),
                "--out",
                str(tmp_path / "agent"),
            ]
        )
        == 0
    )
    assert list(logs.glob("events.out.tfevents.*"))


@pytest.mark.parametrize(
    "env_id,obs",
    [
        ("CartPole-v1", [0.5, 0.0, 0.1, 0.0]),
        ("MountainCar-v0", [-0.5, 0.01]),
        ("Acrobot-v1", [1.0, 0.0, 0.0, 1.0, 0.1, -0.2]),
    ],
)
def test_any_state_can_be_drawn(env_id, obs):
    frame = render_state(env_id, np.array(obs))
    assert frame.ndim == 3 and frame.shape[2] == 3
