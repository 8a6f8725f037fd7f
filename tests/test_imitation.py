import json
import threading

import numpy as np
import pytest

from rl_core.artifacts.folders import PRETRAINED_DIR
from rl_core.artifacts.storage import load_agent
from rl_core.cli import main
from rl_core.compute.registry import JobRegistry
from rl_core.learning.evaluation import evaluate
from rl_core.learning.imitation import EpochRecord, evaluate_as_policy, expert_data, train_classifier

EXPERT_DIR = PRETRAINED_DIR / "cartpole-deep-q"


@pytest.fixture(scope="module")
def expert():
    return load_agent(EXPERT_DIR).agent


@pytest.fixture(scope="module")
def tables(expert):
    return expert_data(expert, "CartPole-v1", 600, seed=0), expert_data(expert, "CartPole-v1", 300, seed=1)


def test_data_is_reproducible_and_train_test_do_not_overlap(expert, tables):
    train, test = tables
    again = expert_data(expert, "CartPole-v1", 600, seed=0)
    assert train.equals(again)
    assert list(train.columns) == ["x", "v", "theta", "omega", "action", "episode"]
    assert len(train) == 600 and len(test) == 300
    features = ["x", "v", "theta", "omega"]
    train_states = {tuple(r) for r in train[features].to_numpy()}
    assert not any(tuple(r) in train_states for r in test[features].to_numpy())
    assert set(train["action"]) == {0, 1}
    # the rows are the expert's own greedy choices
    np.testing.assert_array_equal(expert.greedy_actions(train[features].to_numpy()), train["action"].to_numpy())


def test_a_model_learns_above_chance_and_reports_every_epoch(tables):
    seen = []
    result = train_classifier(*tables, hidden_layers=[32], epochs=8, callback=seen.append)
    assert [r.epoch for r in seen] == list(range(1, 9)) and all(isinstance(r, EpochRecord) for r in seen)
    assert result.test_acc > 0.6 and result.train_acc > 0.6
    assert result.parameters == 4 * 32 + 32 + 32 * 2 + 2


def test_linear_has_ten_parameters(tables):
    assert train_classifier(*tables, hidden_layers=[], epochs=1).parameters == 10


def test_the_stop_flag_ends_training(tables):
    stop = threading.Event()

    def stop_after_two(record):
        if record.epoch == 2:
            stop.set()

    result = train_classifier(*tables, hidden_layers=[16], epochs=100, callback=stop_after_two, stop_event=stop)
    assert result.stopped and len(result.epochs) == 2


class AlwaysLeft:
    def greedy_actions(self, states):
        return np.zeros(len(states), dtype=np.int64)


def test_the_classifier_plays_as_a_policy(tables):
    result = train_classifier(*tables, hidden_layers=[32], epochs=20)
    evaluation = evaluate_as_policy(result, n_episodes=20)
    # measured: 77% test accuracy and a mean of 146; always pushing left agrees with the expert about
    # half the time and falls in about 9 steps
    left = evaluate(AlwaysLeft(), "CartPole-v1", n_episodes=20)
    left_accuracy = float((tables[1]["action"] == 0).mean())
    assert left.mean < 20 and left_accuracy < 0.65
    assert result.test_acc > 0.7 > left_accuracy
    assert evaluation.n_episodes == 20 and evaluation.mean >= 100


def test_bad_arguments(tables):
    with pytest.raises(ValueError, match="epochs must be positive"):
        train_classifier(*tables, hidden_layers=[8], epochs=0)
    with pytest.raises(ValueError, match="widths must be positive"):
        train_classifier(*tables, hidden_layers=[0], epochs=1)


def test_imitation_job_runs_several_architectures_in_the_background(tables, tmp_path):
    from rl_core.compute.imitation_job import ImitationJob

    registry = JobRegistry(out_dir=tmp_path)
    job_id = registry.add(ImitationJob("alice", *tables, architectures=[[], [16]], epochs=3, eval_episodes=5))
    snap = registry.wait(job_id, timeout=120)
    assert snap.state == "finished"
    assert list(snap.curves) == ["linear", "[16]"] and all(len(c) == 3 for c in snap.curves.values())
    assert [r["architecture"] for r in snap.results] == ["linear", "[16]"]


def test_cli_imitate_prints_json(capsys):
    code = main(
        [
            "imitate",
            "--expert",
            str(EXPERT_DIR),
            "--rows",
            "300",
            "--test-rows",
            "200",
            "--hidden",
            "16",
            "--epochs",
            "3",
            "--eval-episodes",
            "5",
        ]
    )
    out, _ = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert code == 0
    assert {"parameters", "train_acc", "test_acc", "policy_mean_reward", "seconds"} <= set(result)
    assert result["parameters"] == 4 * 16 + 16 + 16 * 2 + 2


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["imitate", "--hidden", "a,b"], "--hidden must be integer widths such as 256,256"),
        (["imitate", "--expert", "/nope"], "not an agent folder"),
        (["imitate", "--epochs", "0"], "expected an integer in [1, 300], got 0"),
        (["imitate", "--hidden", "2048"], "--hidden: at most 4 widths, each in 1..1024"),
    ],
)
def test_cli_imitate_errors(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err
