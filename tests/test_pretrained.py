"""Every pretrained agent loads, and a short evaluation agrees with what its card says."""

import re

import pytest

from rl_core.artifacts.folders import PRETRAINED_DIR
from rl_core.artifacts.storage import list_agents, load_agent
from rl_core.learning.evaluation import evaluate

NAMES = ["cartpole-deep-q", "cartpole-linear-q", "mountaincar-linear-q"]


def card_row(name: str, first_seed: int) -> dict:
    text = (PRETRAINED_DIR / name / "README.md").read_text()
    match = re.search(rf"^\| {first_seed}\.\.\d+ \| (\S+) \| (\S+) \| (\S+) \| (\S+) \| (\S+)% \|$", text, re.M)
    assert match, f"{name}'s card has no evaluation row for seeds {first_seed}.."
    mean, std, lo, hi, solved = (float(g) for g in match.groups())
    return {"mean": mean, "std": std, "min": lo, "max": hi, "solved": solved / 100}


def test_every_pretrained_agent_is_listed_with_a_card():
    assert sorted(e.name for e in list_agents([PRETRAINED_DIR])) == sorted(NAMES)
    index = (PRETRAINED_DIR / "README.md").read_text()
    assert all(f"[{name}]({name}/README.md)" in index for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_short_evaluation_agrees_with_the_card(name):
    agent = load_agent(PRETRAINED_DIR / name, roots=[PRETRAINED_DIR]).agent
    for first_seed in (0, 100_000):
        card = card_row(name, first_seed)
        short = evaluate(agent, agent.config.env_id, n_episodes=100, seed=first_seed)
        # the card's 1000 episodes include these 100: their mean lies within a few standard errors
        assert abs(short.mean - card["mean"]) <= 4 * card["std"] / 10 + 0.5, (short.mean, card)
        assert short.min >= card["min"] and short.max <= card["max"]


def test_the_deep_agent_is_perfect_on_its_card():
    for first_seed in (0, 100_000):
        assert card_row("cartpole-deep-q", first_seed) == {"mean": 500, "std": 0, "min": 500, "max": 500, "solved": 1}


def test_the_linear_agent_has_ten_parameters():
    assert load_agent(PRETRAINED_DIR / "cartpole-linear-q").agent.n_parameters == 10
