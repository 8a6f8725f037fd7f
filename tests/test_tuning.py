import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import optuna
import pytest

from rl_core.artifacts.storage import load_agent
from rl_core.cli import main
from rl_core.compute.jobs import TrainingTask
from rl_core.compute.studies import (
    COURSE_SPACE,
    ParamSpec,
    TuningSetup,
    open_storage,
    parse_seed_list,
    storage_description,
)
from rl_core.compute.tuning import SeedsJob, ordered_rows, run_study, seed_sensitivity, summarise_seeds
from rl_core.compute.workers import Progress
from rl_core.presets import preset

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "nn_hidden_layers": [8],
    "n_steps_warm_up_memory": 32,
    "batch_size": 16,
    "eval_every_episodes": 2,
    "eval_episodes": 2,
    "memory_size": 1000,
}
TINY_SET = [arg for k, v in TINY.items() for arg in ("--set", f"{k}={json.dumps(v)}")]


def tiny_setup(name, storage_url, **changes):
    return TuningSetup(
        study_name=name,
        storage_url=storage_url,
        base_preset="deep-fast",
        space={
            "learning_rate": ParamSpec("loguniform", 1e-4, 1e-2),
            "discount_factor": COURSE_SPACE["discount_factor"],
        },
        episodes=4,
        eval_episodes=3,
        target=None,
        fixed=TINY,
        **changes,
    )


def test_a_tiny_study_completes_and_saves_every_trials_agent(runs_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    summary = run_study(tiny_setup("tiny", url), n_trials=3, workers=2)
    assert summary["trials_run"] == 3 and summary["workers"] == 2
    study = optuna.load_study(study_name="tiny", storage=url)
    assert len(study.trials) == 3
    for trial in study.trials:
        agent_path = Path(trial.user_attrs["agent_path"])
        assert agent_path.parent == runs_dir / "tuning" / "tiny"
        assert load_agent(agent_path).agent.config.learning_rate == pytest.approx(trial.params["learning_rate"])
    assert summary["best"]["value"] == max(t.value for t in study.trials if t.value is not None)


def test_the_study_stops_once_the_target_is_reached(runs_dir, tmp_path):
    setup = tiny_setup(
        "target",
        f"sqlite:///{tmp_path / 's.db'}",
    )
    setup.target = 1.0  # any trial reaches it
    summary = run_study(setup, n_trials=5)
    assert summary["trials_run"] == 1 and summary["target_reached"]


def _worker(url, study, trials, runs):
    env = {**os.environ, "QLAB_RUNS_DIR": str(runs), "SDL_VIDEODRIVER": "dummy"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rl_core",
            "tune",
            "--study",
            study,
            "--storage",
            url,
            "--trials",
            str(trials),
            "--episodes",
            "4",
            "--eval-episodes",
            "3",
            "--target",
            "1000",  # the largest target allowed: a CartPole reward never reaches it
            "--params",
            "learning_rate,discount_factor",
            "--quiet",
            *TINY_SET,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _two_workers_share(url, study, tmp_path):
    workers = [_worker(url, study, 2, tmp_path / "runs") for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1] for o in outputs]
    numbers = [json.loads(o[0].strip().splitlines()[-1])["trial_numbers"] for o in outputs]
    assert len(numbers[0]) == len(numbers[1]) == 2
    assert not set(numbers[0]) & set(numbers[1])  # each worker ran trials of its own
    trials = optuna.load_study(study_name=study, storage=url).trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]


def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    _two_workers_share(f"sqlite:///{tmp_path / 'shared.db'}", "shared", tmp_path)


POSTGRES_URL = os.environ.get("QLAB_TEST_POSTGRES_URL")


@pytest.mark.skipif(
    not POSTGRES_URL and os.environ.get("CI") != "true",
    reason="QLAB_TEST_POSTGRES_URL not set (.ci/run starts a PostgreSQL server)",
)
def test_two_workers_share_a_study_in_postgresql(tmp_path):
    assert POSTGRES_URL, "under CI, .ci/run must start PostgreSQL and set QLAB_TEST_POSTGRES_URL"
    study = f"pg-{os.getpid()}-{tmp_path.name}"[:60]
    _two_workers_share(POSTGRES_URL, study, tmp_path)
    optuna.delete_study(study_name=study, storage=POSTGRES_URL)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (
            ["tune", "--study", "x", "--storage", "nonsense://nowhere", "--trials", "1"],
            "storage 'nonsense://nowhere' cannot be used",
        ),
        (["tune", "--study", "x", "--params", ",", "--trials", "1"], "search space is empty"),
        (
            ["tune", "--study", "x", "--params", "colour", "--trials", "1"],
            "'colour' is not in the focused search space",
        ),
        (["seeds", "--seeds", "a-b"], "seeds must look like 0-9"),
    ],
)
def test_bad_tuning_arguments_exit_2_with_one_line(argv, needle, capsys, runs_dir):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="learning_rate needs low < high"):
        TuningSetup("s", space={"learning_rate": ParamSpec("loguniform", 1e-2, 1e-4)}).check()
    with pytest.raises(ValueError, match="log-uniform, so low must be > 0"):
        TuningSetup("s", space={"learning_rate": ParamSpec("loguniform", 0, 1e-4)}).check()
    with pytest.raises(ValueError, match="storage 'postgresql://"):
        open_storage("postgresql://nobody@127.0.0.1:1/none")


def test_a_storage_password_is_never_shown(monkeypatch, tmp_path):
    url = "postgresql://qlab:s3cret-pw@127.0.0.1:1/qlab"
    with pytest.raises(ValueError) as refused:
        open_storage(url)
    assert "s3cret-pw" not in str(refused.value) and "postgresql://qlab:***@127.0.0.1:1/qlab" in str(refused.value)
    monkeypatch.setenv("QLAB_OPTUNA_STORAGE", url)
    assert storage_description() == "the database `postgresql://qlab:***@127.0.0.1:1/qlab`"
    monkeypatch.delenv("QLAB_OPTUNA_STORAGE")
    monkeypatch.setenv("QLAB_RUNS_DIR", str(tmp_path))
    assert storage_description() == "a SQLite file under the runs folder"


def test_seed_list_parsing():
    assert parse_seed_list("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError):
        parse_seed_list("")


def test_seed_sensitivity_on_ray_workers():
    config = preset("deep-fast", n_episodes=3, **TINY)
    summary = seed_sensitivity(config, [0, 1, 2], workers=2, eval_episodes=3)
    assert summary["seeds"] == [0, 1, 2] and summary["workers"] == 2
    means = summary["means"]
    assert [r["seed"] for r in summary["rows"]] == [0, 1, 2] and [r["mean"] for r in summary["rows"]] == means
    assert len(set(means)) > 1  # each process trained its own seed
    # a worker process gives exactly what the same seed gives here (same seed, same run)
    in_process = TrainingTask(replace(config, seed=1), save=False, final_eval_episodes=3, snapshots=False)
    assert in_process.run(Progress(), threading.Event()).final_evaluation["mean"] == means[1]
    assert summary["mean_of_means"] == pytest.approx(sum(means) / 3)
    assert (summary["min"], summary["max"]) == (min(means), max(means))
    assert summary["solved_share"] == sum(m >= 475 for m in means) / 3


def test_cli_seeds_prints_json(capsys):
    code = main(["seeds", "--seeds", "0-1", "--episodes", "2", "--eval-episodes", "2", "--workers", "2", *TINY_SET])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result["seeds"] == [0, 1] and len(result["means"]) == 2 and "solved_share" in result


def test_pruning_can_be_turned_off(tmp_path):
    from rl_core.compute.studies import load_or_create_study

    url = f"sqlite:///{tmp_path / 'p.db'}"

    def lagging_trial_is_pruned(study, step):
        """Three finished trials at 100, then one reporting 1 at ``step``: does the pruner stop it?"""
        for _ in range(3):
            trial = study.ask()
            trial.report(100.0, step=step)
            study.tell(trial, 100.0)
        lagging = study.ask()
        lagging.report(1.0, step=step)
        return lagging.should_prune()

    assert lagging_trial_is_pruned(load_or_create_study(tiny_setup("a", url)), step=150)
    # judged only after 100 episodes: a late bloomer is not cut early
    assert not lagging_trial_is_pruned(load_or_create_study(tiny_setup("b", url)), step=50)
    assert not lagging_trial_is_pruned(load_or_create_study(tiny_setup("c", url, prune=False)), step=150)


def test_studies_are_listed_newest_first_with_who_ran_them(tmp_path):
    from rl_core.compute.studies import StudyInfo, list_studies, load_or_create_study, record_study_setup

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    older = TuningSetup("older", storage_url=url)
    record_study_setup(load_or_create_study(older), older, owner="alice")
    newer = load_or_create_study(TuningSetup("newer", storage_url=url))  # made elsewhere: no setup recorded
    newer.enqueue_trial({})
    newer.tell(newer.ask(), 42.0)
    assert list_studies(url) == [
        StudyInfo(name="newer", owner="", base_preset=None, n_trials=1, best_value=42.0),
        StudyInfo(name="older", owner="alice", base_preset="deep-fast", n_trials=0, best_value=None),
    ]


# --- seed sweep rows in the order the seeds were asked for ------------------------------------------


def seed_row(seed: int, mean: float) -> dict:
    return {"seed": seed, "mean": mean, "std": 0.0, "solved_share": 0.0, "train_seconds": 1.0, "episodes": 3}


def test_seed_rows_are_listed_as_asked_whatever_order_they_finished_in():
    asked = [5, 3, 9, 1]  # not sorted: the order asked for is the order shown
    finished = [seed_row(9, 90.0), seed_row(1, 10.0), seed_row(5, 50.0), seed_row(3, 30.0)]
    assert [r["seed"] for r in ordered_rows(finished, asked)] == asked
    summary = summarise_seeds(finished, solved_at=40.0, workers=2, seconds=1.0, seeds=asked)
    assert summary["seeds"] == asked and summary["means"] == [50.0, 30.0, 90.0, 10.0]
    assert [r["seed"] for r in summary["rows"]] == asked
    assert summary["solved_share"] == 0.5 and summary["min"] == 10.0
    # half done: the finished ones in asked order; a seed asked twice keeps both rows; none is dropped
    assert [r["seed"] for r in ordered_rows([seed_row(1, 1), seed_row(5, 5)], asked)] == [5, 1]
    twice = ordered_rows([seed_row(2, 1.0), seed_row(7, 0.0), seed_row(2, 2.0)], [2, 7, 2])
    assert [(r["seed"], r["mean"]) for r in twice] == [(2, 1.0), (2, 2.0), (7, 0.0)]
    assert [r["seed"] for r in ordered_rows([seed_row(8, 0), seed_row(5, 0)], asked)] == [5, 8]


class FinishesWhenTold:
    """A stand-in for a Ray worker's handle: its training ends when the test says so."""

    finished_seeds: set[int] = set()

    def __init__(self, task, hub):
        self.seed = task.config.seed

    def poll(self):
        from rl_core.compute.jobs import TrainingOutcome
        from rl_core.compute.workers import WorkerUpdate

        if self.seed not in self.finished_seeds:
            return WorkerUpdate()
        evaluation = {"mean": 100.0 + self.seed, "std": 0.0, "solved_share": 0.0}
        outcome = TrainingOutcome("finished", "", 1.0, 10, 3, None, final_evaluation=evaluation)
        return WorkerUpdate(finished=True, outcome=outcome)

    def cancel(self):
        pass


def test_a_seed_sweep_shows_its_seeds_as_asked_when_workers_finish_out_of_order(monkeypatch):
    import types

    import rl_core.compute.tuning

    monkeypatch.setattr(rl_core.compute.tuning, "WorkerHandle", FinishesWhenTold)
    monkeypatch.setattr(FinishesWhenTold, "finished_seeds", set())
    job = SeedsJob("someone", preset("deep-fast", n_episodes=3, **TINY), [4, 2, 7], eval_episodes=3, workers=3)
    job.registry = types.SimpleNamespace(hub=object())  # type: ignore[assignment]
    job.start()
    for seed in (7, 4, 2):  # the last seed asked finishes first, the first one next
        FinishesWhenTold.finished_seeds.add(seed)
        job.poll()
        shown = [r["seed"] for r in job.snapshot().rows]
        assert shown == [s for s in [4, 2, 7] if s in FinishesWhenTold.finished_seeds], shown
    snapshot = job.snapshot()
    assert snapshot.state == "finished" and snapshot.seeds == [4, 2, 7]
    assert snapshot.summary["seeds"] == [4, 2, 7] and snapshot.summary["means"] == [104.0, 102.0, 107.0]
