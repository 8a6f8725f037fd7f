"""Train: pick an agent and a preset, move any hyperparameter, start, watch it learn live, stop."""

import streamlit as st

from pages._state import bind, chosen, owned_values, recall, remember
from pages._ui import (
    SUBMIT_ERRORS,
    bound_args,
    chart,
    engine_notice,
    ensure_routed,
    fill_train_setup,
    job_registry,
    job_status,
    my_latest_job,
    plain,
    pretrained_entries,
    q_inspector,
    quota_refusal,
    rerun_when_the_pace_changes,
    saved_evaluation,
    session_id,
    setup_link,
    show_gif,
    user,
)
from rl_core.artifacts.folders import AgentFolderError, RunNameError, check_run_name, default_run_name
from rl_core.artifacts.storage import read_metrics
from rl_core.classroom.ownership import active_job_limit, check_new_run, run_space
from rl_core.compute.workers import one_line
from rl_core.config import (
    BOUNDS,
    FIELD_NAMES,
    MAX_HIDDEN_LAYERS,
    MAX_HIDDEN_WIDTH,
    AgentConfig,
    ConfigError,
    field_help,
    field_label,
)
from rl_core.envinfo import DEFAULT_ENV, SUPPORTED_ENVS
from rl_core.learning.envs import env_spec
from rl_core.present.live import LIVE_CHARTS, LIVE_REPLAYS, live_tick_seconds
from rl_core.present.progress import first_estimate, progress_text, waiting_text
from rl_core.present.train_setup import (
    DEFAULT_WIDTH,
    LR_LOG_RANGE,
    closest_preset,
    config_from_widget_values,
    lr_from_log,
    lr_log,
    started_from,
)
from rl_core.present.verdict import metrics_verdict
from rl_core.presets import COURSE_ENV, PRESET_DESCRIPTIONS, PRESET_NAMES, config_from_query, config_to_query, preset

ensure_routed()

PRESETS_BY_KIND = {
    "deep": [p for p in PRESET_NAMES if p.startswith("deep")],
    "linear": [p for p in PRESET_NAMES if p.startswith("linear")],
}
DEFAULT_PRESET = {"deep": "deep-fast", "linear": "linear-fast"}
CHOICES = {  # slider stops; a preset's own value is always added
    "batch_size": [16, 32, 64, 128, 256, 512],
    "memory_size": [1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000],
    "freq_steps_train": [1, 2, 4, 8, 16, 32, 64, 128, 256],
    "freq_steps_update_target": [1, 10, 50, 100, 250, 500, 1_000, 2_000, 5_000],
    "n_steps_warm_up_memory": [32, 64, 128, 256, 500, 1_000, 2_000, 5_000, 10_000],
    "n_gradient_steps": [1, 2, 4, 8, 16, 32],
    "max_grad_norm": [0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0],
    "steps_epsilon_decay": [100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000],
}
WIDTH_ROWS = (MAX_HIDDEN_LAYERS + 1) // 2  # the hidden layers' widths: two columns of this many
WIDTHS = [w for w in (8, 16, 32, 64, 128, 256, 512, 1024) if w <= MAX_HIDDEN_WIDTH]

registry = job_registry()
engine_notice()
owner = session_id()
ss = st.session_state
if "train_job" not in ss and (latest := my_latest_job("training")) is not None:
    ss.train_job = latest.job_id  # a reload, a new tab or a new login comes back to the user's run


# Every choice below lives in keys this page owns (pages/_state.py), never only in a widget's key:
# a run that does not draw a widget (another page, an early stop) must not reset the setup.
def apply_preset(name: str) -> None:
    """Set every hyperparameter from a preset (keeps the chosen environment)."""
    fill_train_setup(preset(name, env_id=recall("hp_env_id", DEFAULT_ENV)), name)


def on_env_change() -> None:
    """A new environment brings its own stop target (CartPole's 500 means nothing on MountainCar)."""
    remember("hp_stop_at_reward", float(env_spec(recall("hp_env_id")).solved_reward))


def on_kind_change() -> None:
    apply_preset(DEFAULT_PRESET[recall("train_kind")])


def on_preset_change() -> None:
    apply_preset(recall("train_preset"))


def on_lr_slider() -> None:
    remember("hp_learning_rate", lr_from_log(recall("hp_lr_log")))


def on_lr_input() -> None:
    if recall("hp_learning_rate") > 0:
        remember("hp_lr_log", lr_log(recall("hp_learning_rate")))


def config_from_setup() -> AgentConfig:
    return config_from_widget_values(owned_values())


if not chosen("train_preset"):
    if st.query_params:  # a shared link: restore its whole setup, or say why not
        shared, shared_preset, notices = config_from_query(st.query_params.to_dict())
        fill_train_setup(shared, shared_preset)
        ss.train_link_notices = notices
    else:
        remember("hp_env_id", DEFAULT_ENV)
        apply_preset("deep-fast")

st.title(":material/model_training: Train an agent")
for notice in ss.pop("train_link_notices", []):
    st.warning("Shared link: " + plain(notice), icon=":material/link_off:")
SECTION_OF = {  # the settings' expanders, to name where a setting in error is and keep it open
    **dict.fromkeys(
        ("learning_rate", "discount_factor", "batch_size", "n_gradient_steps", "freq_steps_train", "max_grad_norm"),
        "Learning",
    ),
    **dict.fromkeys(("nn_hidden_layers", "normalize_state"), "Network"),
    **dict.fromkeys(("memory_size", "n_steps_warm_up_memory", "freq_steps_update_target"), "Memory and target network"),
    **dict.fromkeys(("epsilon_start", "epsilon_end", "steps_epsilon_decay"), "Exploration"),
}


def in_error(section: str, errors: dict[str, str]) -> bool:
    return any(SECTION_OF.get(f, "Run") == section for f in errors)


def error_for(field: str, errors: dict[str, str]) -> None:
    slot = st.empty()  # drawn on every run, error or not (see setup_panel)
    if field in errors:
        slot.error(errors[field], icon=":material/error:")


presenting = bool(ss.get("presentation"))  # a projector: settings tucked away, the run in front
settings, live_area = st.columns([1, 3] if presenting else [2, 3], gap="large")


# The settings are a fragment: moving a slider reruns them alone, not the live view beside them
# (a full Train page run is ~70 elements and two charts; in a class, settings changes were most of
# the web process's CPU, bench/RESULTS.md). Start reruns the whole page to show its run.
# Its layout is the same on every run: an element that only some setups show sits in an st.empty
# slot drawn on every run. Streamlit's frontend clears a fragment's leftover elements only after a
# run that finished normally; a run ended "early for rerun" (a live tick or another run waiting)
# left an element of the old layout on the page beside the new one (bench/stale_settings.py).
@st.fragment
def setup_panel() -> None:
    train_preset = recall("train_preset")
    train_kind = recall("train_kind")
    config = config_from_setup()
    # The address bar always holds the whole setup: copy it to share exactly this configuration.
    st.query_params.from_dict(config_to_query(config, train_preset))
    errors = config.errors()
    run_name_error = None
    if recall("train_run_name"):
        try:
            check_run_name(recall("train_run_name"))
        except RunNameError as exc:  # said beside the field; Start waits
            run_name_error = errors["run name"] = str(exc)
    base_preset = preset(train_preset, env_id=config.env_id)
    is_custom = config.to_dict() != base_preset.to_dict()
    job_id = ss.get("train_job")
    current = registry.snapshot(job_id) if job_id else None
    busy = current is not None and not current.done
    st.selectbox("Environment", SUPPORTED_ENVS, **bind("hp_env_id", on_change=on_env_change, options=SUPPORTED_ENVS))
    st.radio(
        "Agent",
        ["linear", "deep"],
        horizontal=True,
        format_func=lambda k: "Linear Q (no hidden layer)" if k == "linear" else "Deep Q (MLP)",
        **bind("train_kind", on_change=on_kind_change),
    )
    # a setup sent from elsewhere may have started from a preset of the other kind: it is listed too
    preset_options = sorted(set(PRESETS_BY_KIND[train_kind]) | {train_preset}, key=PRESET_NAMES.index)
    st.selectbox("Preset", preset_options, **bind("train_preset", on_change=on_preset_change))
    about = PRESET_DESCRIPTIONS[train_preset]
    if config.env_id != COURSE_ENV:
        about = (
            f"Tuned on CartPole-v1 (figures below are CartPole's); on {config.env_id} it is a starting point. {about}"
        )
    st.caption(about)

    # Start and Stop sit right under the choices that matter most, not under every setting.
    start_col, stop_col = st.columns(2)
    start_refused, busy_note, errors_note, custom_note = st.empty(), st.empty(), st.empty(), st.empty()
    if start_col.button(
        "Start",
        type="primary",
        disabled=bool(errors) or busy,
        key="train_start",
        icon=":material/play_arrow:",
        width="stretch",
        help="Train an agent with these settings",
    ):
        refusal = quota_refusal(check_new_run)
        try:
            if refusal:  # a class-mode quota: said like any other reason not to start
                raise ConfigError({"quota": refusal})
            ss.train_job = registry.submit(
                owner,
                config.validate(),
                name=recall("train_run_name") or default_run_name(config, train_preset, custom=is_custom),
                tensorboard=bool(recall("train_tensorboard")),
                preset=train_preset if not is_custom else f"custom from {train_preset}",
                active_limit=active_job_limit(user()),
                space=run_space(user()),
            )
            st.rerun()
        except SUBMIT_ERRORS as exc:
            start_refused.error("Cannot start: " + plain(exc))
    if stop_col.button(
        "Stop",
        disabled=not busy,
        key="train_stop",
        icon=":material/stop:",
        width="stretch",
        help="Stop now; the agent keeps what it learned so far",
    ):
        registry.stop(job_id)
        st.toast("Stopping: the agent keeps what it learned so far.")
    if busy:
        busy_note.caption(":material/info: A run is going: changes below apply to the **next** run.")
    if errors:
        where = ", ".join(f"{field_label(f) if f in FIELD_NAMES else f} ({SECTION_OF.get(f, 'Run')})" for f in errors)
        errors_note.warning(f"Fix to start: {where}. Each says why below it.")
    if is_custom:
        preset_values = base_preset.to_dict()
        changed = [k for k, v in config.to_dict().items() if preset_values[k] != v]
        custom_note.info(f"**custom**: started from `{train_preset}`, changed: {', '.join(changed)}")
    with st.popover("Share this setup", icon=":material/link:", width="stretch"):
        st.caption(
            "The address bar holds this whole setup. Copy the link (button at its right) and send it: "
            "it opens this exact configuration."
        )
        st.code(setup_link(config_to_query(config, train_preset)), language=None, wrap_lines=True)

    def choice(field: str) -> None:
        options = sorted({c for c in CHOICES[field] if BOUNDS[field].contains(c)} | {recall(f"hp_{field}")})
        st.select_slider(field_label(field), options=options, help=field_help(field), **bind(f"hp_{field}"))
        error_for(field, errors)

    with st.expander("Learning", expanded=not presenting or in_error("Learning", errors)):
        col_a, col_b = st.columns(2)
        col_a.slider(
            f"{field_label('learning_rate')} (log10)",
            *LR_LOG_RANGE,
            step=0.05,
            **bind("hp_lr_log", on_change=on_lr_slider),
            help="The same step size on a log scale: 1e-3 is -3",
        )
        col_b.number_input(
            field_label("learning_rate"),
            help=field_help("learning_rate"),
            format="%.3e",
            min_value=BOUNDS["learning_rate"].low,
            max_value=BOUNDS["learning_rate"].high,
            step=1e-4,
            **bind("hp_learning_rate", on_change=on_lr_input),
        )
        error_for("learning_rate", errors)
        st.slider(
            field_label("discount_factor"),
            **bound_args(BOUNDS["discount_factor"], float),
            **bind("hp_discount_factor"),
            format="%.3f",
            help=field_help("discount_factor"),
        )
        error_for("discount_factor", errors)
        for field in ("batch_size", "n_gradient_steps", "freq_steps_train", "max_grad_norm"):
            choice(field)
        col_c, col_d = st.columns(2)
        col_c.radio(field_label("loss"), ["mse", "huber"], horizontal=True, help=field_help("loss"), **bind("hp_loss"))
        col_d.toggle(field_label("double_dqn"), help=field_help("double_dqn"), **bind("hp_double_dqn"))
    with st.expander("Network", expanded=(train_kind == "deep" and not presenting) or in_error("Network", errors)):
        layers = st.empty()
        # two columns of MAX_HIDDEN_LAYERS / 2 slots each, layer i in column i % 2: always all drawn
        width_slots = [slot for col in st.columns(2) for slot in [col.empty() for _ in range(WIDTH_ROWS)]]
        if train_kind == "linear":
            layers.caption("A linear agent has no hidden layer: Q(s, a) = w_a · s + b_a.")
        else:
            layers.slider(
                field_label("nn_hidden_layers"),
                1,
                MAX_HIDDEN_LAYERS,
                help=field_help("nn_hidden_layers"),
                **bind("hp_layers_n"),
            )
            for i in range(int(recall("hp_layers_n"))):
                width = recall(f"hp_width_{i}", DEFAULT_WIDTH)
                width_slots[(i % 2) * WIDTH_ROWS + i // 2].select_slider(
                    f"width {i + 1}", options=sorted(set(WIDTHS) | {width}), **bind(f"hp_width_{i}", width)
                )
        error_for("nn_hidden_layers", errors)
        st.toggle(field_label("normalize_state"), help=field_help("normalize_state"), **bind("hp_normalize_state"))
    # a section holding a setting in error stays open: fixing one field never hides the other
    with st.expander("Memory and target network", expanded=in_error("Memory and target network", errors)):
        for field in ("memory_size", "n_steps_warm_up_memory", "freq_steps_update_target"):
            choice(field)
    with st.expander("Exploration", expanded=in_error("Exploration", errors)):
        for end in ("epsilon_start", "epsilon_end"):
            st.slider(field_label(end), **bound_args(BOUNDS[end], float), help=field_help(end), **bind(f"hp_{end}"))
            error_for(end, errors)
        choice("steps_epsilon_decay")
    with st.expander("Run", expanded=not presenting or in_error("Run", errors)):
        # one field a row where a half-width column would cut the label or the number
        st.number_input(field_label("seed"), **bound_args(BOUNDS["seed"]), help=field_help("seed"), **bind("hp_seed"))
        col_f, col_h = st.columns(2)
        for col, field in ((col_f, "n_episodes"), (col_h, "eval_episodes")):
            col.number_input(
                field_label(field), **bound_args(BOUNDS[field]), help=field_help(field), **bind(f"hp_{field}")
            )
        error_for("n_episodes", errors)
        st.number_input(
            field_label("eval_every_episodes"),
            help=field_help("eval_every_episodes"),
            **bound_args(BOUNDS["eval_every_episodes"]),
            **bind("hp_eval_every_episodes"),
        )
        error_for("eval_every_episodes", errors)
        st.toggle(field_label("keep_best"), help=field_help("keep_best"), **bind("hp_keep_best"))
        st.toggle("stop once an evaluation reaches a target", **bind("hp_stop_on"))
        stop_at = st.empty()
        if recall("hp_stop_on"):
            stop_at.number_input(
                field_label("stop_at_reward"),
                **bound_args(BOUNDS["stop_at_reward"], float),
                help=field_help("stop_at_reward"),
                **bind("hp_stop_at_reward"),
            )
        error_for("stop_at_reward", errors)
        st.text_input("run name (optional)", placeholder="e.g. my-first-deep-agent", **bind("train_run_name"))
        run_name_note = st.empty()
        if run_name_error:
            run_name_note.error(plain(run_name_error), icon=":material/error:")
        st.checkbox("also write TensorBoard logs (under runs/tensorboard/)", **bind("train_tensorboard"))


with settings:
    setup_panel()


def run_progress(snap) -> str:
    """The progress line; the run's first estimate of its total time is kept to hold it to."""
    key = f"_train_estimate_{snap.job_id}"
    if key not in ss and (total := first_estimate(snap.seconds, snap.eta_seconds, snap.episode)) is not None:
        ss[key] = total
    return progress_text(
        snap.episode, snap.config.n_episodes, snap.env_steps, snap.seconds, snap.eta_seconds, ss.get(key)
    )


def show_verdict(snap) -> None:
    """What the finished run's score means (rl_core.present.verdict), above what to do with it."""
    try:
        metrics = read_metrics(snap.saved_path)
    except (OSError, AgentFolderError):
        return
    verdict = metrics_verdict(
        metrics,
        snap.config,
        closest_preset(snap.config),
        started_from(snap.config).startswith("custom"),
        env_spec(snap.config.env_id).solved_reward,
    )
    if verdict is not None:  # a bordered note, not an alert: a weak result is not an error of the page
        icon = {"bad": ":material/sentiment_dissatisfied:", "good": ":material/verified:"}.get(
            verdict.level, ":material/insights:"
        )
        with st.container(border=True, key="train_verdict"):
            st.markdown(f"{icon} **What this score means.** " + " ".join(verdict.lines))


# On a phone the two columns stack, and the live view came ~2200 px below Start, under every
# setting: once there is a run to watch, its column goes first there (CSS order; wide screens keep
# the settings on the left).
LIVE_FIRST_ON_PHONES = """<div class="qlab-live-first"></div><style>
@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(.qlab-live-first) > [data-testid="stColumn"]:has(.qlab-live-first) {
    order: -1; }
}</style>"""

with live_area:
    st.subheader("Live training")
    job_id = ss.get("train_job")
    snap = registry.snapshot(job_id) if job_id else None
    if snap is not None:
        st.html(LIVE_FIRST_ON_PHONES)

    def live_replay(snap) -> None:
        """Presentation mode: what the greedy policy does now, played again as it learns."""
        try:
            replay = LIVE_REPLAYS.replay(
                snap.job_id, snap.q_version, lambda: registry.q_function(snap), snap.config.env_id, snap.config.seed
            )
        except Exception as exc:  # a replay must never take the live view down with it
            st.caption(f"No replay now: {plain(one_line(exc))}")
            return
        if replay is not None:
            show_gif(replay.gif, caption=replay.caption)

    @st.fragment(run_every=live_tick_seconds(snap.state) if snap is not None else None)
    def live_view() -> None:
        snap = registry.snapshot(ss.train_job)
        if snap is None:
            return
        large = bool(ss.get("presentation", False))
        solved = env_spec(snap.config.env_id).solved_reward

        def progress_line() -> None:
            st.markdown(f"**{snap.name}** · " + run_progress(snap))
            if snap.episode == 0:
                st.caption(waiting_text(snap.config, worker_started=snap.worker is not None))
            st.progress(min(1.0, snap.episode / snap.config.n_episodes))

        job_status(
            snap.state,
            snap.message,
            snap.queue_position,
            running=progress_line,
            queued_note=f" (at most {registry.max_running} trainings run at once on this server's CPUs)",
        )
        if snap.episodes:
            last = snap.episodes[-1]
            # rewards_chart, eps_loss_chart: built once per change of the job's data, for every
            # viewer of it (rl_core.present.live)
            rewards_chart, eps_loss_chart = LIVE_CHARTS.training(snap, solved, large=large)
            saved = saved_evaluation(snap.saved_path) if snap.done and snap.saved_path is not None else None
            if saved is not None:
                score = ("saved agent scores", f"{saved['mean']:.1f}")
                score_help = (
                    f"A fresh greedy evaluation of the saved weights over {saved.get('episodes', 'its')} episodes"
                )
            else:
                latest = snap.evaluations[-1].mean if snap.evaluations else None
                score = ("last evaluation", f"{latest:.1f}" if latest is not None else "-")
                score_help = "The latest greedy evaluation during training"
            if large:
                # one projector screen: the big reward chart; beside it, what the policy does now and
                # the key numbers (epsilon last: its own chart is just below)
                chart_area, side = st.columns([3, 1])
                with chart_area:
                    chart(rewards_chart, key="live_rewards")
                with side:
                    live_replay(snap)
                    st.metric("last episode reward", f"{last.reward:.0f}")
                    st.metric(*score, help=score_help)
                    st.metric("epsilon", f"{last.epsilon:.3f}")
            else:
                m1, m2, m3 = st.columns(3)
                m1.metric("last episode reward", f"{last.reward:.0f}")
                m2.metric("epsilon", f"{last.epsilon:.3f}")
                m3.metric(*score, help=score_help)
                chart(rewards_chart, key="live_rewards")
            chart(eps_loss_chart, key="live_eps_loss")
            q_function = registry.q_function(snap) if recall("train_show_q") else None
            if q_function is not None:
                q_inspector(q_function, snap.config.env_id, key="live_q", seed=snap.config.seed, live=not snap.done)
        rerun_when_the_pace_changes("train_last_state", snap.state)

    st.toggle("Look inside: the Q-function over two state dimensions, redrawn as it learns", **bind("train_show_q"))
    if snap is None:
        st.caption(
            "Set things up on the left and press **Start**. Charts appear here and update as it learns; "
            "the rest of the page stays usable."
        )
    else:
        ss.train_last_state = snap.state  # the pace this full run gave the fragment
        live_view()
        gone = snap.done and snap.saved_path is not None and not (snap.saved_path / "hparams.json").is_file()
        if gone:  # deleted or renamed on the Runs page since it finished
            st.warning(
                f"{plain(snap.name)} is no longer in the runs (deleted or renamed since it finished): "
                "find it under its new name on the Runs page, or train it again.",
                icon=":material/folder_off:",
            )
        elif snap.done and snap.saved_path is not None:
            show_verdict(snap)
            st.markdown(f"Saved as **{snap.name}**: find it in *Evaluate & replay* and *Compare*.")
            go_compare, go_eval = st.columns(2)
            pretrained = next((e for e in pretrained_entries() if e.env_id == snap.config.env_id), None)
            if go_compare.button(
                "Compare with pretrained",
                type="primary",
                key="train_compare",
                icon=":material/compare:",
                disabled=pretrained is None,
                help=None if pretrained else f"no pretrained agent for {snap.config.env_id}",
            ):
                ss.compare_selection = [str(pretrained.path), str(snap.saved_path)]
                st.switch_page("pages/compare.py")
            if go_eval.button("Evaluate & replay it", key="train_evaluate", icon=":material/movie:"):
                ss.evaluate_selection = str(snap.saved_path)
                st.switch_page("pages/evaluate.py")

    mine = registry.snapshots(owner, kind="training")
    if len(mine) > 1:
        with st.expander(f"Your runs since the server started ({len(mine)})"):
            for s in reversed(mine):
                where = f" (queue position {s.queue_position})" if s.state == "queued" else ""
                st.write(f"- **{s.name}**: {s.state}{where}, {s.episode} episodes, {s.seconds:.0f} s")
