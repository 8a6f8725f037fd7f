"""Q-Lab: the router. Holds only what every page shares (page config, navigation, presentation mode)."""

import os

import streamlit as st

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders headless on a server

from pages._ui import account_box, current_user, login_screen  # after the SDL setting

st.set_page_config(page_title="Q-Lab", page_icon=":material/target:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/environment.py", title="Environment", icon=":material/public:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate & replay", icon=":material/movie:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    st.Page("pages/imitation.py", title="Imitation", icon=":material/school:"),
    st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
    st.Page("pages/board.py", title="Class board", icon=":material/leaderboard:"),
]
visitor = current_user()  # None: class mode, not logged in yet
page = st.navigation(pages, position="sidebar" if visitor else "hidden")

# Presentation mode: one switch, remembered across pages, for projecting to a room.
# The mode lives in its own session key, so it holds even on a run that does not draw the toggle.
st.sidebar.toggle("Presentation mode", value=st.session_state.get("presentation", False), key="presentation_toggle",
                  on_change=lambda: st.session_state.update(presentation=st.session_state.presentation_toggle),
                  help="Large type and chart text, thick lines, high contrast; settings tucked away")
if st.session_state.get("presentation"):
    st.html("""<style>
      html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
      [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.35rem; }
      h1 { font-size: 3.2rem !important; } h2 { font-size: 2.4rem !important; }
      [data-testid="stMetricValue"] { font-size: 3rem; }
      [data-testid="stAppViewContainer"] { background: #ffffff; color: #000000; }
      .stButton button { font-size: 1.3rem; padding: 0.6rem 1.4rem; }
    </style>""")
if visitor is None:  # class mode: nothing but the login button until the visitor logs in
    login_screen()
    st.stop()
account_box(visitor)
page.run()
