"""Everything Q-Lab knows about each environment it supports, in one place: adding an environment
means adding one ``EnvInfo`` here (sizes come from Gymnasium itself, rl_core.learning.envs).

The bottom layer of rl_core: it imports nothing of the project.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvInfo:
    """One classic-control task with a discrete action, as the app, the CLI and the library see it."""

    env_id: str
    title: str  # a short name for people ("CartPole")
    state_names: tuple[str, ...]  # each observation number, in words
    state_columns: tuple[str, ...]  # the same, short (table columns of the imitation data)
    action_names: tuple[str, ...]
    # An episode that counts as a success: at or above this reward (Gymnasium's own threshold where
    # it has one, the time limit for CartPole)
    solved_reward: float
    # A uniformly random agent's mean reward over 1000 greedy-evaluation episodes (seeds 0-999),
    # measured with rl_core.learning.evaluation
    random_baseline: float
    # A tuning study or seed sweep counts a run as solved when its mean evaluation reaches this
    # (None: no such line; MountainCar and Acrobot runs are compared by their means only)
    tuning_solved_mean: float | None
    # Where each state dimension is worth looking at in a Q-function slice: the termination bounds,
    # or what play really visits; and the two dimensions a slice shows first
    slice_ranges: tuple[tuple[float, float], ...]
    default_slice: tuple[int, int]
    # Rendering a single observed state: Acrobot observes cos/sin of its angles, its renderer wants
    # the angles themselves
    observation_holds_cos_sin: bool
    # A fast vectorised evaluation exists for it (rl_core.learning.evaluation sets CartPole's state
    # directly); the others are evaluated through Gymnasium's generic vector env
    fast_evaluation: bool
    about: str  # what the Environment page says about it (Markdown)
    bounds_note: str  # what its declared observation bounds say, and do not say


ENVS: dict[str, EnvInfo] = {
    info.env_id: info
    for info in (
        EnvInfo(
            env_id="CartPole-v1",
            title="CartPole",
            state_names=("cart position x", "cart velocity v", "pole angle theta", "pole angular velocity omega"),
            state_columns=("x", "v", "theta", "omega"),
            action_names=("push left", "push right"),
            solved_reward=500.0,
            random_baseline=22.19,  # the course reports 22.28 +- 11.67
            tuning_solved_mean=475.0,
            slice_ranges=((-2.4, 2.4), (-2.0, 2.0), (-0.21, 0.21), (-2.5, 2.5)),
            default_slice=(2, 3),
            observation_holds_cos_sin=False,
            fast_evaluation=True,
            about="""
A cart slides on a frictionless track with a pole hinged on top. The agent sees four numbers:
the cart's **position x** and **velocity v**, the pole's **angle theta** from vertical and its
**angular velocity omega**. Each step it pushes the cart **left (0)** or **right (1)** with a fixed force.

It earns **+1 for every step** the pole stays up. The episode **terminates** when the pole leans more
than 12 degrees (0.21 rad) or the cart leaves the track (|x| > 2.4), and is **truncated** after 500 steps:
a perfect agent scores 500. Termination is a real end (no future reward); truncation is only the clock
running out, so a learning agent should still value the state it stopped in.

Every episode starts with all four numbers drawn uniformly from [-0.05, 0.05]: some starts are easy,
some are not.""",
            bounds_note="The environment *declares* a range for each state number. For CartPole's two velocities "
            "that range is effectively infinite (about 3.4e38), so it tells you nothing about how to scale them.",
        ),
        EnvInfo(
            env_id="MountainCar-v0",
            title="MountainCar",
            state_names=("position", "velocity"),
            state_columns=("position", "velocity"),
            action_names=("accelerate left", "coast", "accelerate right"),
            solved_reward=-199.0,  # reaching the flag at all (terminating before the 200-step limit)
            random_baseline=-200.0,
            tuning_solved_mean=None,
            slice_ranges=((-1.2, 0.6), (-0.07, 0.07)),
            default_slice=(0, 1),
            observation_holds_cos_sin=False,
            fast_evaluation=False,
            about="""
An under-powered car sits in a valley and must reach the flag on the right hill. It sees its
**position** and **velocity**, and can **accelerate left, coast, or accelerate right**. Every step costs
**-1**, and the episode ends when the car reaches the flag or after 200 steps. The engine is too weak to
drive straight up: the car must rock back and forth to build momentum, and random actions almost never
get there, which makes exploration the whole problem.""",
            bounds_note="The environment *declares* a range for each state number: position in [-1.2, 0.6], "
            "velocity in [-0.07, 0.07]. Both are finite, but they differ by a factor of 25, and a random car "
            "stays near the valley floor: it visits a small part of either range.",
        ),
        EnvInfo(
            env_id="Acrobot-v1",
            title="Acrobot",
            state_names=(
                "cos theta1",
                "sin theta1",
                "cos theta2",
                "sin theta2",
                "angular velocity 1",
                "angular velocity 2",
            ),
            state_columns=("cos1", "sin1", "cos2", "sin2", "omega1", "omega2"),
            action_names=("torque -1", "torque 0", "torque +1"),
            solved_reward=-100.0,  # swinging up in at most 100 steps (Gymnasium's reward threshold)
            random_baseline=-499.04,
            tuning_solved_mean=None,
            slice_ranges=(
                (-1.0, 1.0),
                (-1.0, 1.0),
                (-1.0, 1.0),
                (-1.0, 1.0),
                (-4 * math.pi, 4 * math.pi),
                (-9 * math.pi, 9 * math.pi),
            ),
            default_slice=(4, 5),
            observation_holds_cos_sin=True,
            fast_evaluation=False,
            about="""
Two links hang in a chain from a fixed joint; the agent applies **torque -1, 0 or +1** to the joint
between them. It sees the **cos and sin of both angles** and both **angular velocities**. Every step
costs **-1** until the free end swings above a line one link-length over the pivot, or 500 steps pass.""",
            bounds_note="The environment *declares* a range for each state number: the cosines and sines lie in "
            "[-1, 1], the angular velocities in [-4 pi, 4 pi] and [-9 pi, 9 pi]. Random torques rarely "
            "swing the links fast, so the velocities it sees fill little of their declared range.",
        ),
    )
}
SUPPORTED_ENVS: tuple[str, ...] = tuple(ENVS)
DEFAULT_ENV = SUPPORTED_ENVS[0]


def env_info(env_id: str) -> EnvInfo:
    """The facts about ``env_id``; ValueError naming the supported ones if it is not one of them."""
    try:
        return ENVS[env_id]
    except (KeyError, TypeError):
        raise ValueError(f"env_id must be one of {', '.join(SUPPORTED_ENVS)}, got {env_id!r}") from None
