"""Q-Lab: the router. Holds only what every page shares (page config, navigation)."""

import os

import streamlit as st

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders headless on a server

st.set_page_config(page_title="Q-Lab", page_icon=":material/target:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/environment.py", title="Environment", icon=":material/public:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate & replay", icon=":material/movie:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/imitation.py", title="Imitation", icon=":material/school:"),
    st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
]
st.navigation(pages).run()
