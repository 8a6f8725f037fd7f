"""Home: what Q-Lab is, and two one-click starts."""

import streamlit as st

from pages._ui import PRETRAINED_DEEP, ensure_routed, find_entry, plain, pretrained_entries, replay_gif, show_gif
from rl_core.artifacts.folders import AgentFolderError

ensure_routed()

st.title(":material/target: Q-Lab")
st.markdown(
    "**Learn parametric Q-learning by doing it.** An agent looks at the state of a cart carrying a pole, "
    "pushes left or right, and learns from the reward which push is worth more: its *Q-values*. "
    "Here you train such agents yourself (a **linear** one with 10 parameters, or a **deep** one with a "
    "neural network), watch them learn live, replay their episodes, and hold them against agents we trained "
    "beforehand."
)

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Watch a trained agent")
    st.caption("The pretrained deep Q agent balances the pole for all 500 steps of every episode we tried.")
    if st.button("Watch the pretrained agent", type="primary", key="watch_pretrained", icon=":material/play_arrow:"):
        st.session_state.home_watch = True
    if st.session_state.get("home_watch"):
        entry = find_entry(pretrained_entries(), PRETRAINED_DEEP, "pretrained")
        if entry is None:
            st.error(f"pretrained/{PRETRAINED_DEEP} is missing: rebuild it with `bash pretrained/build.sh`.")
        else:
            try:
                with st.spinner("Rendering 500 steps..."):
                    gif, steps, reward = replay_gif(entry.path, seed=0)
                show_gif(gif, caption=f"{entry.name}: {steps} steps, reward {reward:.0f}, real speed")
            except AgentFolderError as exc:
                st.error(plain(exc))
with right:
    st.subheader("Train your own")
    st.caption("Pick linear or deep, start from the course's hyperparameters or ours, and watch it learn.")
    if st.button("Train your own", key="go_train", icon=":material/model_training:"):
        st.switch_page("pages/train.py")
    st.markdown(
        "- **Environment**: what the agent sees and why its inputs need scaling\n"
        "- **Train**: every hyperparameter, live charts, stop any time\n"
        "- **Evaluate & replay**: 1000 episodes played at once, and GIFs of any of them\n"
        "- **Compare**: your agent beside the pretrained one, on the same episodes"
    )
