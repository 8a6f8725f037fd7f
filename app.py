"""Q-Lab: the router. Holds only what every page shares (page config, navigation)."""

import os

import streamlit as st

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders headless on a server

st.set_page_config(page_title="Q-Lab", page_icon="🎯", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/environment.py", title="Environment", icon="🌍"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/evaluate.py", title="Evaluate & replay", icon="🎬"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
]
st.navigation(pages).run()
