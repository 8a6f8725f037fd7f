"""Evaluate & replay: any agent over many episodes, its reward distribution, and GIFs of its episodes."""

from pathlib import Path

import pandas as pd
import streamlit as st

from pages._state import bind, recall, remember
from pages._ui import (
    agent_entries,
    bound_args,
    chart,
    ensure_routed,
    entry_label,
    episode_steps,
    evaluation,
    load,
    plain,
    q_inspector,
    quota_refusal,
    replay_gif,
    show_gif,
    user,
)
from rl_core.artifacts.folders import AgentFolderError
from rl_core.artifacts.storage import read_history
from rl_core.artifacts.zips import MAX_UPLOAD_BYTES, agent_zip_bytes, import_agent_zip
from rl_core.classroom.ownership import can_manage, check_upload, quotas, record_owner, upload_dir
from rl_core.config import APP_BOUNDS
from rl_core.envinfo import env_info
from rl_core.present.figures import reward_histogram
from rl_core.present.plots import training_figure
from rl_core.present.rendering import render_state

ensure_routed()

ss = st.session_state
st.title(":material/movie: Evaluate & replay")

me = user()
upload_limit = quotas(me).upload_bytes if quotas(me) else MAX_UPLOAD_BYTES
with st.expander("Upload an agent (.zip of an agent folder)"):
    upload = st.file_uploader(
        "agent zip", type=["zip"], key="eval_upload", max_upload_size=max(1, upload_limit // (1024 * 1024))
    )
    if upload is not None and ss.get("eval_upload_done") != upload.file_id:
        refusal = quota_refusal(check_upload, upload.size)
        try:
            if refusal:
                raise AgentFolderError(refusal)
            path = import_agent_zip(
                upload.getvalue(), upload_dir(me), name=f"uploaded-{Path(upload.name).stem}", max_bytes=upload_limit
            )
            record_owner(path, me)
            ss.evaluate_selection = str(path)
            st.success(f"Checked and added as **{plain(path.name)}**.")
        except (AgentFolderError, OSError) as exc:
            st.error(plain(exc))
        ss.eval_upload_done = upload.file_id

entries = agent_entries()
if not entries:
    st.warning("No agents yet: train one on the Train page, or rebuild the pretrained ones.")
    st.stop()
paths = [str(e.path) for e in entries]
if "evaluate_selection" in ss:  # sent by another page
    sent = ss.pop("evaluate_selection")
    if sent in paths:
        remember("eval_agent", sent)
    else:  # never silently another agent instead
        st.warning(f"{plain(Path(sent).name)} is gone (deleted or renamed): pick an agent below.")
labels = {str(e.path): entry_label(e) for e in entries}
chosen = st.selectbox("Agent", paths, format_func=labels.get, **bind("eval_agent", paths[0], options=paths))
entry = entries[paths.index(chosen)]

try:
    saved = load(entry.path)
except AgentFolderError as exc:
    st.error("This agent cannot be loaded: " + plain(exc))
    st.stop()
agent = saved.agent
config = agent.config
st.caption(
    f"{config.env_id} · {config.agent_kind} · {agent.n_parameters:,} parameters · "
    f"hidden layers {config.nn_hidden_layers or 'none'}"
)

st.header("Evaluation")
col_n, col_seed = st.columns(2)
n_episodes = col_n.slider("episodes", **bind("eval_n", 1000), **bound_args(APP_BOUNDS["eval_episodes"]))
seed = col_seed.number_input(
    "first episode's seed",
    **bind("eval_seed", 0),
    **bound_args(APP_BOUNDS["episode_seed"]),
    help="Episode i starts from reset(seed = this + i): same seed, same episodes",
)
# Filled at the end of the run: the replay and the step-through below are drawn (and usable) while
# a large agent's many episodes are still playing.
evaluation_area = st.container()

st.header("Replay an episode")
col_s, col_v = st.columns(2)
replay_seed = col_s.number_input(
    "episode seed", **bind("eval_replay_seed", int(seed)), **bound_args(APP_BOUNDS["episode_seed"])
)
speed = col_v.select_slider(
    "speed",
    options=[0.1, 0.25, 0.5, 1.0, 2.0],
    **bind("eval_speed", 1.0),
    format_func=lambda s: "real time" if s == 1.0 else f"{s}x",
)
if st.button("Render GIF", key="eval_render", icon=":material/gif:"):
    ss.eval_gif_request = (str(entry.path), int(replay_seed), float(speed))
request = ss.get("eval_gif_request")
if request and request[0] == str(entry.path):
    with st.spinner("Rendering..."):
        gif, steps, reward = replay_gif(Path(request[0]), seed=request[1], speed=request[2])
    show_gif(gif, caption=f"seed {request[1]}: {steps} steps, reward {reward:.0f}, speed {request[2]}x")
    st.download_button(
        "Download GIF", gif, file_name=f"{entry.name}-seed{request[1]}.gif", mime="image/gif", key="eval_download_gif"
    )

st.header("Step through an episode")
step_seed = int(
    st.number_input("episode seed", **bind("eval_step_seed", int(seed)), **bound_args(APP_BOUNDS["episode_seed"]))
)
steps_data = episode_steps(entry.path, step_seed)
last_step = max(0, len(steps_data["actions"]) - 1)
remember("eval_step", min(recall("eval_step", 0), last_step))  # another episode may be shorter
t = st.slider("step", 0, last_step, **bind("eval_step"))
frame_col, data_col = st.columns([3, 2])
frame_col.image(render_state(config.env_id, steps_data["states"][t]), caption=f"step {t}", width="stretch")
names = env_info(config.env_id).action_names
with data_col:
    st.dataframe(
        pd.DataFrame({"value": steps_data["states"][t]}, index=list(env_info(config.env_id).state_names)),
        width="stretch",
    )
    q = steps_data["q_values"][t]
    st.dataframe(pd.DataFrame({"Q": q}, index=list(names)), width="stretch")
    st.markdown(
        f"action taken: **{names[steps_data['actions'][t]]}** (Q gap {abs(float(q.max() - q.min())):.3f}); "
        f"episode reward {steps_data['reward']:.0f} in {len(steps_data['actions'])} steps"
    )
with st.expander("Look inside: policy and Q-values over two state dimensions"):
    q_inspector(agent, config.env_id, key="eval_q", seed=step_seed)

st.header("The agent")
if entry.source == "pretrained" or can_manage(me, entry.path):  # others' shared runs are read-only
    st.download_button(
        "Download agent (.zip)",
        agent_zip_bytes(entry.path),
        file_name=f"{entry.name}.zip",
        mime="application/zip",
        key="eval_download_zip",
    )
try:
    history = read_history(entry.path)
except AgentFolderError as exc:
    history = []
    st.error("Its training history cannot be shown: " + plain(exc))
solved_reward = env_info(config.env_id).solved_reward
if history:
    evaluations = saved.metrics.get("evaluations") or []
    chart(
        training_figure(history, evaluations, solved_reward=solved_reward, title="How it trained"),
        key="eval_history",
    )
with st.expander("Hyperparameters"):
    st.dataframe(
        pd.DataFrame({"value": [str(v) for v in config.to_dict().values()]}, index=list(config.to_dict())),
        width="stretch",
    )

with evaluation_area:
    with st.spinner(f"Playing {n_episodes} episodes..."):
        result = evaluation(entry.path, n_episodes, int(seed))
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("mean reward", f"{result.mean:.2f}")
    c2.metric("std", f"{result.std:.2f}")
    c3.metric("min", f"{result.min:.0f}")
    c4.metric("max", f"{result.max:.0f}")
    c5.metric(
        "solved share", f"{100 * result.solved_share:.1f}%", help=f"episodes with reward >= {result.solved_reward:g}"
    )
    st.caption(f"{result.n_episodes} greedy episodes in {result.seconds:.2f} s, all played at once.")
    chart(reward_histogram({entry.name: result.rewards}, solved_reward=result.solved_reward), key="eval_hist")
