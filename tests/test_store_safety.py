"""Issue 23: no user's name reaches the store's own folders, reservations of lost jobs are given back,
and the CLI never writes its output over a file that is not its own kind."""

import errno
import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import pytest
import torch

from rl_core.artifacts.folders import (
    STORE_FOLDERS,
    AgentFolderError,
    RunNameError,
    check_run_name,
    claim_folder,
    delete_agent,
    make_store_folders,
    rename_agent,
)
from rl_core.artifacts.storage import load_agent, save_agent
from rl_core.classroom.ownership import (
    User,
    read_owner,
    record_owner,
    release_orphans,
    reserve_run,
    upload_dir,
)
from rl_core.cli import main
from rl_core.config import AgentConfig
from rl_core.learning.agent import QAgent

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "pretrained" / "cartpole-linear-q")
ALICE = User("alice-sub", "Alice", "alice@school.edu", class_mode=True)
BOB = User("bob-sub", "Bob", "bob@school.edu", class_mode=True)


def saved_run(folder: Path, owner: User) -> Path:
    save_agent(QAgent(AgentConfig(nn_hidden_layers=[4])), folder, metrics={"episodes": 1})
    record_owner(folder, owner)
    return folder


def aged(path: Path, seconds: float = 3600) -> Path:
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


@pytest.mark.parametrize("name", ["uploads", "tuning", "tensorboard", "Uploads", " TUNING "])
def test_a_run_can_never_be_named_as_one_of_the_store_s_folders(name):
    with pytest.raises(RunNameError, match="store's own folders"):
        check_run_name(name)
    assert check_run_name("uploads-of-mine") == "uploads-of-mine"


def test_a_reservation_on_a_fresh_store_never_takes_a_store_folder_s_name(runs_dir):
    # before any upload exists, Bob's run called "uploads" must not become the folder uploads land in
    assert not (runs_dir / "uploads").exists()
    folders = [reserve_run(runs_dir, name, BOB) for name in sorted(STORE_FOLDERS)]
    assert [f.name for f in folders] == [f"{name}-2" for name in sorted(STORE_FOLDERS)]
    # an upload claim inside a user's folder is not a store root: the same name is fine there
    assert claim_folder(upload_dir(ALICE), "tuning").name == "tuning"


def test_bob_cannot_rename_a_run_onto_a_store_folder_nor_delete_a_store_folder(runs_dir):
    bob_run = saved_run(runs_dir / "bob-run", BOB)
    with pytest.raises(RunNameError, match="store's own folders"):
        rename_agent(bob_run, "uploads")
    # a run folder called "uploads" left by an older version: everyone's uploads live in it, so it is
    # never a run anyone may delete
    legacy = saved_run(runs_dir / "uploads", BOB)
    alice_upload = saved_run(upload_dir(ALICE) / "alice-upload", ALICE)
    with pytest.raises(AgentFolderError, match="not a run"):
        delete_agent(legacy)
    assert (alice_upload / "model.pt").is_file()


def test_the_service_s_registry_makes_the_store_folders_and_refuses_a_store_name(runs_dir):
    from rl_core.compute.registry import JobRegistry

    registry = JobRegistry(out_dir=runs_dir, capacity=1, holds_the_store=True)
    assert all((runs_dir / name).is_dir() for name in STORE_FOLDERS)
    config = AgentConfig(nn_hidden_layers=[4], n_episodes=1)
    with pytest.raises(RunNameError, match="'tensorboard' is the name"):
        registry.submit("bob-sub", config, name="tensorboard")
    assert not any(p.name.startswith("tensorboard-") for p in runs_dir.iterdir())


def test_a_restart_gives_back_the_names_of_jobs_that_no_longer_exist(runs_dir):
    make_store_folders(runs_dir)
    lost = aged(reserve_run(runs_dir, "lost-run", ALICE))  # its job died with the old process
    fresh = reserve_run(runs_dir, "claimed-a-moment-ago", ALICE)  # a claim under way: left alone
    kept = aged(saved_run(runs_dir / "alice-run", ALICE))
    half_save = runs_dir / ".alice-run-2.tmp-1234abcd"
    half_save.mkdir()
    (half_save / "model.pt").write_bytes(b"partial")
    aged(half_save)
    lost_upload = aged(reserve_run(upload_dir(ALICE), "an-upload", ALICE))
    empty = runs_dir / "empty"
    empty.mkdir()
    aged(empty)

    released = release_orphans(runs_dir)

    assert sorted(released) == sorted(
        [".alice-run-2.tmp-1234abcd", "empty", "lost-run", str(lost_upload.relative_to(runs_dir))]
    )
    assert not lost.exists() and not half_save.exists() and not lost_upload.exists()
    assert fresh.is_dir() and read_owner(fresh).owner == ALICE.id
    assert (kept / "model.pt").is_file()
    assert all((runs_dir / name).is_dir() for name in STORE_FOLDERS)
    # the name is free again, and no longer counts against Alice's quota of runs
    assert reserve_run(runs_dir, "lost-run", ALICE).name == "lost-run"
    assert list(upload_dir(ALICE).iterdir()) == []  # what her uploads quota counts


def test_an_in_process_registry_releases_orphans_only_when_it_holds_the_store(runs_dir):
    from rl_core.compute.registry import JobRegistry

    lost = aged(reserve_run(runs_dir, "lost-run", ALICE))
    JobRegistry(out_dir=runs_dir, capacity=1)  # a CLI's or a bench's registry: not the store's
    assert lost.is_dir()
    registry = JobRegistry(out_dir=runs_dir, capacity=1, holds_the_store=True)
    assert registry.released == ["lost-run"] and not lost.exists()


@pytest.mark.parametrize(
    "target, message",
    [
        ("model.pt", "give a file name ending in .gif"),
        ("replay.gif", "exists and is not a GIF"),
        ("folder.gif", "exists and is not a plain file"),
        ("missing/x.gif", "does not exist"),
    ],
)
def test_render_never_writes_over_a_file_that_is_not_a_gif(target, message, tmp_path, capsys):
    agent_copy = tmp_path / "agent"
    agent_copy.mkdir()
    (agent_copy / "model.pt").write_bytes(b"weights")
    (agent_copy / "replay.gif").write_text(json.dumps({"not": "a gif"}))
    (agent_copy / "folder.gif").mkdir()
    before = {p.name: p.read_bytes() for p in agent_copy.iterdir() if p.is_file()}
    assert main(["render", AGENT, "--out", str(agent_copy / target)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in agent_copy.iterdir() if p.is_file()} == before


def test_render_replaces_a_gif_it_wrote(tmp_path, capsys):
    out = tmp_path / "replay.gif"
    assert main(["render", AGENT, "--out", str(out), "--width", "64"]) == 0
    first = out.read_bytes()
    assert first[:6] == b"GIF89a"
    assert main(["render", AGENT, "--out", str(out), "--width", "96"]) == 0
    assert out.read_bytes() != first


# --- model.pt: tensors that are not plain, dense, self-sized ones -------------------------------


@pytest.fixture(scope="module")
def tiny_agent_folder(tmp_path_factory) -> Path:
    return save_agent(QAgent(AgentConfig(nn_hidden_layers=[4])), tmp_path_factory.mktemp("a") / "agent")


def with_model(source: Path, dest: Path, state: dict | None = None, raw: bytes | None = None) -> Path:
    shutil.copytree(source, dest)
    if raw is None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        raw = buffer.getvalue()
    (dest / "model.pt").write_bytes(raw)
    return dest


def own_state(folder: Path) -> dict:
    return torch.load(folder / "model.pt", weights_only=True)


def deflated(raw: bytes) -> bytes:
    """The same torch archive with its entries compressed: small on disk, whole in memory."""
    source, out = zipfile.ZipFile(io.BytesIO(raw)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return out.getvalue()


def test_a_tensor_viewing_a_larger_storage_is_refused_before_it_is_allocated(tiny_agent_folder, tmp_path):
    state = own_state(tiny_agent_folder)
    big = torch.zeros(4 * 1024 * 1024)  # 16 MB of storage, of which the weight views 16 floats
    state["0.weight"] = big[: state["0.weight"].numel()].view_as(state["0.weight"])
    buffer = io.BytesIO()
    torch.save(state, buffer)
    squeezed = deflated(buffer.getvalue())
    assert len(squeezed) < 100_000  # what an upload would carry
    folder = with_model(tiny_agent_folder, tmp_path / "deflated", raw=squeezed)
    with pytest.raises(AgentFolderError, match="holds compressed entries"):
        load_agent(folder)
    folder = with_model(tiny_agent_folder, tmp_path / "stored", raw=buffer.getvalue())
    with pytest.raises(AgentFolderError, match=r"tensor 0.weight views a storage of 16,777,216 bytes, not its own 64"):
        load_agent(folder)


def test_storages_over_the_model_limit_are_refused_from_the_archive_s_directory(
    tiny_agent_folder, tmp_path, monkeypatch
):
    import rl_core.artifacts.storage as storage

    monkeypatch.setattr(storage, "MAX_MODEL_BYTES", 100)  # below the tiny model's own archive
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran before the check"))
    with pytest.raises(
        AgentFolderError, match=r"storages hold [\d,]+ bytes; the largest allowed network needs at most 100$"
    ):
        storage._check_model_archive(tiny_agent_folder / "model.pt")


@pytest.mark.parametrize("kind", ["sparse", "meta", "not a zip"])
def test_sparse_meta_or_non_archive_weights_are_one_line_refusals(kind, tiny_agent_folder, tmp_path):
    state = own_state(tiny_agent_folder)
    if kind == "sparse":
        state["0.weight"] = state["0.weight"].to_sparse()
        folder, needle = with_model(tiny_agent_folder, tmp_path / kind, state), "tensor 0.weight is a torch.sparse_coo"
    elif kind == "meta":
        state["0.bias"] = torch.empty_like(state["0.bias"], device="meta")
        folder, needle = with_model(tiny_agent_folder, tmp_path / kind, state), "tensor 0.bias is a meta tensor"
    else:
        folder, needle = (
            with_model(tiny_agent_folder, tmp_path / kind, raw=b"\x80\x04not a zip"),
            "not a plain PyTorch state_dict (torch.save writes a zip archive",
        )
    with pytest.raises(AgentFolderError) as info:
        load_agent(folder)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_our_own_saved_and_pretrained_agents_still_load(tiny_agent_folder):
    load_agent(tiny_agent_folder)
    for folder in sorted((ROOT / "pretrained").iterdir()):
        if (folder / "model.pt").is_file():
            load_agent(folder)


# --- a full disk or a read-only store: one line, nothing left behind -----------------------------


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_first_login_on_a_full_disk_keeps_no_half_record_and_raises_nothing(runs_dir, monkeypatch):
    from rl_core.classroom.ownership import display_name, remember_user

    real_write = Path.write_text

    def write_then_fail(self, *args, **kwargs):
        real_write(self, "{")  # the half a full disk lets through
        disk_full()

    monkeypatch.setattr(Path, "write_text", write_then_fail)
    remember_user(ALICE)
    monkeypatch.undo()
    leftovers = [p.name for p in runs_dir.rglob("*") if p.is_file()]
    assert leftovers == [] and display_name(ALICE.id) == ALICE.id


def test_start_on_a_full_disk_says_so_in_one_line(runs_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import rl_core.classroom.ownership as ownership

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/train.py").run()
    monkeypatch.setattr(ownership, "claim_folder", disk_full)
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (message,) = [e.value for e in at.error if "Cannot start" in e.value]
    assert "No space left on device" in message and "\n" not in message
    assert {p.name for p in runs_dir.iterdir()} <= STORE_FOLDERS | {".engine", ".store-id"}


def test_an_upload_is_labelled_with_the_app_s_own_evaluation_not_its_claim(tiny_agent_folder, tmp_path):
    from rl_core.artifacts.zips import UPLOAD_EVALUATION_EPISODES, agent_zip_bytes, import_agent_zip
    from rl_core.learning.evaluation import evaluate
    from rl_core.learning.training import saved_weights_evaluation

    boasting = tmp_path / "boasting"
    shutil.copytree(tiny_agent_folder, boasting)
    claim = {"episodes": 100, "seed": 0, "mean": 500.0, "std": 0.0, "min": 500.0, "max": 500.0, "solved_share": 1.0}
    (boasting / "metrics.json").write_text(json.dumps({"episodes": 1, "final_evaluation": claim}))
    imported = import_agent_zip(agent_zip_bytes(boasting), tmp_path / "uploads", "uploaded-boasting")
    metrics = json.loads((imported / "metrics.json").read_text())
    own = evaluate(load_agent(imported).agent, "CartPole-v1", n_episodes=UPLOAD_EVALUATION_EPISODES, seed=0)
    shown = saved_weights_evaluation(metrics)
    assert shown is not None and shown["mean"] == pytest.approx(own.mean) and own.mean < 100
    assert shown["by"] == "Q-Lab at upload" and metrics["uploaded_claim"] == {"mean": 500.0}
    assert metrics["episodes"] == 1  # the rest of what it says about its training is kept
