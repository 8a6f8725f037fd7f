"""Runs: every trained agent on this server, kept across restarts; rename, delete, load back into Train."""

import time

import pandas as pd
import streamlit as st

from pages._ui import closest_preset, ensure_routed, fill_train_widgets, plain
from rl_core.storage import AgentFolderError, delete_agent, list_agents, read_config, rename_agent, runs_dir
from rl_core.training import saved_weights_evaluation

ensure_routed()

ss = st.session_state
st.title(":material/history: Runs")
st.caption(f"Every agent trained or uploaded on this server, from `{runs_dir()}`: they survive a restart.")
for kind, text in ss.pop("runs_messages", []):  # what the last rename or delete did
    (st.success if kind == "success" else st.info)(text)

entries = sorted(list_agents([runs_dir()]), key=lambda e: e.path.stat().st_mtime, reverse=True)
if not entries:
    st.info("No runs yet: train an agent on the Train page.")
    st.stop()


def summary(entry) -> dict:
    m = entry.metrics
    scored = saved_weights_evaluation(m) or {}
    when = m.get("trained_at") or time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(entry.path.stat().st_mtime))
    return {"run": entry.name, "env": entry.env_id, "kind": entry.agent_kind, "when": str(when)[:16].replace("T", " "),
            "episodes": m.get("episodes"), "seconds": m.get("seconds"), "status": m.get("status"),
            "scores": scored.get("mean")}


st.dataframe(
    pd.DataFrame([summary(e) for e in entries]).set_index("run"), width="stretch",
    column_config={"scores": st.column_config.NumberColumn("scores", format="%.1f",
                                                           help="A greedy evaluation of the saved weights"),
                   "seconds": st.column_config.NumberColumn("training s", format="%.0f")})

names = [e.name for e in entries]
if "runs_select_next" in ss:  # set by rename/delete on the previous run of this page
    wanted = ss.pop("runs_select_next")
    ss.runs_chosen = wanted if wanted in names else names[0]
chosen = st.selectbox("Run", names, key="runs_chosen")
entry = entries[names.index(chosen)]
a, b = st.columns(2)
if a.button("Load its config into Train", icon=":material/model_training:", key="runs_load"):
    try:
        config = read_config(entry.path)
        fill_train_widgets(config, closest_preset(config))
        st.switch_page("pages/train.py")
    except AgentFolderError as exc:
        st.error(plain(exc))
if b.button("Evaluate & replay", icon=":material/movie:", key="runs_evaluate"):
    ss.evaluate_selection = str(entry.path)
    st.switch_page("pages/evaluate.py")

with st.expander(f"Rename or delete {entry.name}", icon=":material/edit:"):
    new_name = st.text_input("new name", value=entry.name, key=f"runs_new_name_{entry.name}",
                             help="Letters, digits, '-' and '_'; anything else becomes '-'")
    if st.button("Rename", key="runs_rename"):
        try:
            renamed = rename_agent(entry.path, new_name)
            messages = [("success", f"Renamed **{entry.name}** to **{renamed.name}**.")]
            if renamed.name != new_name.strip():
                messages.append(("info", f"{new_name.strip()!r} is not a usable folder name: it became "
                                         f"{renamed.name!r}."))
            ss.runs_messages = messages
            ss.runs_select_next = renamed.name
            st.rerun()
        except AgentFolderError as exc:
            st.error(plain(exc))
    # The confirmation belongs to this run only: choosing another run never finds it ticked.
    sure = st.checkbox(f"yes, delete {entry.name}", key=f"runs_sure_{entry.name}")
    if st.button("Delete", type="primary", disabled=not sure, key="runs_delete", icon=":material/delete:"):
        try:
            delete_agent(entry.path)
        except AgentFolderError as exc:
            st.error(plain(exc))
        else:
            ss.pop(f"runs_sure_{entry.name}", None)
            ss.runs_messages = [("success", f"Deleted **{plain(entry.name)}**.")]
            ss.runs_select_next = None
            st.rerun()
