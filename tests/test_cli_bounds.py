"""Every numeric flag of every subcommand at NaN, inf, 0, a negative and 10^30 (issue 22).

Out of range: exit code 2 and one line naming the flag, before any work (argument parsing fails
first, so these runs are fast and write nothing). In range (0 for a seed, a negative target...):
accepted, checked by parsing only, never by running the command.
"""

import argparse
import math
from pathlib import Path

import pytest

from rl_core.cli import BoundedType, build_parser, main
from rl_core.config import BOUNDS, CLI_BOUNDS, IMITATION_BOUNDS, RENDER_BOUNDS

ROOT = Path(__file__).resolve().parent.parent
AGENT = str(ROOT / "pretrained" / "cartpole-deep-q")

# Each numeric flag and the bound it must read, so that a flag losing its bound fails here.
EXPECTED_BOUNDS = {
    "train": {"--seed": BOUNDS["seed"], "--episodes": BOUNDS["n_episodes"], "--threads": CLI_BOUNDS["threads"]},
    "evaluate": {
        "--episodes": CLI_BOUNDS["eval_episodes"],
        "--seed": BOUNDS["seed"],
        "--epsilon": CLI_BOUNDS["epsilon"],
    },
    "baseline": {"--episodes": CLI_BOUNDS["eval_episodes"], "--seed": BOUNDS["seed"]},
    "render": {
        "--seed": BOUNDS["seed"],
        "--epsilon": CLI_BOUNDS["epsilon"],
        "--width": RENDER_BOUNDS["width"],
        "--speed": RENDER_BOUNDS["speed"],
        "--stride": RENDER_BOUNDS["stride"],
    },
    "imitate": {
        "--rows": IMITATION_BOUNDS["rows"],
        "--test-rows": IMITATION_BOUNDS["rows"],
        "--epochs": IMITATION_BOUNDS["epochs"],
        "--seed": BOUNDS["seed"],
        "--data-seed": BOUNDS["seed"],
        "--eval-episodes": IMITATION_BOUNDS["eval_episodes"],
        "--threads": CLI_BOUNDS["threads"],
    },
    "tune": {
        "--trials": CLI_BOUNDS["trials"],
        "--episodes": BOUNDS["n_episodes"],
        "--eval-episodes": CLI_BOUNDS["eval_episodes"],
        "--target": CLI_BOUNDS["target"],
        "--workers": CLI_BOUNDS["workers"],
    },
    "seeds": {
        "--episodes": BOUNDS["n_episodes"],
        "--eval-episodes": CLI_BOUNDS["eval_episodes"],
        "--workers": CLI_BOUNDS["workers"],
    },
    "presets": {},
    "engine": {},
}
# What each subcommand requires besides the flag under test ({out}: a folder of the test's own).
REQUIRED = {
    "train": ["--out", "{out}/agent"],
    "evaluate": [AGENT],
    "baseline": [],
    "render": [AGENT, "--out", "{out}/x.gif"],
    "imitate": [],
    "tune": ["--study", "s"],
    "seeds": [],
    "presets": [],
    "engine": ["status"],
}
VALUES = ["nan", "inf", "0", "-1", "1e30"]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def numeric_flags() -> list[tuple[str, str, BoundedType]]:
    """Every option of every subcommand that reads a number, from the parser itself."""
    found = []
    for command, sub in subparsers(build_parser()).items():
        for action in sub._actions:
            if action.option_strings and action.type is not None:
                assert isinstance(action.type, BoundedType), f"{command} {action.option_strings[0]}: no bound"
                found.append((command, action.option_strings[0], action.type))
    return found


def test_every_numeric_flag_reads_its_bound_from_the_config():
    assert set(subparsers(build_parser())) == set(EXPECTED_BOUNDS)
    flags = numeric_flags()
    assert {(c, f) for c, f, _ in flags} == {(c, f) for c, fs in EXPECTED_BOUNDS.items() for f in fs}
    for command, flag, kind in flags:
        assert kind.bound is EXPECTED_BOUNDS[command][flag], (command, flag)


def in_range(kind: BoundedType, text: str) -> bool:
    value = float(text)
    if kind.integer and not (math.isfinite(value) and text.lstrip("-").isdigit()):
        return False
    return kind.bound.contains(value)


CASES = [(c, f, v) for c, fs in EXPECTED_BOUNDS.items() for f in fs for v in VALUES]


@pytest.mark.parametrize("command,flag,text", CASES, ids=[f"{c} {f} {v}" for c, f, v in CASES])
def test_each_numeric_flag_at_nan_inf_zero_negative_and_huge(command, flag, text, tmp_path, capsys):
    kind = dict((f, k) for c, f, k in numeric_flags() if c == command)[flag]
    argv = [command, *(a.format(out=tmp_path) for a in REQUIRED[command]), flag, text]
    if in_range(kind, text):  # parse only: running the command would train, evaluate, render...
        parsed = build_parser().parse_args(argv)
        assert getattr(parsed, flag.lstrip("-").replace("-", "_")) == float(text)
        return
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert f"argument {flag}:" in err and kind.bound.describe() in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize(
    "command,flag,text",
    [
        ("render", "--speed", "0.05"),
        ("render", "--speed", "10"),
        ("render", "--stride", "100"),
        ("render", "--width", "16"),
        ("tune", "--target", "-200"),
        ("evaluate", "--epsilon", "1"),
        ("train", "--seed", "4294967295"),
    ],
)
def test_the_ends_of_a_range_are_accepted(command, flag, text, tmp_path):
    argv = [command, *(a.format(out=tmp_path) for a in REQUIRED[command]), flag, text]
    parsed = build_parser().parse_args(argv)
    assert getattr(parsed, flag.lstrip("-").replace("-", "_")) == float(text)


@pytest.mark.parametrize(
    "flag,text", [("--speed", "1e-30"), ("--speed", "11"), ("--stride", "1000"), ("--width", "100000")]
)
def test_render_refuses_what_once_raised_or_made_a_useless_gif(flag, text, tmp_path, capsys):
    out = tmp_path / "x.gif"
    assert main(["render", AGENT, "--out", str(out), flag, text]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: python -m rl_core render: argument {flag}: expected") and "Traceback" not in err
    assert not out.exists()


def test_a_cheap_command_in_range_runs(capsys):
    assert main(["baseline", "--episodes", "1", "--seed", "0"]) == 0
    assert '"n_episodes": 1' in capsys.readouterr().out
