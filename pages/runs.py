"""Runs: the user's trained and uploaded agents (an instructor's: everyone's), kept across restarts;
rename, delete, share with the class, load back into Train."""

import time

import pandas as pd
import streamlit as st

from pages._state import bind, remember
from pages._ui import ensure_routed, fill_train_setup, owner_note, plain, run_preset, user
from rl_core.artifacts.folders import AgentFolderError, runs_dir
from rl_core.artifacts.storage import read_config
from rl_core.classroom.ownership import delete_run, display_name, manageable_runs, read_owner, rename_run, share_run
from rl_core.learning.training import saved_weights_evaluation
from rl_core.present.train_setup import closest_preset

ensure_routed()

ss = st.session_state
st.title(":material/history: Runs")
me = user()
whose = "every user's agents" if me.class_mode and me.is_instructor else "your agents"
st.caption(
    f"{whose.capitalize()}, trained or uploaded, from `{runs_dir()}`: they survive a restart. "
    + ("Others see a run only once you share it with the class." if me.class_mode else "")
)
for kind, text in ss.pop("runs_messages", []):  # what the last rename or delete did
    (st.success if kind == "success" else st.info)(text)

entries = sorted(manageable_runs(me), key=lambda e: e.path.stat().st_mtime, reverse=True)
if not entries:
    st.info("No runs yet: train an agent on the Train page.")
    st.stop()


def summary(entry) -> dict:
    m = entry.metrics
    scored = saved_weights_evaluation(m) or {}
    when = m.get("trained_at") or time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(entry.path.stat().st_mtime))
    record = read_owner(entry.path)
    return {
        "run": entry.name,
        "env": entry.env_id,
        "kind": entry.agent_kind,
        "preset": run_preset(entry),
        "when": str(when)[:16].replace("T", " "),
        "episodes": m.get("episodes"),
        "seconds": m.get("seconds"),
        "status": m.get("status"),
        "scores": scored.get("mean"),
        "shared": record.shared,
        **({"owner": display_name(record.owner)} if me.class_mode else {}),
    }


st.dataframe(
    pd.DataFrame([summary(e) for e in entries]).set_index("run"),
    width="stretch",
    column_config={
        "scores": st.column_config.NumberColumn(
            "scores", format="%.1f", help="A greedy evaluation of the saved weights"
        ),
        "seconds": st.column_config.NumberColumn("training s", format="%.0f"),
    },
)

paths = [str(e.path) for e in entries]  # names repeat across users' upload folders; paths never do
labels = {
    str(e.path): e.name + owner_note(e.path) + (" (uploaded)" if e.path.parent.parent.name == "uploads" else "")
    for e in entries
}
if "runs_select_next" in ss:  # set by rename/delete on the previous run of this page
    wanted = ss.pop("runs_select_next")
    remember("runs_chosen", wanted if wanted in paths else paths[0])
chosen = st.selectbox("Run", paths, format_func=labels.get, **bind("runs_chosen", paths[0], options=paths))
entry = entries[paths.index(chosen)]
a, b, c = st.columns(3)
if a.button("Load its config into Train", icon=":material/model_training:", key="runs_load"):
    try:
        config = read_config(entry.path)
        fill_train_setup(config, closest_preset(config))
        st.switch_page("pages/train.py")
    except AgentFolderError as exc:
        st.error(plain(exc))
if b.button("Evaluate & replay", icon=":material/movie:", key="runs_evaluate"):
    ss.evaluate_selection = str(entry.path)
    st.switch_page("pages/evaluate.py")
shared = read_owner(entry.path).shared
if (
    c.toggle(
        "Shared with the class",
        value=shared,
        key=f"runs_share_{entry.path}",
        help="Others see a shared run on the class board and can evaluate and compare it, read-only",
    )
    != shared
):
    try:
        share_run(me, entry.path, not shared)
        st.rerun()
    except (AgentFolderError, OSError) as exc:
        st.error("Could not change the sharing: " + plain(exc))

with st.expander(f"Rename or delete {entry.name}", icon=":material/edit:"):
    new_name = st.text_input(
        "new name",
        value=entry.name,
        key=f"runs_new_name_{entry.name}",
        help="Letters, digits, '-' and '_'; anything else becomes '-'",
    )
    if st.button("Rename", key="runs_rename"):
        try:
            renamed = rename_run(me, entry.path, new_name)
            messages = [("success", f"Renamed **{plain(entry.name)}** to **{plain(renamed.name)}**.")]
            if renamed.name != new_name.strip():
                messages.append(
                    (
                        "info",
                        f"{plain(repr(new_name.strip()))} is not a usable folder name: it became "
                        f"{plain(repr(renamed.name))}.",
                    )
                )
            ss.runs_messages = messages
            ss.runs_select_next = str(renamed)
            st.rerun()
        except (AgentFolderError, OSError) as exc:
            st.error(plain(exc))
    # The confirmation belongs to this run only: choosing another run never finds it ticked.
    sure = st.checkbox(f"yes, delete {entry.name}", key=f"runs_sure_{entry.path}")
    if st.button("Delete", type="primary", disabled=not sure, key="runs_delete", icon=":material/delete:"):
        try:
            delete_run(me, entry.path)
        except (AgentFolderError, OSError) as exc:
            st.error(plain(exc))
        else:
            ss.pop(f"runs_sure_{entry.path}", None)
            ss.runs_messages = [("success", f"Deleted **{plain(entry.name)}**.")]
            ss.runs_select_next = None
            st.rerun()
