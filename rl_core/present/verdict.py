"""What a finished run's score means: against a random agent, the course's figure for its preset,
and the best evaluation it reached while training. Data in, sentences out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rl_core.config import AgentConfig
from rl_core.envinfo import ENVS
from rl_core.learning.training import saved_weights_evaluation
from rl_core.presets import COURSE_ENV, COURSE_RESULTS

# A saved agent this far below its best evaluation during training "fell short" of it (evaluations
# of 20 episodes vary by a few points even for the same weights).
SHORTFALL = 0.1  # of the best's distance above the random baseline


@dataclass(frozen=True)
class Verdict:
    level: str  # "bad" (no better than random), "ok", "good" (solved or at the course's figure)
    lines: tuple[str, ...]


def run_verdict(
    env_id: str,
    saved_mean: float,
    preset_name: str | None = None,
    custom: bool = False,
    best_mean: float | None = None,
    best_episode: int | None = None,
    keep_best: bool = False,
    solved_reward: float | None = None,
) -> Verdict:
    """A few sentences on a finished run whose saved weights score ``saved_mean``.

    ``best_mean`` / ``best_episode``: the best periodic evaluation during training; ``keep_best``:
    whether the run was set to end with those weights; ``preset_name``: the preset it started from
    (``custom`` when changed: the course's figure is then only a reference)."""
    lines: list[str] = []
    random_mean = ENVS[env_id].random_baseline if env_id in ENVS else None
    level = "ok"
    if random_mean is not None:
        margin = saved_mean - random_mean
        if margin <= abs(random_mean) * 0.1:
            level = "bad"
            lines.append(
                f"The saved agent scores {saved_mean:.1f}: no better than a random agent ({random_mean:g} on "
                f"{env_id}). It has not learned to act yet."
            )
        else:
            lines.append(f"The saved agent scores {saved_mean:.1f}, against {random_mean:g} for a random agent.")
    if solved_reward is not None and saved_mean >= solved_reward:
        level = "good"
        lines.append(f"That solves {env_id} (a mean of {solved_reward:g} or more).")
    course = COURSE_RESULTS.get(preset_name or "") if env_id == COURSE_ENV else None
    if course is not None:
        mean, std = course
        reference = "its preset" if not custom else "the preset it started from"
        if saved_mean >= mean - std:
            relation = "matches or beats"
            if level != "bad":
                level = "good"
        else:
            relation = "is below"
        lines.append(f"It {relation} the course's {mean:g} +- {std:g} for {reference}, {preset_name}.")
    if best_mean is not None and random_mean is not None:
        gap = best_mean - saved_mean
        if gap > SHORTFALL * max(1.0, best_mean - random_mean):
            where = f" at episode {best_episode}" if best_episode is not None else ""
            advice = (
                "these are that evaluation's weights (keep-best), which score less over more episodes"
                if keep_best
                else "turn on keep-best to save the best evaluated weights"
            )
            lines.append(f"It peaked at {best_mean:.1f}{where}, saved {saved_mean:.1f}: {advice}.")
    return Verdict(level, tuple(lines))


def metrics_verdict(
    metrics: dict[str, Any], config: AgentConfig, preset_name: str | None, custom: bool, solved_reward: float | None
) -> Verdict | None:
    """The verdict on a saved run from its metrics.json (None when its saved weights have no score)."""
    saved = saved_weights_evaluation(metrics)
    if saved is None:
        return None
    best = metrics.get("best_evaluation") if isinstance(metrics.get("best_evaluation"), dict) else None
    return run_verdict(
        config.env_id,
        float(saved["mean"]),
        preset_name=preset_name,
        custom=custom,
        best_mean=float(best["mean"]) if best and isinstance(best.get("mean"), (int, float)) else None,
        best_episode=best.get("episode") if best else None,
        keep_best=config.keep_best,
        solved_reward=solved_reward,
    )
