"""Issue 11's library side: who owns what, what each user sees and may change, names, quotas, the board."""

import io
import json
import zipfile
from pathlib import Path

import pytest

from rl_core.artifacts.folders import AgentFolderError, rename_agent
from rl_core.artifacts.storage import list_agents, load_agent, save_agent
from rl_core.artifacts.zips import agent_zip_bytes, import_agent_zip
from rl_core.classroom import board, ownership
from rl_core.classroom.ownership import (
    LOCAL_USER,
    OwnershipError,
    QuotaError,
    User,
    active_job_limit,
    can_manage,
    can_view_study,
    check_new_run,
    check_seeds,
    check_trials,
    check_upload,
    delete_run,
    display_name,
    instructors_from,
    manageable_runs,
    read_owner,
    record_owner,
    remember_user,
    rename_run,
    share_run,
    study_label,
    study_name_for,
    upload_dir,
    user_from_claims,
    visible_agents,
)
from rl_core.compute.registry import JobRegistry
from rl_core.config import AgentConfig, ClassQuotas
from rl_core.learning.agent import QAgent
from rl_core.presets import preset

ALICE = User("alice-sub", "Alice", "alice@school.edu", class_mode=True)
BOB = User("bob-sub", "Bob", "bob@school.edu", class_mode=True)
TEACHER = User("teacher-sub", "Ms T", "t@school.edu", is_instructor=True, class_mode=True)


def saved_run(root: Path, name: str, owner: User | None = None, **metrics) -> Path:
    folder = save_agent(QAgent(AgentConfig(nn_hidden_layers=[4])), root / name, metrics={"episodes": 1, **metrics})
    if owner is not None:
        record_owner(folder, owner)
    return folder


def names(entries) -> set[str]:
    return {e.name for e in entries}


def test_identity_from_oidc_claims_and_the_instructors_setting():
    instructors = instructors_from(["T@School.edu"], env={"QLAB_INSTRUCTORS": "admin-sub, other@x.org"})
    assert instructors == {"t@school.edu", "admin-sub", "other@x.org"}
    teacher = user_from_claims({"sub": "123", "email": "t@school.edu", "name": "Ms T"}, instructors)
    assert teacher.is_instructor and teacher.class_mode and teacher.name == "Ms T" and teacher.id == "123"
    assert user_from_claims({"sub": "admin-sub"}, instructors).is_instructor  # listed by subject
    student = user_from_claims({"sub": "s1", "email": "s1@school.edu"}, instructors)
    assert not student.is_instructor and student.name == "s1@school.edu"
    # an email the provider says is unverified proves nothing
    assert not user_from_claims(
        {"sub": "x", "email": "t@school.edu", "email_verified": False}, instructors
    ).is_instructor
    with pytest.raises(ValueError, match="no subject"):
        user_from_claims({"email": "t@school.edu"}, instructors)
    # folder-safe keys that stay unique even when subjects differ only in unsafe characters
    assert User("a/b", "").key != User("a.b", "").key and "/" not in User("a/b", "").key


def test_a_user_sees_and_manages_only_their_own_until_shared(runs_dir):
    alices = saved_run(runs_dir, "alices-run", ALICE)
    bobs = saved_run(runs_dir, "bobs-run", BOB)
    cli_run = saved_run(runs_dir, "from-the-cli")  # no owner record: the local owner's
    assert names(manageable_runs(ALICE)) == {"alices-run"}
    assert "alices-run" not in names(visible_agents(BOB)) and "bobs-run" in names(visible_agents(BOB))
    assert "cartpole-deep-q" in names(visible_agents(BOB))  # pretrained agents are everyone's to use
    for action in (
        lambda: rename_run(BOB, alices, "mine-now"),
        lambda: delete_run(BOB, alices),
        lambda: share_run(BOB, alices, True),
    ):
        with pytest.raises(OwnershipError, match="belongs to alice-sub"):
            action()
    assert alices.is_dir() and not read_owner(alices).shared

    share_run(ALICE, alices, True)
    assert "alices-run" in names(visible_agents(BOB))  # visible now...
    assert not can_manage(BOB, alices)  # ...read-only
    with pytest.raises(OwnershipError):
        delete_run(BOB, alices)
    renamed = rename_run(ALICE, alices, "alices-best")
    assert read_owner(renamed) == ownership.OwnerRecord("alice-sub", shared=True)  # the record moves with it

    assert names(manageable_runs(TEACHER)) == {"alices-best", "bobs-run", "from-the-cli"}
    assert not can_manage(ALICE, cli_run)
    delete_run(TEACHER, renamed)
    assert not renamed.exists() and bobs.is_dir()
    # local mode: one user who owns everything
    assert names(manageable_runs(LOCAL_USER)) == {"bobs-run", "from-the-cli"}


def test_display_names_come_from_the_last_login(runs_dir):
    assert display_name("alice-sub") == "alice-sub"
    remember_user(ALICE)
    assert display_name("alice-sub") == "Alice"


def test_saving_over_a_reserved_folder_keeps_its_owner(runs_dir):
    folder = ownership.reserve_run(runs_dir, "my run", ALICE)
    assert folder.name == "my-run" and read_owner(folder).owner == "alice-sub"
    assert list_agents([runs_dir]) == []  # a reservation is no agent yet
    saved_run(runs_dir, "my-run")
    assert read_owner(folder).owner == "alice-sub"
    ownership.release_reservation(folder)  # holds an agent now: kept
    assert folder.is_dir()
    empty = ownership.reserve_run(runs_dir, "never-saved", ALICE)
    ownership.release_reservation(empty)
    assert not empty.exists()


def slow_config(**changes) -> AgentConfig:
    return preset(
        "deep-fast",
        **{"nn_hidden_layers": [8], "n_episodes": 100_000, "stop_at_reward": None, "eval_every_episodes": 0, **changes},
    )


def test_a_rename_cannot_take_a_queued_jobs_name(runs_dir):
    """The race of the issue: a name reserved by a queued job, and a run renamed to it meanwhile."""
    registry = JobRegistry(capacity=1, out_dir=runs_dir)
    blocker = registry.submit("alice-sub", slow_config(), name="blocker")
    queued = registry.submit(
        "alice-sub", slow_config(n_episodes=2, n_steps_warm_up_memory=32, batch_size=16), name="contested"
    )
    try:
        assert registry.snapshot(queued).state == "queued"
        bobs = saved_run(runs_dir, "bobs-run", BOB, episodes=999)
        with pytest.raises(AgentFolderError, match="already exists"):
            rename_run(BOB, bobs, "contested")
        # an upload named like it goes beside it, never onto it
        uploaded = import_agent_zip(agent_zip_bytes(bobs), runs_dir, name="contested")
        assert uploaded.name == "contested-2"
    finally:
        registry.stop(blocker)
    final = registry.wait(queued, timeout=120)
    assert final.state == "finished" and final.saved_path == runs_dir / "contested"
    assert json.loads((runs_dir / "bobs-run" / "metrics.json").read_text())["episodes"] == 999
    assert json.loads((runs_dir / "contested" / "metrics.json").read_text())["episodes"] == 2
    assert read_owner(runs_dir / "contested").owner == "alice-sub"
    # and a job submitted under a taken name gets a new one
    again = registry.submit(
        "bob-sub", slow_config(n_episodes=1, n_steps_warm_up_memory=32, batch_size=16), name="bobs-run"
    )
    assert registry.snapshot(again).name == "bobs-run-2"
    registry.wait(again, timeout=120)
    assert json.loads((runs_dir / "bobs-run" / "metrics.json").read_text())["episodes"] == 999


def test_a_rename_never_replaces_an_empty_folder(runs_dir):
    run = saved_run(runs_dir, "a")
    (runs_dir / "b").mkdir()  # os.rename would silently replace an empty directory
    with pytest.raises(AgentFolderError, match="already exists"):
        rename_agent(run, "b")
    assert run.is_dir()


def poisoned_zip(runs_dir: Path) -> bytes:
    folder = saved_run(runs_dir / "scratch", "poison")
    (folder / "metrics.json").write_text(
        json.dumps(
            {"final_evaluation": 5, "best_evaluation": "x", "evaluations": [1, {"mean": "?"}], "seconds": "slow"}
        )
    )
    buffer = io.BytesIO(agent_zip_bytes(folder))
    assert zipfile.ZipFile(buffer).namelist()
    return buffer.getvalue()


def test_a_poisoned_upload_is_refused_and_a_poisoned_run_breaks_no_listing(runs_dir):
    with pytest.raises(AgentFolderError, match="metrics.json: .* must be"):
        import_agent_zip(poisoned_zip(runs_dir), upload_dir(ALICE), name="uploaded-poison")
    assert not (upload_dir(ALICE) / "uploaded-poison").exists()
    # a metrics.json spoiled on disk (by hand, or by an older version) still lists, with no metrics,
    # for its owner only; loading it says which file is wrong
    path = saved_run(upload_dir(ALICE), "planted")
    record_owner(path, ALICE)
    (path / "metrics.json").write_text(json.dumps({"best_evaluation": "x", "seconds": "slow"}))
    assert "planted" not in names(visible_agents(BOB))
    mine = {e.name: e for e in visible_agents(ALICE)}
    assert mine["planted"].metrics == {}
    with pytest.raises(AgentFolderError, match="metrics.json"):
        load_agent(path)
    assert names(manageable_runs(ALICE)) == {"planted"}
    delete_run(ALICE, path)
    assert not path.exists()


def test_class_quotas(runs_dir, monkeypatch):
    monkeypatch.setattr(
        ownership,
        "CLASS_QUOTAS",
        ClassQuotas(
            runs_per_user=2,
            uploads_per_user=1,
            upload_bytes=100,
            active_jobs_per_user=1,
            trials_per_study=5,
            seeds_per_sweep=3,
        ),
    )
    saved_run(runs_dir, "one", ALICE)
    check_new_run(ALICE)
    ownership.reserve_run(runs_dir, "queued-job", ALICE)  # a queued job's run counts too
    with pytest.raises(QuotaError, match="you keep 2 runs, the class limit: delete one on the Runs page"):
        check_new_run(ALICE)
    check_new_run(BOB)
    with pytest.raises(QuotaError, match="over the class limit of 100 bytes"):
        check_upload(BOB, 101)
    check_upload(BOB, 100)
    (upload_dir(BOB) / "up").mkdir(parents=True)
    with pytest.raises(QuotaError, match="you keep 1 uploaded agents"):
        check_upload(BOB, 10)
    assert active_job_limit(BOB) == 1  # the registry enforces it (tests/test_jobs.py)
    with pytest.raises(QuotaError, match="at most 5 trials per study"):
        check_trials(BOB, 6)
    with pytest.raises(QuotaError, match="at most 3 seeds per sweep"):
        check_seeds(BOB, 4)
    for free in (LOCAL_USER, TEACHER):  # no quotas locally, nor for instructors
        assert active_job_limit(free) is None
        check_trials(free, 100)
        check_new_run(free)


def test_studies_have_a_namespace_per_user():
    assert study_name_for(ALICE, "cartpole") != study_name_for(BOB, "cartpole")
    assert study_name_for(ALICE, " cartpole ").endswith(".cartpole")
    assert study_name_for(LOCAL_USER, "cartpole") == "cartpole"


def test_tensorboard_logs_record_their_owner(runs_dir):
    pytest.importorskip("tensorboard")
    registry = JobRegistry(capacity=1, out_dir=runs_dir)
    job = registry.submit(
        "alice-sub",
        slow_config(n_episodes=2, n_steps_warm_up_memory=32, batch_size=16),
        name="logged",
        tensorboard=True,
    )
    registry.wait(job, timeout=120)
    assert read_owner(runs_dir / "tensorboard" / "logged").owner == "alice-sub"


def test_the_board_ranks_by_a_fresh_cached_evaluation(runs_dir, monkeypatch):
    good = saved_run(runs_dir, "good", ALICE, best_evaluation={"episode": 1, "mean": 10.0, "std": 0.0}, seconds=5.0)
    # its best moment lies
    bad = saved_run(runs_dir, "bad", BOB, best_evaluation={"episode": 1, "mean": 500.0, "std": 0.0}, seconds=1.0)
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / "hparams.json").write_text("{}")
    fresh = {good: 120.0, bad: 30.0}
    calls = []

    def fake_evaluate(agent, env_id, n_episodes, seed):
        calls.append(n_episodes)
        mean = 120.0 if len(calls) == 1 else 30.0
        return type("R", (), {"mean": mean, "std": 1.0, "min": mean, "max": mean, "solved_share": 0.0})()

    monkeypatch.setattr(board, "evaluate", fake_evaluate)
    entries = [e for e in list_agents([runs_dir])]
    errors = []
    rows = board.board_rows(
        sorted(entries, key=lambda e: e.name != "good"),
        owner_of=lambda p: read_owner(p).owner,
        on_error=lambda e, exc: errors.append(e.name),
    )
    assert [(r.rank, r.name, r.owner) for r in rows] == [(1, "good", "alice-sub"), (2, "bad", "bob-sub")]
    assert rows[0].evaluation.mean == fresh[good] and calls == [1000, 1000]
    assert errors == ["broken"]
    again = board.board_rows(entries, owner_of=str)
    assert [r.name for r in again] == ["good", "bad"] and calls == [1000, 1000]  # from the cache
    saved_run(runs_dir, "good", ALICE)  # new weights: evaluated again
    board.board_rows(entries, owner_of=str)
    assert len(calls) == 3
    table = board.board_table(rows)
    assert table[0]["mean reward"] == "120.0" and table[0]["owner"] == "alice-sub"


def test_setup_label_names_the_preset_or_what_differs():
    assert board.setup_label(preset("deep-fast", seed=9, eval_episodes=100)) == "deep-fast"
    assert board.setup_label(preset("deep-fast", learning_rate=0.01)) == "custom (from deep-fast: learning_rate)"


def test_who_is_training_now(runs_dir):
    remember_user(ALICE)
    registry = JobRegistry(capacity=1, out_dir=runs_dir)
    running = registry.submit("alice-sub", slow_config(), name="long")
    waiting = registry.submit("bob-sub", slow_config(), name="next")
    try:
        deadline = __import__("time").time() + 60
        while registry.snapshot(running).episode < 1 and __import__("time").time() < deadline:
            __import__("time").sleep(0.1)
        rows = board.training_now([registry.snapshot(running), registry.snapshot(waiting)], owner_name=display_name)
        assert [(r["who"], r["run"], r["state"]) for r in rows] == [
            ("Alice", "long", "running"),
            ("bob-sub", "next", "queued (1)"),
        ]
        assert 0 < rows[0]["progress"] < 1 and rows[1]["progress"] == 0
    finally:
        registry.stop(running)
        registry.stop(waiting)
    registry.wait(running, timeout=60)
    assert board.training_now([registry.snapshot(running)], owner_name=display_name) == []


def test_the_board_page_lists_shared_agents_only(runs_dir):
    from streamlit.testing.v1 import AppTest

    shared = saved_run(runs_dir, "shared-one")
    share_run(LOCAL_USER, shared, True)
    saved_run(runs_dir, "private-one")
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/board.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.table[0].value  # st.table renders Markdown: the page escapes every text cell
    assert list(table["agent"]) == ["shared\\-one"] and list(table["owner"]) == ["local"]
    at.button(key="board_replay_top").click().run()
    assert not at.exception and len(at.image) == 1  # the top agent's GIF, in one click
    second = saved_run(runs_dir, "shared-two")
    share_run(LOCAL_USER, second, True)
    at.run()
    assert len(at.table[0].value) == 2
    at.button(key="board_compare").click().run()  # the first two, by default
    assert not at.exception
    assert sorted(Path(p).name for p in at.session_state["compare_agents"]) == ["shared-one", "shared-two"]


def test_a_class_server_points_every_study_at_one_database(runs_dir, monkeypatch):
    from rl_core.compute.studies import default_storage_url

    assert default_storage_url() == f"sqlite:///{runs_dir / 'optuna.db'}"
    monkeypatch.setenv("QLAB_OPTUNA_STORAGE", "postgresql+psycopg://u:p@db/qlab")
    assert default_storage_url() == "postgresql+psycopg://u:p@db/qlab"


def test_the_board_page_shows_who_is_training_now(runs_dir):
    from streamlit.testing.v1 import AppTest

    from pages._ui import job_registry

    remember_user(ALICE)
    registry = job_registry()  # the app's own registry: AppTest runs the pages in this process
    job = registry.submit("alice-sub", slow_config(), name="live-one")
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
        at.run()
        at.switch_page("pages/board.py").run()
        assert not at.exception, [e.value for e in at.exception]
        live = at.dataframe[0].value
        assert list(live.index) == ["Alice"] and list(live["run"]) == ["live-one"]
        at.session_state["presentation"] = True  # projected: a plain table in the room's large type
        at.run()
        assert not at.dataframe and list(at.table[-1].value["run"]) == ["live\\-one"]  # escaped for Markdown
    finally:
        registry.stop(job)
    registry.wait(job, timeout=60)


def test_who_sees_which_study_and_how_it_is_named(runs_dir):
    remember_user(BOB)
    alices, bobs = study_name_for(ALICE, "search"), study_name_for(BOB, "search")
    assert (can_view_study(ALICE, alices), can_view_study(ALICE, bobs)) == (True, False)
    assert can_view_study(TEACHER, alices) and can_view_study(TEACHER, "made-by-the-cli")
    assert can_view_study(LOCAL_USER, "anything")
    assert study_label(ALICE, alices, ALICE.id) == "search"
    assert study_label(TEACHER, bobs, BOB.id) == "Bob / search"
    assert study_label(TEACHER, "made-by-the-cli", "") == "made-by-the-cli"


def test_the_live_table_ranks_running_trainings_by_their_best_evaluation():
    from types import SimpleNamespace as Snap

    config = AgentConfig(n_episodes=100)

    def snap(name, state, means=(), position=None):
        evaluations = [Snap(mean=m) for m in means]
        return Snap(owner=name, name=name, state=state, config=config, evaluations=evaluations,
                    episode=10, seconds=5.0, queue_position=position)  # fmt: skip

    rows = board.training_now(
        [
            snap("slow", "running", [20.0, 30.0]),
            snap("late", "queued", position=2),
            snap("fresh", "running"),
            snap("best", "running", [100.0, 480.0]),
            snap("next", "queued", position=1),
            snap("done", "finished", [500.0]),
        ],
        owner_name=str,
    )
    assert [(r["rank"], r["who"]) for r in rows] == [
        ("1", "best"),
        ("2", "slow"),
        ("", "fresh"),
        ("", "next"),
        ("", "late"),
    ]


def test_a_display_name_in_markdown_is_shown_as_typed_on_the_board(runs_dir, monkeypatch):
    """st.table renders each cell as Markdown (seen in Chromium: a link became live, an image loaded):
    a student's display name must reach the board's table, caption and heading escaped."""
    from streamlit.testing.v1 import AppTest

    shared = saved_run(runs_dir, "eve-run")
    share_run(LOCAL_USER, shared, True)
    name = "Eve [win](http://evil.example/) ![t](http://evil.example/t.png)"
    monkeypatch.setattr(ownership, "display_name", lambda user_id: name)  # each run imports it anew

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/board.py").run()
    assert not at.exception, [e.value for e in at.exception]
    owner = at.table[0].value["owner"].iloc[0]
    assert "\\[" in owner and "\\]\\(" in owner and "\\!\\[" in owner
    assert owner.replace("\\", "") == name
    heading = next(m.value for m in at.markdown if "#1" in m.value)
    assert "](http" not in heading and "\\[win\\]" in heading


def test_in_class_mode_a_name_is_taken_only_by_ones_own_runs(runs_dir):
    """Issue 23, 11: another user's private run never shows through a "-2" or a refused rename."""
    from rl_core.classroom.ownership import run_space, user_runs

    registry = JobRegistry(capacity=2, out_dir=runs_dir)
    tiny = slow_config(n_episodes=1, n_steps_warm_up_memory=32, batch_size=16)
    alices = registry.submit(ALICE.id, tiny, name="good", space=run_space(ALICE))
    bobs = registry.submit(BOB.id, tiny, name="good", space=run_space(BOB), tensorboard=True)
    again = registry.submit(ALICE.id, tiny, name="good", space=run_space(ALICE))
    done = {job: registry.wait(job, timeout=120) for job in (alices, bobs, again)}
    assert [done[j].name for j in (alices, bobs, again)] == ["good", "good", "good-2"]  # only her own is a clash
    assert done[alices].saved_path == user_runs(ALICE) / "good" == runs_dir / "class" / ALICE.key / "good"
    assert done[bobs].saved_path == user_runs(BOB) / "good" and done[bobs].reserved == f"class/{BOB.key}/good"
    assert read_owner(runs_dir / "tensorboard" / "class" / BOB.key / "good").owner == BOB.id
    # Bob renames his run to the name of Alice's private one: no refusal tells him it exists
    assert rename_run(BOB, user_runs(BOB) / "good", "good-2") == user_runs(BOB) / "good-2"
    other = saved_run(user_runs(BOB), "other", BOB)
    with pytest.raises(AgentFolderError, match="already exists"):  # his own names still clash
        rename_run(BOB, other, "good-2")
    delete_run(BOB, other)
    assert names(manageable_runs(ALICE)) == {"good", "good-2"} and names(manageable_runs(BOB)) == {"good-2"}
    assert len(manageable_runs(TEACHER)) == 3
    assert {e.path for e in visible_agents(BOB) if e.source == "runs"} == {user_runs(BOB) / "good-2"}
    share_run(ALICE, user_runs(ALICE) / "good", True)
    assert user_runs(ALICE) / "good" in {e.path for e in visible_agents(BOB)}  # shared: listed for Bob
    assert len(ownership.owned_folders(ALICE)) == 2 and len(ownership.owned_folders(BOB)) == 1  # quotas count them
    delete_run(BOB, user_runs(BOB) / "good-2")
    with pytest.raises(OwnershipError):
        delete_run(BOB, user_runs(ALICE) / "good")
    assert run_space(LOCAL_USER) is None and user_runs(LOCAL_USER) == runs_dir  # local mode: as before


def test_a_users_runs_folder_is_a_folder_name_never_a_path(runs_dir):
    from rl_core.artifacts.folders import user_runs_dir

    registry = JobRegistry(capacity=1, out_dir=runs_dir)
    for bad in ("../elsewhere", "a/b", "", ".."):
        with pytest.raises(ValueError, match="is not a user's runs folder name"):
            registry.submit(ALICE.id, slow_config(), name="x", space=bad)
    assert user_runs_dir(runs_dir, "alice-1") == runs_dir / "class" / "alice-1"
    assert not list(runs_dir.rglob("owner.json"))  # nothing was reserved by the refused submissions


def test_reservations_left_in_a_users_runs_folder_are_released_at_start(runs_dir):
    import os
    import time

    from rl_core.classroom.ownership import release_orphans, reserve_run, user_runs

    left = reserve_run(user_runs(ALICE), "lost", ALICE)
    kept = saved_run(user_runs(ALICE), "kept", ALICE)
    old = time.time() - 3600
    for folder in (left, kept):
        os.utime(folder, (old, old))
    assert release_orphans(runs_dir) == [f"class/{ALICE.key}/lost"]
    assert not left.exists() and (kept / "model.pt").is_file()
