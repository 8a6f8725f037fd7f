"""Runs: every trained agent on this server, kept across restarts; rename, delete, load back into Train."""

import time

import pandas as pd
import streamlit as st

from pages._ui import ensure_routed, fill_train_widgets
from rl_core.storage import AgentFolderError, delete_agent, list_agents, read_config, rename_agent, runs_dir

ensure_routed()

ss = st.session_state
st.title(":material/history: Runs")
st.caption(f"Every agent trained or uploaded on this server, from `{runs_dir()}`: they survive a restart.")

entries = sorted(list_agents([runs_dir()]), key=lambda e: e.path.stat().st_mtime, reverse=True)
if not entries:
    st.info("No runs yet: train an agent on the Train page.")
    st.stop()


def summary(entry) -> dict:
    m = entry.metrics
    best = m.get("best_evaluation") or {}
    when = m.get("trained_at") or time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(entry.path.stat().st_mtime))
    return {"run": entry.name, "env": entry.env_id, "kind": entry.agent_kind, "when": when,
            "episodes": m.get("episodes"), "training s": m.get("seconds"), "status": m.get("status"),
            "best evaluation": best.get("mean")}


st.dataframe(pd.DataFrame([summary(e) for e in entries]).set_index("run"), width="stretch")

names = [e.name for e in entries]
if "runs_select_next" in ss:  # set by rename/delete on the previous run of this page
    wanted = ss.pop("runs_select_next")
    ss.runs_chosen = wanted if wanted in names else names[0]
chosen = st.selectbox("Run", names, key="runs_chosen")
entry = entries[names.index(chosen)]
a, b, c = st.columns(3)
if a.button("Load its config into Train", icon=":material/model_training:", key="runs_load"):
    try:
        config = read_config(entry.path)
        fill_train_widgets(config, "deep-fast" if config.agent_kind == "deep" else "linear-fast")
        st.switch_page("pages/train.py")
    except AgentFolderError as exc:
        st.error(str(exc))
if b.button("Evaluate & replay", icon=":material/movie:", key="runs_evaluate"):
    ss.evaluate_selection = str(entry.path)
    st.switch_page("pages/evaluate.py")

with c.popover("Rename or delete", icon=":material/edit:"):
    new_name = st.text_input("new name", value=entry.name, key="runs_new_name")
    if st.button("Rename", key="runs_rename"):
        try:
            renamed = rename_agent(entry.path, new_name)
            ss.runs_select_next = renamed.name
            st.rerun()
        except AgentFolderError as exc:
            st.error(str(exc))
    sure = st.checkbox(f"yes, delete {entry.name}", key="runs_sure")
    if st.button("Delete", type="primary", disabled=not sure, key="runs_delete"):
        delete_agent(entry.path)
        ss.runs_select_next = None
        st.rerun()
