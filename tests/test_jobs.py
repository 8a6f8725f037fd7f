import time

import pytest

from rl_core.config import AgentConfig, ConfigError
from rl_core.jobs import JobRegistry, unique_run_name
from rl_core.storage import load_agent


def tiny(**changes):
    base = dict(nn_hidden_layers=[8], batch_size=8, memory_size=200, n_steps_warm_up_memory=8, n_episodes=3,
                eval_every_episodes=2, eval_episodes=2)
    return AgentConfig(**{**base, **changes})


def test_a_job_trains_in_the_background_and_saves_its_agent(tmp_path):
    registry = JobRegistry(max_running=1, out_dir=tmp_path)
    job_id = registry.submit("alice", tiny(), name="my run")
    snap = registry.wait(job_id, timeout=60)
    assert snap.state == "finished" and snap.episode == 3 and len(snap.evaluations) == 2
    assert snap.saved_path == tmp_path / "my-run"
    assert load_agent(snap.saved_path).metrics["episodes"] == 3


def test_stop_ends_a_job_and_keeps_what_it_learned(tmp_path):
    registry = JobRegistry(max_running=1, out_dir=tmp_path)
    job_id = registry.submit("alice", tiny(n_episodes=100_000))
    deadline = time.time() + 30
    while registry.snapshot(job_id).episode < 2 and time.time() < deadline:
        time.sleep(0.05)
    registry.stop(job_id)
    snap = registry.wait(job_id, timeout=30)
    assert snap.state == "stopped" and 2 <= snap.episode < 100_000
    assert snap.saved_path is not None and snap.saved_path.is_dir()


def test_jobs_beyond_the_cap_wait_in_a_queue(tmp_path):
    registry = JobRegistry(max_running=1, out_dir=tmp_path)
    first = registry.submit("alice", tiny(n_episodes=100_000))
    second = registry.submit("bob", tiny())
    third = registry.submit("carol", tiny())
    time.sleep(0.3)
    assert registry.snapshot(first).state == "running"
    assert registry.snapshot(second).state == "queued" and registry.snapshot(second).queue_position == 1
    assert registry.snapshot(third).queue_position == 2
    registry.stop(third)  # leaving the queue
    assert registry.wait(third, timeout=10).state == "stopped"
    registry.stop(first)
    assert registry.wait(second, timeout=60).state == "finished"
    assert registry.snapshot(third).saved_path is None


def test_a_sessions_jobs_stop_when_it_goes_away(tmp_path):
    registry = JobRegistry(max_running=2, out_dir=tmp_path)
    mine = [registry.submit("gone", tiny(n_episodes=100_000)) for _ in range(2)]
    other = registry.submit("stays", tiny(n_episodes=100_000))
    time.sleep(0.3)
    assert registry.stop_owner("gone") == 2
    assert all(registry.wait(j, timeout=30).state == "stopped" for j in mine)
    assert not registry.snapshot(other).done
    registry.stop(other)
    registry.wait(other, timeout=30)


def test_a_crash_in_the_thread_is_reported_not_raised(tmp_path, monkeypatch):
    import rl_core.jobs as jobs

    def explode(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(jobs, "train", explode)
    registry = JobRegistry(max_running=1, out_dir=tmp_path)
    snap = registry.wait(registry.submit("alice", tiny()), timeout=30)
    assert snap.state == "failed" and "simulated crash" in snap.message
    # the slot is free again for the next job
    monkeypatch.undo()
    assert registry.wait(registry.submit("alice", tiny()), timeout=60).state == "finished"


def test_invalid_configs_are_refused_at_submit(tmp_path):
    with pytest.raises(ConfigError, match="learning_rate"):
        JobRegistry(out_dir=tmp_path).submit("alice", tiny(learning_rate=0))


def test_run_names_are_safe_and_unique(tmp_path):
    (tmp_path / "run-a").mkdir()
    assert unique_run_name(tmp_path, "run a") == "run-a-2"
    assert unique_run_name(tmp_path, "../../etc") == "etc"
    assert unique_run_name(tmp_path, "x", taken={"x"}) == "x-2"
    registry = JobRegistry(max_running=2, out_dir=tmp_path)
    ids = [registry.submit("alice", tiny(), name="same") for _ in range(2)]
    names = {registry.wait(i, timeout=60).saved_path.name for i in ids}
    assert names == {"same", "same-2"}


def test_the_reaper_stops_jobs_of_sessions_that_are_gone(tmp_path):
    registry = JobRegistry(max_running=2, out_dir=tmp_path)
    alive = {"here": True, "gone": False}
    registry.start_reaper(lambda owner: alive[owner], interval=0.05, grace=0.2)
    gone = registry.submit("gone", tiny(n_episodes=100_000))
    here = registry.submit("here", tiny(n_episodes=100_000))
    assert registry.wait(gone, timeout=30).state == "stopped"
    assert not registry.snapshot(here).done
    registry.stop(here)
    registry.wait(here, timeout=30)
