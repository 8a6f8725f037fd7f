"""Environment: states, actions, rewards; declared bounds against observed ranges; the random baseline."""

import pandas as pd
import streamlit as st

from pages._state import bind
from pages._ui import bound_args, chart, ensure_routed
from rl_core.config import APP_BOUNDS
from rl_core.envinfo import SUPPORTED_ENVS, env_info
from rl_core.learning.agent import RandomAgent
from rl_core.learning.envs import env_spec, observed_ranges
from rl_core.learning.evaluation import evaluate
from rl_core.present.figures import reward_histogram, state_histograms

ensure_routed()

st.title(":material/public: The environment")
env_id = st.selectbox("Environment", SUPPORTED_ENVS, **bind("env_page_env", options=SUPPORTED_ENVS))
spec = env_spec(env_id)
info = env_info(env_id)
st.markdown(info.about)
c1, c2, c3 = st.columns(3)
c1.metric("state dimensions", spec.obs_dim)
c2.metric("actions", spec.n_actions, help=", ".join(f"{i}: {n}" for i, n in enumerate(info.action_names)))
c3.metric("time limit (steps)", spec.max_episode_steps)

st.header("Declared bounds vs what an agent actually sees")
st.markdown(
    info.bounds_note + " Run a random policy for a while and look at what it really visits: that is "
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
chart(state_histograms(states, info.state_names), key="env_hist")

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
