"""Q-Lab's Streamlit entry point (the full multipage app lands with the app issue)."""

import streamlit as st

st.set_page_config(page_title="Q-Lab", page_icon="🎯")
st.title("Q-Lab")
st.write(
    "Learn parametric Q-learning by doing it. The library `rl_core` already trains linear and deep Q "
    "agents on CartPole-v1, MountainCar-v0 and Acrobot-v1; the pages for live training, evaluation, "
    "replays and comparison are coming next. Meanwhile: `python -m rl_core --help`."
)
