import json
import subprocess
import sys
from pathlib import Path

import pytest

from rl_core.cli import main

ROOT = Path(__file__).resolve().parent.parent
TINY = [
    "--set",
    "nn_hidden_layers=[16]",
    "--set",
    "n_steps_warm_up_memory=64",
    "--set",
    "batch_size=16",
    "--set",
    "eval_episodes=3",
    "--set",
    "eval_every_episodes=2",
]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli") / "agent"
    assert main(["train", "--preset", "deep-fast", "--seed", "3", "--episodes", "4", *TINY, "--out", str(folder)]) == 0
    return folder


def test_train_saves_the_folder_and_prints_a_summary(trained_folder, capsys):
    assert (trained_folder / "model.pt").is_file()
    metrics = json.loads((trained_folder / "metrics.json").read_text())
    assert metrics["seed"] == 3 and metrics["episodes"] == 4
    assert metrics["last_evaluation"]["episode"] == 4
    hparams = json.loads((trained_folder / "hparams.json").read_text())
    assert hparams["nn_hidden_layers"] == [16] and hparams["n_steps_warm_up_memory"] == 64


def test_train_summary_is_the_last_line(tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "train",
        "--preset",
        "linear-fast",
        "--episodes",
        "2",
        "--seed",
        "1",
        "--set",
        "normalizer_steps=200",
        "--out",
        str(tmp_path / "lin"),
    )
    summary = last_json(out)
    assert code == 0
    assert {"seed", "episodes", "env_steps", "seconds", "last_evaluation"} <= set(summary)
    assert summary["seed"] == 1 and summary["episodes"] == 2 and summary["saved_to"] == str(tmp_path / "lin")


def test_evaluate_prints_one_json_line(trained_folder, capsys):
    code, out, _ = run(capsys, "evaluate", str(trained_folder), "--episodes", "25", "--seed", "7")
    assert code == 0 and len(out.strip().splitlines()) == 1
    result = last_json(out)
    assert {"n_episodes", "mean", "std", "min", "max", "seconds", "rewards"} <= set(result)
    assert result["n_episodes"] == 25 and len(result["rewards"]) == 25
    assert result["min"] <= result["mean"] <= result["max"]


def test_baseline_is_the_random_agent(capsys):
    code, out, _ = run(capsys, "baseline", "--episodes", "200")
    result = last_json(out)
    assert code == 0 and result["agent"] == "random" and 15 < result["mean"] < 30


def test_baseline_on_another_env(capsys):
    code, out, _ = run(capsys, "baseline", "--env", "MountainCar-v0", "--episodes", "3")
    assert code == 0 and last_json(out)["mean"] == -200.0


def test_presets_lists_every_preset(capsys):
    code, out, _ = run(capsys, "presets")
    presets = json.loads(out)
    assert code == 0
    assert set(presets) == {"linear-bad", "linear-good", "deep-bad", "deep-good", "deep-fast", "linear-fast"}
    assert presets["deep-good"]["n_gradient_steps"] == 16


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["train", "--preset", "nope", "--out", "x"], "invalid choice: 'nope'"),
        (["train", "--out", "x", "--set", "learning_rate=-1"], "learning_rate must be a number in [1e-06, 1]"),
        (["train", "--out", "x", "--set", "bogus=1"], "unknown hyperparameter 'bogus'"),
        (["train", "--out", "x", "--set", "novalue"], "--set expects key=value"),
        (["train", "--out", "x", "--episodes", "0"], "expected an integer in [1, 100,000], got 0"),
        (["train", "--out", "x", "--seed", "-1"], "expected an integer in [0, 4,294,967,295], got -1"),
        (["train"], "the following arguments are required: --out"),
        (["evaluate", "/no/such/agent"], "not an agent folder"),
        (["evaluate", ".", "--epsilon", "3"], "expected a number in [0, 1]"),
        (["baseline", "--env", "Pong-v5"], "invalid choice: 'Pong-v5'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_bad_agent_folder_exits_2_naming_the_file(trained_folder, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(trained_folder, bad)
    (bad / "model.pt").write_bytes(b"\x80\x04garbage")
    code, _, err = run(capsys, "evaluate", str(bad))
    assert code == 2 and "model.pt" in err and len(err.strip().splitlines()) == 1


def test_module_entry_point_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "rl_core", "evaluate", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
