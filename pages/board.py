"""Class board, for projecting: the class's shared agents ranked by a fresh evaluation of their saved
weights, who is training right now, a replay of the best agent and a comparison of any two."""

import pandas as pd
import streamlit as st

from pages._state import bind
from pages._ui import ensure_routed, plain, plain_table, replay_gif, show_gif, trainings_now, user
from rl_core.classroom.board import BOARD_EPISODES, board_rows, board_table, training_now
from rl_core.classroom.ownership import display_name, read_owner, shared_runs
from rl_core.config import BOARD_TICK_SECONDS
from rl_core.envinfo import SUPPORTED_ENVS

ensure_routed()

ss = st.session_state
me = user()
large = bool(ss.get("presentation"))
if large:  # st.table is plain HTML: its type can grow for the back of the room
    st.html("<style>[data-testid='stTable'] th, [data-testid='stTable'] td { font-size: 1.35rem; }</style>")
st.title(":material/leaderboard: Class board")
st.caption(
    f"Agents shared with the class, ranked by the mean reward of their saved weights over {BOARD_EPISODES} "
    "greedy episodes (seeds 0 to 999, the same for everyone), not by their best moment in training. "
    "Share yours from the Runs page."
)
env_id = st.radio("Environment", SUPPORTED_ENVS, horizontal=True, **bind("board_env", options=SUPPORTED_ENVS))
entries = [e for e in shared_runs() if e.env_id == env_id]
problems: list[str] = []
with st.spinner(f"Evaluating newly shared agents over {BOARD_EPISODES} episodes..."):
    rows = board_rows(
        entries,
        owner_of=lambda path: display_name(read_owner(path).owner),
        on_error=lambda entry, exc: problems.append(f"{entry.name}: {exc}"),
    )
for problem in problems:
    st.warning(f"Left off the board: {plain(problem)}")

if not rows:
    st.info(f"No agent shared for {env_id} yet: train one, then switch on *Shared with the class* on the Runs page.")
else:
    # projected, the table takes the whole width and the top agent's replay goes under it
    table, side = (st.container(), st.columns([2, 3])[0]) if large else st.columns([5, 2], gap="large")
    table.table(plain_table(pd.DataFrame(board_table(rows)).set_index("rank")))
    with side:
        top = rows[0]
        st.markdown(
            f"**#1 {plain(top.name)}** by {plain(top.owner)}: **{top.evaluation.mean:.1f}** mean reward over "
            f"{top.evaluation.n_episodes} episodes"
        )
        if st.button("Replay the top agent", type="primary", icon=":material/play_circle:", key="board_replay_top"):
            ss.board_replay = str(top.path)
        if ss.get("board_replay") == str(top.path):
            with st.spinner("Rendering..."):
                gif, steps, reward = replay_gif(top.path, seed=0, width=480 if large else 300)
            show_gif(gif, caption=f"{top.name}: {steps} steps, reward {reward:.0f}")
    if len(rows) >= 2:
        labels = {str(r.path): f"#{r.rank} {r.name} ({r.owner})" for r in rows}
        paths = list(labels)
        a, b, go = st.columns([2, 2, 1], vertical_alignment="bottom")
        first = a.selectbox("Compare", paths, format_func=labels.get, **bind("board_cmp_a", paths[0], options=paths))
        second = b.selectbox("with", paths, format_func=labels.get, **bind("board_cmp_b", paths[1], options=paths))
        if go.button("Compare", icon=":material/compare:", key="board_compare", disabled=first == second):
            ss.compare_selection = [first, second]
            st.switch_page("pages/compare.py")

st.header("Training now")


@st.fragment(run_every=BOARD_TICK_SECONDS)
def live_trainings() -> None:
    now = training_now(trainings_now(), owner_name=display_name)
    if not now:
        st.caption("Nobody is training right now.")
        return
    frame = pd.DataFrame(now).set_index("who")
    if large:  # projected: plain HTML, in the large type of the room (a data grid is a small canvas)
        frame["progress"] = [f"{p:.0%}" for p in frame["progress"]]
        frame["best evaluation"] = ["" if pd.isna(b) else f"{b:.1f}" for b in frame["best evaluation"]]
        st.table(plain_table(frame.drop(columns=["env", "seconds"])))
        return
    st.dataframe(
        frame,
        width="stretch",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)},
    )


live_trainings()
