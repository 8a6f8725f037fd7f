"""Q-Lab: the router. Holds only what every page shares (page config, navigation, presentation mode)."""

import os

import streamlit as st

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders headless on a server, set before it loads

from pages._ui import (  # noqa: E402
    account_box,
    current_user,
    freeze_start_up_heap,
    guard_media,
    guard_uploads,
    lock_free_config_reads,
    login_screen,
    mark_routed,
    registry_notice,
)
from rl_core.compute.engine import engine_status, service_mode, start_engine  # noqa: E402
from rl_core.present.memory import limit_malloc_arenas  # noqa: E402

limit_malloc_arenas()  # the many script threads share 2 malloc arenas: see rl_core/config.py (each run: harmless)
lock_free_config_reads()  # before the first page: see there (once per process)
st.set_page_config(page_title="Q-Lab", page_icon=":material/target:", layout="wide")
# Ray comes up in the background (once per process): the first page draws at once. By default the
# jobs live in the registry service, which outlives this process (rl_core/compute/service.py).
start_engine(service=service_mode())
freeze_start_up_heap(engine_status().state)  # once at start-up, once more when Ray is up
guard_uploads()  # class mode: only logged-in sessions may upload (once per process)
guard_media()  # ... and only logged-in browsers get media files (a private agent's zip)

# The app's pages, in the sidebar's order (the first is the default). Every page file first sends
# itself through this script (pages/_ui.ensure_routed), so nothing runs a page without it.
PAGES = (
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/environment.py", "Environment", ":material/public:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/evaluate.py", "Evaluate & replay", ":material/movie:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
    ("pages/imitation.py", "Imitation", ":material/school:"),
    ("pages/tune.py", "Tune", ":material/tune:"),
    ("pages/runs.py", "Runs", ":material/history:"),
    ("pages/board.py", "Class board", ":material/leaderboard:"),
)

visitor = current_user()  # None: class mode, not logged in yet
page = st.navigation(
    [st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)],
    position="sidebar" if visitor else "hidden",
)

# Presentation mode: one switch, remembered across pages, for projecting to a room.
# The mode lives in its own session key, so it holds even on a run that does not draw the toggle.
st.sidebar.toggle(
    "Presentation mode",
    value=st.session_state.get("presentation", False),
    key="presentation_toggle",
    on_change=lambda: st.session_state.update(presentation=st.session_state.presentation_toggle),
    help="Large type and chart text, thick lines, high contrast; settings tucked away",
)
if st.session_state.get("presentation"):
    st.html("""<style>
      html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
      [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.35rem; }
      h1 { font-size: 3.2rem !important; } h2 { font-size: 2.4rem !important; }
      [data-testid="stMetricValue"], [data-testid="stMetricValue"] * {
        font-size: 3.4rem !important; line-height: 1.15 !important; }
      [data-testid="stAppViewContainer"] { background: #ffffff; color: #000000; }
      /* room for the navigation's longest title, and never an ellipsis on a label or a button */
      section[data-testid="stSidebar"] { width: 380px !important; min-width: 380px !important; }
      .stMarkdownEllipsis { overflow: visible !important; text-overflow: clip !important;
        white-space: normal !important; }
      .stButton button, .stDownloadButton button, [data-testid="stPopover"] button {
        font-size: 1.3rem; padding: 0.5rem 0.8rem; height: auto; }
    </style>""")
if visitor is None:  # class mode: nothing but the login button until the visitor logs in
    login_screen()
    st.stop()
account_box(visitor)
registry_notice()
mark_routed()
page.run()
