import json
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import torch

from rl_core.artifacts.folders import AgentFolderError
from rl_core.artifacts.storage import list_agents, load_agent, read_history, save_agent
from rl_core.config import AgentConfig
from rl_core.learning.agent import QAgent
from rl_core.learning.training import train, training_metrics


def make_saved(tmp_path, **changes):
    base = dict(
        nn_hidden_layers=[16],
        batch_size=16,
        memory_size=500,
        n_steps_warm_up_memory=16,
        n_episodes=3,
        eval_every_episodes=2,
        eval_episodes=2,
    )
    config = AgentConfig(**{**base, **changes})
    agent = QAgent(config)
    result = train(agent)
    folder = save_agent(agent, tmp_path / "agent", metrics=training_metrics(agent, result), history=result.episodes)
    return agent, folder


STATES = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)


def test_round_trip_gives_identical_q_values(tmp_path):
    agent, folder = make_saved(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["history.csv", "hparams.json", "metrics.json", "model.pt"]
    loaded = load_agent(folder)
    np.testing.assert_array_equal(loaded.agent.q_values(STATES), agent.q_values(STATES))
    assert loaded.agent.config == agent.config
    assert loaded.metrics["episodes"] == 3
    assert [row["episode"] for row in read_history(folder)] == [1, 2, 3]
    hparams = json.loads((folder / "hparams.json").read_text())
    assert hparams["agent_kind"] == "deep" and hparams["nn_hidden_layers"] == [16]


def test_round_trip_with_normalizer(tmp_path):
    agent, folder = make_saved(tmp_path, normalize_state=True, normalizer_steps=500, nn_hidden_layers=[])
    assert (folder / "normalizer.json").is_file()
    loaded = load_agent(folder)
    np.testing.assert_array_equal(loaded.agent.normalizer.std, agent.normalizer.std)
    np.testing.assert_array_equal(loaded.agent.q_values(STATES), agent.q_values(STATES))


def test_model_file_holds_only_the_state_dict(tmp_path):
    _, folder = make_saved(tmp_path)
    data = torch.load(folder / "model.pt", weights_only=True)
    assert list(data) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_saving_over_an_agent_replaces_it_whole_and_leaves_no_temporaries(tmp_path):
    agent, folder = make_saved(tmp_path)
    save_agent(agent, folder, metrics={"again": True})
    assert json.loads((folder / "metrics.json").read_text()) == {"again": True}
    assert [p.name for p in tmp_path.iterdir()] == ["agent"]


def test_a_crash_while_saving_leaves_the_old_agent_untouched(tmp_path, monkeypatch):
    agent, folder = make_saved(tmp_path)
    before = (folder / "model.pt").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        save_agent(agent, folder)
    assert (folder / "model.pt").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["agent"]


class RunsCode:
    """Unpickling this would create a marker file: the load must refuse before that happens."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_model_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    _, folder = make_saved(tmp_path)
    marker = tmp_path / "pwned"
    with open(folder / "model.pt", "wb") as f:
        pickle.dump({"0.weight": RunsCode(marker)}, f)
    with pytest.raises(AgentFolderError, match=r"model\.pt: not a plain PyTorch state_dict"):
        load_agent(folder)
    assert not marker.exists()
    # the same payload inside torch's zip format
    torch.save({"0.weight": RunsCode(marker)}, folder / "model.pt")
    assert not marker.exists()  # saving only records the call
    with pytest.raises(AgentFolderError, match=r"model\.pt: not a plain PyTorch state_dict"):
        load_agent(folder)
    assert not marker.exists()


def test_a_pickled_module_is_refused(tmp_path):
    agent, folder = make_saved(tmp_path)
    torch.save(agent.q_net, folder / "model.pt")
    with pytest.raises(AgentFolderError, match=r"model\.pt: not a plain PyTorch state_dict"):
        load_agent(folder)


@pytest.mark.parametrize(
    "tamper,needle",
    [
        (lambda f: torch.save({"0.weight": torch.zeros(3, 3)}, f / "model.pt"), "model.pt: tensors do not match"),
        (
            lambda f: torch.save(
                {
                    "0.weight": torch.zeros(9, 4),
                    "0.bias": torch.zeros(16),
                    "2.weight": torch.zeros(2, 16),
                    "2.bias": torch.zeros(2),
                },
                f / "model.pt",
            ),
            "tensor 0.weight has shape (9, 4), expected (16, 4)",
        ),
        (
            lambda f: torch.save([1, 2], f / "model.pt"),
            "model.pt: not a plain PyTorch state_dict (a dict of names to tensors), got list",
        ),
        (lambda f: (f / "model.pt").write_text("not a model"), "model.pt: not a plain PyTorch state_dict"),
        (lambda f: (f / "model.pt").unlink(), "model.pt: missing file"),
        (lambda f: (f / "hparams.json").unlink(), "hparams.json: missing file"),
        (lambda f: (f / "metrics.json").unlink(), "metrics.json: missing file"),
        (lambda f: (f / "hparams.json").write_text("{nope"), "hparams.json: not valid JSON"),
        (lambda f: _edit_hparams(f, lambda h: h.update(surprise=1)), "hparams.json: unknown hyperparameter 'surprise'"),
        (
            lambda f: _edit_hparams(f, lambda h: h.pop("learning_rate")),
            "hparams.json: missing hyperparameter 'learning_rate'",
        ),
        (
            lambda f: _edit_hparams(f, lambda h: h.update(discount_factor=3)),
            "hparams.json: discount_factor must be a number in (0, 1], got 3",
        ),
        (
            lambda f: _edit_hparams(f, lambda h: h.update(nn_hidden_layers=[16, 16])),
            "tensors do not match nn_hidden_layers [16, 16]",
        ),
        (lambda f: _edit_hparams(f, lambda h: h.update(normalize_state=True)), "normalizer.json: missing file"),
    ],
)
def test_invalid_folders_are_refused_with_the_file_and_the_reason(tmp_path, tamper, needle):
    _, folder = make_saved(tmp_path)
    tamper(folder)
    with pytest.raises(AgentFolderError) as info:
        load_agent(folder)
    message = str(info.value)
    assert needle in message and "\n" not in message


def _edit_hparams(folder, change):
    hparams = json.loads((folder / "hparams.json").read_text())
    change(hparams)
    (folder / "hparams.json").write_text(json.dumps(hparams))


def test_nan_weights_are_refused(tmp_path):
    _, folder = make_saved(tmp_path)
    state = torch.load(folder / "model.pt", weights_only=True)
    state["0.bias"][0] = float("nan")
    torch.save(state, folder / "model.pt")
    with pytest.raises(AgentFolderError, match="NaN or infinite"):
        load_agent(folder)


def test_folders_outside_the_roots_are_refused(tmp_path):
    _, folder = make_saved(tmp_path)
    root = tmp_path / "allowed"
    root.mkdir()
    with pytest.raises(AgentFolderError, match="outside the agents' folders"):
        load_agent(folder, roots=[root])
    with pytest.raises(AgentFolderError, match="outside the agents' folders"):
        load_agent(root / ".." / "agent", roots=[root])
    shutil.copytree(folder, root / "agent")
    assert load_agent(root / "agent", roots=[root]).name == "agent"


def test_list_agents(tmp_path):
    _, folder = make_saved(tmp_path)
    (tmp_path / "not-an-agent").mkdir()
    entries = list_agents([tmp_path])
    assert [e.name for e in entries] == ["agent"]
    assert entries[0].env_id == "CartPole-v1" and entries[0].agent_kind == "deep"


def test_zip_round_trip_through_an_upload(tmp_path):
    from rl_core.artifacts.zips import agent_zip_bytes, import_agent_zip

    agent, folder = make_saved(tmp_path)
    data = agent_zip_bytes(folder)
    dest = tmp_path / "runs"
    imported = import_agent_zip(data, dest, "uploaded agent")
    assert imported == dest / "uploaded-agent"
    np.testing.assert_array_equal(load_agent(imported).agent.q_values(STATES), agent.q_values(STATES))
    assert [p.name for p in dest.iterdir()] == ["uploaded-agent"]


def _zip_of(files):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "make_upload,needle",
    [
        (lambda folder: b"hello", "upload: not a zip file"),
        (lambda folder: _zip_of({"../evil/hparams.json": "{}"}), "unexpected path"),
        (lambda folder: _zip_of({"agent/run.sh": "rm -rf /"}), "unexpected file 'agent/run.sh'"),
        (lambda folder: _zip_of({"hparams.json": (folder / "hparams.json").read_text()}), "model.pt: missing file"),
        (
            lambda folder: _zip_of(
                {
                    name: (folder / name).read_bytes() if name != "model.pt" else pickle.dumps(RunsCode("x"))
                    for name in ("hparams.json", "model.pt", "metrics.json")
                }
            ),
            "model.pt: not a plain PyTorch state_dict",
        ),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(tmp_path, make_upload, needle):
    from rl_core.artifacts.zips import import_agent_zip

    _, folder = make_saved(tmp_path)
    dest = tmp_path / "runs"
    with pytest.raises(AgentFolderError) as info:
        import_agent_zip(make_upload(folder), dest, "up")
    assert needle in str(info.value) and str(info.value).startswith("upload: ")
    assert list(dest.iterdir()) == [] if dest.exists() else True


def test_a_loaded_agent_s_normaliser_is_the_one_in_its_file_not_a_refit(tmp_path):
    """A refit on load would give the same numbers as training's fit (same seed, same steps): the
    file is edited, so only reading it gives these."""
    from rl_core.artifacts.folders import PRETRAINED_DIR

    folder = tmp_path / "linear"
    shutil.copytree(PRETRAINED_DIR / "cartpole-linear-q", folder)
    saved = json.loads((folder / "normalizer.json").read_text())
    edited = {"mean": [m + 0.25 for m in saved["mean"]], "std": [s * 2 for s in saved["std"]]}
    (folder / "normalizer.json").write_text(json.dumps(edited))
    normalizer = load_agent(folder).agent.normalizer
    assert normalizer is not None
    np.testing.assert_allclose(normalizer.mean, edited["mean"], rtol=1e-6)
    np.testing.assert_allclose(normalizer.std, edited["std"], rtol=1e-6)
