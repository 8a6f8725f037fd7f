"""Compare: several agents on the same evaluation episodes, their training curves and replays."""

import pandas as pd
import streamlit as st

from pages._state import bind, remember
from pages._ui import (
    agent_entries,
    bound_args,
    chart,
    ensure_routed,
    entry_label,
    evaluation,
    load,
    plain,
    q_inspector,
    show_gif,
    side_by_side_replay,
)
from rl_core.artifacts.folders import AgentFolderError
from rl_core.artifacts.storage import read_history
from rl_core.config import APP_BOUNDS
from rl_core.present.figures import curves_figure, reward_histogram

ensure_routed()

ss = st.session_state
st.title(":material/compare: Compare agents")
entries = agent_entries()
paths = [str(e.path) for e in entries]
labels = {str(e.path): entry_label(e) for e in entries}
if "compare_selection" in ss:  # sent by another page
    remember("compare_agents", [p for p in ss.pop("compare_selection") if p in paths])
chosen = st.multiselect(
    "Agents",
    paths,
    format_func=labels.get,
    **bind("compare_agents", [p for p, e in zip(paths, entries) if e.source == "pretrained"][:2], options=paths),
    help="Agents of one environment: their rewards are on the same scale",
)
if len(chosen) < 2:
    st.info("Pick two or more agents to compare.")
    st.stop()
envs = sorted({entries[paths.index(p)].env_id for p in chosen})
if len(envs) > 1:
    st.error(
        f"These agents play different environments ({', '.join(envs)}): their rewards cannot share a "
        "chart. Keep the agents of one environment."
    )
    st.stop()

col_n, col_seed = st.columns(2)
n_episodes = col_n.slider(
    "episodes (the same for every agent)", **bind("compare_n", 1000), **bound_args(APP_BOUNDS["eval_episodes"])
)
seed = int(
    col_seed.number_input("first episode's seed", **bind("compare_seed", 0), **bound_args(APP_BOUNDS["episode_seed"]))
)

results, rows, histories, solved_reward = {}, [], {}, None
for path in chosen:
    entry = entries[paths.index(path)]
    try:
        saved = load(entry.path)
    except AgentFolderError as exc:
        st.error(plain(f"{entry.name}: {exc}"))
        continue
    result = evaluation(entry.path, n_episodes, seed)
    results[entry.name] = result.rewards
    solved_reward = result.solved_reward
    rows.append(
        {
            "agent": entry.name,
            "source": entry.source,
            "env": saved.agent.config.env_id,
            "kind": saved.agent.config.agent_kind,
            "parameters": saved.agent.n_parameters,
            "mean": round(result.mean, 2),
            "std": round(result.std, 2),
            "min": result.min,
            "max": result.max,
            "solved share": f"{100 * result.solved_share:.1f}%",
            "training seconds": saved.metrics.get("seconds"),
        }
    )
    try:
        history = read_history(entry.path)
    except AgentFolderError as exc:
        history = []
        st.error(plain(f"{entry.name}: {exc}"))
    if history:
        histories[entry.name] = history

st.dataframe(pd.DataFrame(rows).set_index("agent"), width="stretch")
chart(reward_histogram(results, solved_reward=solved_reward), key="compare_hist")
if histories:
    chart(curves_figure(histories, solved_reward=solved_reward), key="compare_curves")

st.header("Same episode, side by side")
replay_seed = int(
    st.number_input("episode seed", **bind("compare_replay_seed", seed), **bound_args(APP_BOUNDS["episode_seed"]))
)
if st.button("Render replays", key="compare_render", icon=":material/gif:"):
    ss.compare_gif_seed = replay_seed
if "compare_gif_seed" in ss:
    shown = [entries[paths.index(p)] for p in chosen]
    try:
        with st.spinner(f"Rendering {len(shown)} agents..."):
            gif, outcomes = side_by_side_replay(
                [e.path for e in shown], [e.name for e in shown], seed=ss.compare_gif_seed
            )
        show_gif(
            gif,
            caption=" · ".join(
                f"{e.name}: {steps} steps, reward {reward:.0f}" for e, (steps, reward) in zip(shown, outcomes)
            )
            + ". One GIF: the episodes start together; one that ends first holds its last frame.",
        )
    except AgentFolderError as exc:
        st.error(plain(exc))

st.header("Look inside")
inspect_path = st.selectbox(
    "agent", chosen, format_func=labels.get, **bind("compare_inspect", chosen[0], options=chosen)
)
try:
    inspected = load(entries[paths.index(inspect_path)].path).agent
    q_inspector(inspected, inspected.config.env_id, key="compare_q", seed=seed)
except AgentFolderError as exc:
    st.error(plain(exc))
