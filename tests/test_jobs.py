"""Background jobs on Ray: queue, progress, stop, faults, reproducibility, reserved names.

One local Ray instance serves the whole test session (the engine starts it once per process).
"""

import os
import signal
import time

import pytest
import torch

from rl_core.artifacts.folders import RunNameError, claim_folder
from rl_core.artifacts.storage import load_agent, read_history
from rl_core.classroom.ownership import read_owner, reserve_run
from rl_core.compute.registry import JobLimitReached, JobRegistry
from rl_core.compute.workers import WORKER_DIED
from rl_core.config import AgentConfig, ConfigError


def tiny(**changes):
    base = dict(
        nn_hidden_layers=[8],
        batch_size=8,
        memory_size=200,
        n_steps_warm_up_memory=8,
        n_episodes=3,
        eval_every_episodes=2,
        eval_episodes=2,
    )
    return AgentConfig(**{**base, **changes})


def endless(**changes):
    return tiny(n_episodes=100_000, eval_every_episodes=0, **changes)


def until(predicate, timeout=60.0, what="the condition"):
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_job_trains_on_a_worker_process_and_its_agent_lands_in_the_runs_store(tmp_path):
    registry = JobRegistry(out_dir=tmp_path)
    job_id = registry.submit("alice", tiny(), name="my run")
    snap = registry.wait(job_id, timeout=120)
    assert snap.state == "finished", snap.message
    assert snap.saved_path == tmp_path / "my-run"
    assert snap.episode == 3 and len(snap.evaluations) == 2
    assert snap.worker["pid"] != os.getpid()  # trained in a Ray worker, not in this process
    assert read_owner(snap.saved_path).owner == "alice"  # the owner record survives the save
    loaded = load_agent(snap.saved_path, roots=[tmp_path])
    assert loaded.agent.config == tiny()
    assert len(read_history(snap.saved_path)) == 3
    assert snap.q_function is not None  # the final Q-function came back for the heatmap


def test_stop_ends_a_running_job_and_keeps_what_it_learned(tmp_path):
    registry = JobRegistry(out_dir=tmp_path)
    job_id = registry.submit("alice", endless())
    until(lambda: registry.snapshot(job_id).episode >= 2, what="two episodes")
    registry.stop(job_id)
    snap = registry.wait(job_id, timeout=30)
    assert snap.state == "stopped"
    assert snap.episode < 100_000 and snap.saved_path is not None
    assert len(read_history(snap.saved_path)) == snap.episode


def test_a_stop_pressed_while_the_job_is_being_started_still_reaches_its_worker(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, capacity=1)
    blocker = registry.submit("bob", endless())
    job_id = registry.submit("alice", endless())  # queued behind the blocker: patched before it starts
    job = registry.get(job_id)
    real_start = job.start

    def start_after_a_click():  # the click lands after dispatch, before the worker exists
        registry.stop(job_id)
        real_start()

    job.start = start_after_a_click
    registry.stop(blocker)
    snap = registry.wait(job_id, timeout=60)
    assert snap.state == "stopped", snap.message


def test_the_queue_is_first_come_first_served_and_shows_positions(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, capacity=1)
    first = registry.submit("alice", endless())
    second = registry.submit("bob", tiny())
    third = registry.submit("carol", tiny())
    until(lambda: registry.snapshot(first).state == "running", what="the first job to start")
    assert registry.snapshot(second).state == "queued" and registry.snapshot(second).queue_position == 1
    assert registry.snapshot(third).queue_position == 2
    third_folder = tmp_path / registry.snapshot(third).name
    assert third_folder.is_dir()  # reserved at submit
    registry.stop(third)  # leaving the queue
    assert registry.wait(third, timeout=10).state == "stopped"
    assert not third_folder.exists()  # the reservation is released
    assert registry.snapshot(second).queue_position == 1
    registry.stop(first)
    assert registry.wait(second, timeout=60).state == "finished"
    assert registry.snapshot(third).saved_path is None


def test_a_killed_worker_fails_its_job_frees_its_slot_and_the_next_job_runs(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, capacity=1)
    doomed = registry.submit("alice", endless())
    following = registry.submit("bob", tiny())
    worker = until(lambda: registry.snapshot(doomed).worker, what="the worker to report its pid")
    until(lambda: registry.snapshot(doomed).episode >= 1, what="an episode")
    os.kill(worker["pid"], signal.SIGKILL)
    snap = registry.wait(doomed, timeout=30)
    assert snap.state == "failed" and snap.message.startswith(WORKER_DIED), snap.message
    assert not (tmp_path / snap.name).exists()  # no half agent, no stale reservation
    assert registry.wait(following, timeout=60).state == "finished"


def test_two_concurrent_jobs_with_the_same_seed_give_identical_weights(tmp_path):
    registry = JobRegistry(out_dir=tmp_path)
    config = tiny(n_episodes=6, seed=11)
    ids = [registry.submit("alice", config) for _ in range(2)]
    snaps = [registry.wait(i, timeout=120) for i in ids]
    assert all(s.state == "finished" for s in snaps), [s.message for s in snaps]
    a, b = (torch.load(s.saved_path / "model.pt", weights_only=True) for s in snaps)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # and a different seed really gives different weights (the check above can fail)
    other = registry.wait(registry.submit("alice", tiny(n_episodes=6, seed=12)), timeout=120)
    c = torch.load(other.saved_path / "model.pt", weights_only=True)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_stop_with_eight_jobs_submitted_stops_every_one(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, max_active_per_owner=8)
    ids = [registry.submit(f"student{i % 4}", endless(seed=i)) for i in range(8)]
    until(lambda: sum(registry.snapshot(i).episode >= 1 for i in ids) >= 2, what="two jobs to be training")
    for job_id in ids:
        registry.stop(job_id)
    snaps = [registry.wait(i, timeout=30) for i in ids]
    assert [s.state for s in snaps] == ["stopped"] * 8
    started = [s for s in snaps if s.episode]
    assert len(started) >= 2 and all(s.saved_path is not None for s in started)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(s.saved_path.name for s in started)


def test_queue_caps_per_owner_and_overall_refuse_with_a_clear_message(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, capacity=1, max_active_per_owner=3, max_queued_total=4)
    running = registry.submit("alice", endless())
    until(lambda: registry.snapshot(running).state == "running", what="the first job to start")
    registry.submit("alice", tiny())
    registry.submit("alice", tiny())
    # one rule, pages and CLI alike: an owner's jobs waiting *or running*
    with pytest.raises(JobLimitReached, match="You have 3 jobs queued or running, the most allowed is 3"):
        registry.submit("alice", tiny())
    registry.submit("bob", tiny(), active_limit=1)  # a class quota of 1, lower than the registry's
    with pytest.raises(JobLimitReached, match="You have 1 jobs queued or running, the most allowed is 1"):
        registry.submit("bob", tiny(), active_limit=1)
    registry.submit("carol", tiny())
    with pytest.raises(JobLimitReached, match="queue is full"):
        registry.submit("dave", tiny())
    assert len([p for p in tmp_path.iterdir()]) == 5  # the refused ones reserved nothing
    for owner in ("alice", "bob", "carol"):
        registry.stop_owner(owner)


def test_a_finished_job_frees_its_owner_s_place(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, capacity=1, max_active_per_owner=1)
    first = registry.submit("dana", tiny())
    with pytest.raises(JobLimitReached, match="You have 1 jobs queued or running"):
        registry.submit("dana", tiny())
    assert registry.wait(first, timeout=240).state == "finished"
    second = registry.submit("dana", tiny())  # the finished one no longer counts
    assert registry.wait(second, timeout=240).state == "finished"


def test_a_name_is_reserved_on_disk_at_submit_and_never_replaces_another_folder(tmp_path):
    registry = JobRegistry(out_dir=tmp_path, capacity=1)
    blocker = registry.submit("alice", endless())
    queued = registry.submit("bob", tiny(), name="contested")
    folder = tmp_path / "contested"
    assert folder.is_dir() and read_owner(folder).owner == "bob" and not (folder / "hparams.json").exists()
    # a second job asking for the same name gets another folder
    second = registry.submit("carol", tiny(), name="contested")
    assert registry.snapshot(second).name == "contested-2"
    registry.stop(blocker)
    snap = registry.wait(queued, timeout=60)
    assert snap.state == "finished" and snap.saved_path == folder
    assert registry.wait(second, timeout=60).saved_path == tmp_path / "contested-2"


def test_an_agent_whose_folder_was_taken_meanwhile_goes_to_a_fresh_name(tmp_path):
    from rl_core.compute.jobs import install_agent_files

    folder = reserve_run(tmp_path, "race", owner="bob")
    (folder / "someone-elses.txt").write_text("keep me")  # the folder is no longer just our reservation
    saved = install_agent_files({"hparams.json": b"{}"}, folder)
    assert saved != folder and (folder / "someone-elses.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="unexpected file"):
        install_agent_files({"../evil.py": b""}, reserve_run(tmp_path, "x", owner="bob"))


def test_an_invalid_config_is_refused_before_queueing(tmp_path):
    with pytest.raises(ConfigError, match="learning_rate"):
        JobRegistry(out_dir=tmp_path).submit("alice", tiny(learning_rate=0))
    assert list(tmp_path.iterdir()) == []


def test_claimed_folders_are_safe_and_never_collide(tmp_path):
    (tmp_path / "a-run").mkdir()
    assert claim_folder(tmp_path, "a run") == tmp_path / "a-run-2"
    assert claim_folder(tmp_path, "a run", taken={"a-run-3"}) == tmp_path / "a-run-4"
    assert claim_folder(tmp_path, "../../etc") == tmp_path / "etc"
    with pytest.raises(RunNameError, match="no letters or digits"):
        claim_folder(tmp_path, "???")


def test_states_are_an_enum_and_every_job_kind_has_a_snapshot_type():
    import json

    from rl_core.compute.imitation_job import ImitationSnapshot
    from rl_core.compute.jobs import FINISHED_STATES, Job, JobSnapshot, JobState, SeedsSnapshot, Snapshot, StudySnapshot

    assert JobState.RUNNING == "running" and json.dumps({"state": JobState.SOLVED}) == '{"state": "solved"}'
    assert set(FINISHED_STATES) == set(JobState) - {JobState.QUEUED, JobState.RUNNING}
    job = Job("erin", name="any")
    assert job.state is JobState.QUEUED and not job.done
    with pytest.raises(ValueError, match="'finishd' is not a valid JobState"):
        job._set(state="finishd")  # a typo never becomes a state no reader knows
    job._set(state="stopped")
    assert job.state is JobState.STOPPED and job.done
    kinds = {
        cls: cls.__dataclass_fields__["kind"].default
        for cls in (JobSnapshot, ImitationSnapshot, StudySnapshot, SeedsSnapshot)
    }
    assert all(issubclass(cls, Snapshot) for cls in kinds) and sorted(kinds.values()) == [
        "imitation",
        "seeds",
        "training",
        "tuning",
    ]
    seeds = SeedsSnapshot(**{**job.status_fields(), "kind": "seeds"}, seeds=[1, 2])
    assert seeds.done and seeds.seeds == [1, 2] and seeds.state == "stopped"
