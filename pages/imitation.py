"""Imitation: learn the perfect agent's policy by supervised learning, with networks of growing size."""

import pandas as pd
import streamlit as st

from pages._state import bind
from pages._ui import (
    PRETRAINED_DEEP,
    SUBMIT_ERRORS,
    agent_entries,
    bound_args,
    chart,
    engine_notice,
    ensure_routed,
    entry_label,
    job_registry,
    job_status,
    load,
    my_latest_job,
    plain,
    rerun_when_the_pace_changes,
    session_id,
    user,
)
from rl_core.artifacts.folders import AgentFolderError
from rl_core.classroom.ownership import active_job_limit
from rl_core.compute.imitation_job import ImitationJob
from rl_core.config import BOUNDS, IMITATION_BOUNDS, parse_widths
from rl_core.learning.imitation import EXPERT_ENV, READY_MADE, expert_data
from rl_core.present.live import LIVE_CHARTS, live_tick_seconds
from rl_core.present.progress import imitation_progress

ensure_routed()

ss = st.session_state
registry = job_registry()
engine_notice()
if "imit_job" not in ss and (latest := my_latest_job("imitation")) is not None:
    ss.imit_job = latest.job_id  # a reload comes back to the user's job
st.title(":material/school: Imitation: networks with fixed targets")
st.markdown(
    "Before mixing neural networks with Q-learning, try them on a problem whose answers stand still. "
    "We let the perfect agent play, write down what it saw and what it did, and train a classifier to "
    "predict its action from the state. In Q-learning the targets move as the network learns; here they "
    "do not, so what you see is the network alone: whether it is big enough, and whether it learns the "
    "rule or only memorises its examples."
)

st.header("1. The expert's data")
experts = [e for e in agent_entries() if e.env_id == EXPERT_ENV]
if not experts:
    st.error(f"No CartPole agent to imitate: rebuild pretrained/{PRETRAINED_DEEP} with `bash pretrained/build.sh`.")
    st.stop()
paths = [str(e.path) for e in experts]
default = next((i for i, e in enumerate(experts) if e.name == PRETRAINED_DEEP), 0)
chosen = st.selectbox(
    "Expert",
    paths,
    format_func=lambda p: entry_label(experts[paths.index(p)]),
    **bind("imit_expert", paths[default], options=paths),
)
c1, c2, c3, c4 = st.columns(4)
ROWS = IMITATION_BOUNDS["rows"]
train_rows = c1.number_input("training rows", **bind("imit_rows", 1000), **bound_args(ROWS))
test_rows = c2.number_input("test rows", **bind("imit_test_rows", 1000), **bound_args(ROWS))
train_seed = c3.number_input("training env seed", **bind("imit_train_seed", 0), **bound_args(BOUNDS["seed"]))
test_seed = c4.number_input("test env seed", **bind("imit_test_seed", 1), **bound_args(BOUNDS["seed"]))
seeds_clash = train_seed == test_seed  # flagged, and Train waits; the results so far stay on the page
if seeds_clash:
    st.error("test env seed must differ from the training env seed, or the test rows repeat the training rows")


@st.cache_data(max_entries=16, show_spinner="The expert is playing...")
def _rows(path: str, n_rows: int, seed: int) -> pd.DataFrame:
    agent = load(experts[paths.index(path)].path).agent
    return expert_data(agent, EXPERT_ENV, n_rows=n_rows, seed=seed)


try:
    train_table = _rows(chosen, int(train_rows), int(train_seed))
    test_table = _rows(chosen, int(test_rows), int(test_seed))
except AgentFolderError as exc:
    st.error(plain(exc))
    st.stop()
left, right = st.columns([3, 1])
left.dataframe(train_table.head(8), width="stretch")
right.metric("share of 'push right'", f"{100 * train_table['action'].mean():.1f}%")
right.metric("episodes in the training rows", int(train_table["episode"].nunique()))
d1, d2 = st.columns(2)
d1.download_button(
    "Download training rows (CSV)",
    train_table.to_csv(index=False),
    "imitation-train.csv",
    "text/csv",
    key="imit_dl_train",
)
d2.download_button(
    "Download test rows (CSV)", test_table.to_csv(index=False), "imitation-test.csv", "text/csv", key="imit_dl_test"
)

st.header("2. Train classifiers")
archs = st.multiselect(
    "Architectures", list(READY_MADE), **bind("imit_archs", list(READY_MADE), options=list(READY_MADE))
)
custom = st.text_input("custom hidden widths (optional, e.g. 512,512)", **bind("imit_custom"))
custom_widths, custom_error = None, None
if custom.strip():
    try:
        custom_widths = parse_widths(custom, "custom widths", allow_linear=False)
    except ValueError as exc:
        custom_error = str(exc)
        st.error(plain(custom_error))
e1, e2 = st.columns(2)
epochs = e1.slider("epochs", **bind("imit_epochs", 150), **bound_args(IMITATION_BOUNDS["epochs"]))
model_seed = e2.number_input("network seed", **bind("imit_seed", 0), **bound_args(BOUNDS["seed"]))
architectures = [READY_MADE[a] for a in archs] + ([custom_widths] if custom_widths else [])

job_id = ss.get("imit_job")
snap = registry.snapshot(job_id) if job_id else None
busy = snap is not None and not snap.done
b1, b2 = st.columns(2)
if b1.button(
    "Train",
    type="primary",
    icon=":material/play_arrow:",
    key="imit_start",
    disabled=busy or not architectures or custom_error is not None or seeds_clash,
):
    try:
        ss.imit_job = registry.add_checked(
            ImitationJob(
                session_id(), train_table, test_table, architectures, epochs=int(epochs), seed=int(model_seed)
            ),
            active_job_limit(user()),
        )
        ss.imit_last_state = None
        ss.imit_architectures = len(architectures)  # for the overall progress
        st.rerun()
    except SUBMIT_ERRORS as exc:
        st.error(f"Cannot start: {exc}")
if b2.button("Stop", icon=":material/stop:", key="imit_stop", disabled=not busy):
    registry.stop(job_id)


def overall_progress(snap) -> None:
    """How far the whole job is: architectures one after another, epochs across all of them."""
    if snap.state != "running" or not ss.get("imit_architectures"):
        return
    share, text = imitation_progress(
        [len(c) for c in snap.curves.values()], len(snap.results), ss.imit_architectures, snap.epochs
    )
    st.progress(share, text=text)


@st.fragment(run_every=live_tick_seconds(snap.state) if snap is not None else None)
def live() -> None:
    snap = registry.snapshot(ss.imit_job)
    job_status(snap.state, snap.message, snap.queue_position)
    overall_progress(snap)
    if snap.curves:
        chart(LIVE_CHARTS.imitation(snap, large=bool(ss.get("presentation"))), key="imit_curves")
    if snap.results:
        st.dataframe(pd.DataFrame(snap.results).set_index("architecture"), width="stretch")
    rerun_when_the_pace_changes("imit_last_state", snap.state)


if snap is not None:
    ss.imit_last_state = snap.state  # the pace this full run gave the fragment
    live()

st.header("3. What to look for")
st.markdown(
    "- **Underfitting.** The linear model draws one straight boundary through the state space. It cannot "
    "express the expert's rule, so train and test accuracy stay low together, however long you train.\n"
    "- **Overfitting.** A big network given few rows can drive its *training* loss towards zero while the "
    "*test* loss stops falling and then rises: it is memorising the rows instead of learning the rule. "
    "The gap between the solid (train) and dashed (test) curves is the sign.\n"
    "- **More data** is the surest cure: with ten times the rows, memorising stops paying and "
    "the same network generalises. Try 10,000 training rows with [256, 256].\n"
    "- **Accuracy is not balance.** Compare the *test accuracy* and *policy mean reward* columns. In many "
    "states both pushes keep the pole up, and a classifier can disagree with the expert there at no cost: a "
    "model that gets one state in six 'wrong' may still balance for all 500 steps. Elsewhere one wrong push "
    "starts a drift into states the expert never visited, where the model has no examples and errs more: "
    "the linear model loses the pole long before the time limit. What matters is *where* the mistakes fall.\n"
)
