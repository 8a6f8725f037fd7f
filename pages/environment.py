"""Environment: states, actions, rewards; declared bounds against observed ranges; the random baseline."""

import pandas as pd
import streamlit as st

from pages._state import bind
from pages._ui import bound_args, chart, ensure_routed
from rl_core.config import APP_BOUNDS, SUPPORTED_ENVS
from rl_core.learning.agent import RandomAgent
from rl_core.learning.envs import ACTION_NAMES, STATE_NAMES, env_spec, observed_ranges
from rl_core.learning.evaluation import evaluate
from rl_core.present.plots import reward_histogram, state_histograms

ensure_routed()

ABOUT = {
    "CartPole-v1": """
A cart slides on a frictionless track with a pole hinged on top. The agent sees four numbers:
the cart's **position x** and **velocity v**, the pole's **angle theta** from vertical and its
**angular velocity omega**. Each step it pushes the cart **left (0)** or **right (1)** with a fixed force.

It earns **+1 for every step** the pole stays up. The episode **terminates** when the pole leans more
than 12 degrees (0.21 rad) or the cart leaves the track (|x| > 2.4), and is **truncated** after 500 steps:
a perfect agent scores 500. Termination is a real end (no future reward); truncation is only the clock
running out, so a learning agent should still value the state it stopped in.

Every episode starts with all four numbers drawn uniformly from [-0.05, 0.05]: some starts are easy,
some are not.""",
    "MountainCar-v0": """
An under-powered car sits in a valley and must reach the flag on the right hill. It sees its
**position** and **velocity**, and can **accelerate left, coast, or accelerate right**. Every step costs
**-1**, and the episode ends when the car reaches the flag or after 200 steps. The engine is too weak to
drive straight up: the car must rock back and forth to build momentum, and random actions almost never
get there, which makes exploration the whole problem.""",
    "Acrobot-v1": """
Two links hang in a chain from a fixed joint; the agent applies **torque -1, 0 or +1** to the joint
between them. It sees the **cos and sin of both angles** and both **angular velocities**. Every step
costs **-1** until the free end swings above a line one link-length over the pivot, or 500 steps pass.""",
}

BOUNDS = {  # what each environment's declared observation bounds say, and do not say
    "CartPole-v1": "The environment *declares* a range for each state number. For CartPole's two velocities that "
    "range is effectively infinite (about 3.4e38), so it tells you nothing about how to scale them.",
    "MountainCar-v0": "The environment *declares* a range for each state number: position in [-1.2, 0.6], velocity "
    "in [-0.07, 0.07]. Both are finite, but they differ by a factor of 25, and a random car "
    "stays near the valley floor: it visits a small part of either range.",
    "Acrobot-v1": "The environment *declares* a range for each state number: the cosines and sines lie in "
    "[-1, 1], the angular velocities in [-4 pi, 4 pi] and [-9 pi, 9 pi]. Random torques rarely "
    "swing the links fast, so the velocities it sees fill little of their declared range.",
}

st.title(":material/public: The environment")
env_id = st.selectbox("Environment", SUPPORTED_ENVS, **bind("env_page_env", options=SUPPORTED_ENVS))
spec = env_spec(env_id)
st.markdown(ABOUT[env_id])
c1, c2, c3 = st.columns(3)
c1.metric("state dimensions", spec.obs_dim)
c2.metric("actions", spec.n_actions, help=", ".join(f"{i}: {n}" for i, n in enumerate(ACTION_NAMES[env_id])))
c3.metric("time limit (steps)", spec.max_episode_steps)

st.header("Declared bounds vs what an agent actually sees")
st.markdown(
    BOUNDS[env_id] + " Run a random policy for a while and look at what it really visits: that is "
    "where a normaliser's mean and spread must come from. It also shows the catch: what you observe depends "
    "on how well you explore."
)
col_steps, col_seed = st.columns(2)
n_steps = col_steps.slider("random steps", **bind("env_page_steps", 10_000), **bound_args(APP_BOUNDS["random_steps"]))
seed = col_seed.number_input("seed", **bind("env_page_seed", 0), **bound_args(APP_BOUNDS["episode_seed"]))


@st.cache_data(max_entries=16, show_spinner="Exploring...")
def _ranges(env_id: str, n_steps: int, seed: int):
    return observed_ranges(env_id, n_steps, seed)


rows, states = _ranges(env_id, n_steps, int(seed))
st.dataframe(pd.DataFrame(rows).set_index("state"), width="stretch")
chart(state_histograms(states, STATE_NAMES[env_id]), key="env_hist")

st.header("The random agent: the baseline to beat")


@st.cache_data(max_entries=16, show_spinner="Playing 1000 episodes...")
def _baseline(env_id: str, n_episodes: int, seed: int):
    return evaluate(RandomAgent(env_id, seed=seed), env_id, n_episodes=n_episodes, seed=seed)


baseline = _baseline(env_id, 1000, int(seed))
b1, b2, b3, b4 = st.columns(4)
b1.metric("mean reward", f"{baseline.mean:.2f}")
b2.metric("std", f"{baseline.std:.2f}")
b3.metric("min / max", f"{baseline.min:.0f} / {baseline.max:.0f}")
b4.metric("episodes", baseline.n_episodes)
chart(
    reward_histogram({"random agent": baseline.rewards}, title="Random agent over 1000 episodes"),
    key="env_baseline_hist",
)
