"""Tune: search hyperparameters with Optuna in the background, and see how much the seed matters."""

from pathlib import Path

import pandas as pd
import streamlit as st

from pages._state import bind
from pages._ui import (
    PRETRAINED_DEEP,
    SUBMIT_ERRORS,
    bound_args,
    chart,
    engine_notice,
    ensure_routed,
    fill_train_setup,
    find_entry,
    job_registry,
    job_status,
    my_latest_job,
    plain,
    pretrained_entries,
    quota_refusal,
    rerun_when_the_pace_changes,
    session_id,
    user,
)
from rl_core.classroom.ownership import (
    active_job_limit,
    can_view_study,
    check_seeds,
    check_trials,
    study_label,
    study_name_for,
)
from rl_core.compute.studies import (
    SPACES,
    ParamSpec,
    TuningSetup,
    list_studies,
    load_or_create_study,
    parse_seed_list,
    storage_description,
    trials_table,
)
from rl_core.compute.tuning import SeedsJob, TuningJob, ordered_rows
from rl_core.config import APP_BOUNDS, STUDY_TICK_SECONDS
from rl_core.envinfo import env_info
from rl_core.present.figures import seeds_figure
from rl_core.present.live import LIVE_CHARTS, live_tick_seconds, study_charts, trials_key
from rl_core.presets import PRESET_NAMES, preset

ensure_routed()

ss = st.session_state
registry = job_registry()
engine_notice()
owner = session_id()
if "tune_job" not in ss and (latest := my_latest_job("tuning")) is not None:  # back after a reload
    ss.tune_job, ss.tune_study_running = latest.job_id, latest.study
    ss.tune_viewing = latest.study
if "seeds_job" not in ss and (latest := my_latest_job("seeds")) is not None:
    ss.seeds_job = latest.job_id
st.title(":material/tune: Tune")
st.markdown(
    "Hand-tuning a Q agent is slow and misleading: one good run can be a lucky seed. Here an Optuna study "
    "samples hyperparameters from a search space, trains an agent for each *trial*, prunes trials whose "
    "periodic evaluations trail the others, and keeps every trial's agent. Then check the winner on other seeds."
)

st.header("1. A study")
c1, c2 = st.columns(2)
study_name = c1.text_input("study name", **bind("tune_study", "cartpole-deep"))
kind = c2.radio("agent", ["deep", "linear"], horizontal=True, **bind("tune_kind", "deep"))
base = "deep-fast" if kind == "deep" else "linear-fast"
st.caption(
    f"What is not searched comes from `{base}`. Studies are stored in {storage_description()}; from the "
    "command line, any Optuna storage URL (PostgreSQL) lets several machines share one."
)
space_name = st.radio(
    "search space",
    list(SPACES),
    horizontal=True,
    **bind("tune_space", next(iter(SPACES))),
    format_func={"focused": "ours (around deep-fast)", "course": "the course's"}.get,
)
base_space = SPACES[space_name]
chosen = st.multiselect(
    "hyperparameters to search",
    list(base_space),
    # the seed is not a hyperparameter to tune: a study "finding" a lucky seed teaches nothing
    **bind(f"tune_params_{space_name}", [p for p in base_space if p != "seed"], options=list(base_space)),
    help="seed is left out by default: searching it finds lucky seeds, not better settings",
)
space: dict[str, ParamSpec] = {}
errors: list[str] = []
with st.expander("ranges", expanded=False):
    for name in chosen:
        spec = base_space[name]
        if spec.kind == "categorical":
            offered = list(spec.choices)
            picked = st.multiselect(name, offered, **bind(f"tune_choice_{name}", offered, options=offered))
            space[name] = ParamSpec("categorical", choices=tuple(picked))
        else:
            lo_col, hi_col = st.columns(2)
            fmt = "%.2e" if spec.kind == "loguniform" else ("%d" if spec.kind == "int" else "%.3f")
            cast = int if spec.kind == "int" else float
            low = lo_col.number_input(f"{name} low", format=fmt, **bind(f"tune_low_{name}", cast(spec.low)))
            high = hi_col.number_input(f"{name} high", format=fmt, **bind(f"tune_high_{name}", cast(spec.high)))
            space[name] = ParamSpec(spec.kind, low, high)
        try:
            space[name].check(name)
        except ValueError as exc:
            errors.append(str(exc))
            st.error(plain(exc))
t1, t2, t3, t4, t5 = st.columns(5)
n_trials = t1.number_input("trials", **bind("tune_trials", 20), **bound_args(APP_BOUNDS["trials"]))
episodes = t2.number_input(
    "episodes per trial", **bind("tune_episodes", 200), **bound_args(APP_BOUNDS["trial_episodes"])
)
eval_episodes = t3.number_input(
    "evaluation episodes", **bind("tune_eval_episodes", 200), **bound_args(APP_BOUNDS["trial_eval_episodes"])
)
n_workers = t5.number_input(
    "trials at once",
    1,
    max(1, registry.max_running),
    **bind("tune_workers", 1),
    help="each trial trains on its own Ray worker, one CPU each",
)
target = t4.number_input("stop at", **bind("tune_target", 500.0))
setup = TuningSetup(
    study_name=study_name_for(user(), study_name),
    base_preset=base,
    space=space,
    episodes=int(episodes),
    eval_episodes=int(eval_episodes),
    target=float(target),
)
st.caption(
    f"Objective: each trial's score is the mean reward of a greedy evaluation of its agent over "
    f"{int(eval_episodes)} episodes after at most {int(episodes)} training episodes; the study maximises it "
    "(the optimisation history's y axis)."
)
try:
    setup.check()
except ValueError as exc:
    if str(exc) not in errors:
        errors.append(str(exc))
        st.error(plain(exc))

job_id = ss.get("tune_job")
snap = registry.snapshot(job_id) if job_id else None
busy = snap is not None and not snap.done
b1, b2 = st.columns(2)
if b1.button(
    "Run study", type="primary", icon=":material/play_arrow:", key="tune_start", disabled=busy or bool(errors)
):
    refusal = quota_refusal(check_trials, int(n_trials))
    try:
        if refusal:  # a class-mode quota: said like any other reason not to start
            raise ValueError(refusal)
        ss.tune_job = registry.add_checked(
            TuningJob(owner, setup, int(n_trials), workers=int(n_workers)), active_job_limit(user())
        )
        ss.tune_study_running = ss.tune_viewing = setup.study_name
        ss.tune_last_state = None
        st.rerun()
    except SUBMIT_ERRORS as exc:
        st.error("Cannot start: " + plain(exc))
if b2.button("Stop", icon=":material/stop:", key="tune_stop", disabled=not busy):
    registry.stop(job_id)
    st.toast("Stopping: trials still training are ended; finished ones are kept.")


me = user()
try:
    studies = [s for s in list_studies() if can_view_study(me, s.name)]
except ValueError as exc:
    studies = []
    st.error(plain(exc))
if studies:
    names = [s.name for s in studies]
    labels = {
        s.name: f"{study_label(me, s.name, s.owner)} · {s.n_trials} trials"
        + (f" · best {s.best_value:.1f}" if s.best_value is not None else "")
        for s in studies
    }
    viewing = ss.get("tune_viewing")
    # no key: the selection follows tune_viewing, which a new study also sets
    chosen = st.selectbox(
        "Open a study (yours" + (", and everyone's" if me.class_mode and me.is_instructor else "") + ")",
        names,
        index=names.index(viewing) if viewing in names else None,
        format_func=labels.get,
        placeholder="a study run here or from the command line",
    )
    if chosen is not None and chosen != viewing:
        ss.tune_viewing = chosen
        st.rerun()


@st.fragment(run_every=STUDY_TICK_SECONDS if busy else None)
def study_view() -> None:
    snap = registry.snapshot(ss.tune_job) if ss.get("tune_job") else None
    if snap is not None and ss.get("tune_study_running") != ss.tune_viewing:
        snap = None  # the running job's status goes with its own study
    if snap is not None:
        job_status(snap.state, snap.message, snap.queue_position)
    study = load_or_create_study(TuningSetup(study_name=ss.tune_viewing))
    started_from = study.user_attrs.get("base_preset", base)
    rows = trials_table(study)
    if rows:
        st.dataframe(pd.DataFrame(rows).set_index("trial"), width="stretch")
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if completed:
        large = bool(ss.get("presentation"))
        # built once per change of the study's trials, for every viewer (rl_core.present.live)
        charts = LIVE_CHARTS.memo(
            ("study", ss.tune_viewing, trials_key(study), large), lambda: study_charts(study, large)
        )
        chart(charts["history"], key="tune_history")
        if len(completed) >= 3:
            if isinstance(charts["importance"], str):
                st.caption(f"parameter importances not available yet: {charts['importance']}")
            else:
                chart(charts["importance"], key="tune_importance")
            chart(charts["parallel"], key="tune_parallel")
        best = study.best_trial
        st.markdown(f"**Best: trial {best.number}**, {best.value:.2f}")
        s1, s2 = st.columns(2)
        if s1.button("Send to Train", icon=":material/model_training:", key="tune_to_train"):
            fill_train_setup(preset(started_from, **best.params), started_from)
            st.switch_page("pages/train.py")
        agent_path = best.user_attrs.get("agent_path")
        have_agent = bool(agent_path) and Path(agent_path).is_dir()
        pretrained = find_entry(pretrained_entries(), PRETRAINED_DEEP, "pretrained")
        if s2.button(
            "Compare its agent",
            icon=":material/compare:",
            key="tune_to_compare",
            disabled=not have_agent or pretrained is None,
            help=None if have_agent else "this trial's agent is not on this server (run elsewhere, or deleted)",
        ):
            ss.compare_selection = [str(pretrained.path), agent_path]
            st.switch_page("pages/compare.py")
    if snap is not None:
        rerun_when_the_pace_changes("tune_last_state", snap.state)


if ss.get("tune_viewing"):
    if snap is not None:
        ss.tune_last_state = snap.state  # the pace this full run gave the fragment
    study_view()

st.header("2. How much does the seed matter?")
st.markdown(
    "Train one config on several seeds at once (one Ray worker per CPU) and look at the spread. "
    "The course's presets were each tuned on a single seed."
)
k1, k2, k3 = st.columns(3)
seeds_preset = k1.selectbox("config", PRESET_NAMES, **bind("seeds_preset", "deep-fast", options=PRESET_NAMES))
seeds_text = k2.text_input("seeds", **bind("seeds_text", "0-5"))
seeds_eval = k3.number_input(
    "evaluation episodes", **bind("seeds_eval", 200), **bound_args(APP_BOUNDS["trial_eval_episodes"])
)
seeds, seeds_error = [], None
try:
    seeds = parse_seed_list(seeds_text)  # refuses more than MAX_SEEDS before building the list
    check_seeds(user(), len(seeds))
except ValueError as exc:  # QuotaError included
    seeds_error = str(exc)
    st.error(plain(seeds_error))
seeds_job = ss.get("seeds_job")
seeds_snap = registry.snapshot(seeds_job) if seeds_job else None
seeds_busy = seeds_snap is not None and not seeds_snap.done
r1, r2 = st.columns(2)
if r1.button(
    "Train on these seeds",
    icon=":material/play_arrow:",
    key="seeds_start",
    disabled=seeds_busy or seeds_error is not None,
):
    try:
        ss.seeds_job = registry.add_checked(
            SeedsJob(owner, preset(seeds_preset), seeds, eval_episodes=int(seeds_eval)), active_job_limit(user())
        )
        ss.seeds_last_state = None
        st.rerun()
    except SUBMIT_ERRORS as exc:
        st.error("Cannot start: " + plain(exc))
if r2.button("Stop", icon=":material/stop:", key="seeds_stop", disabled=not seeds_busy):
    registry.stop(seeds_job)


@st.fragment(run_every=live_tick_seconds(seeds_snap.state) if seeds_busy else None)
def seeds_view() -> None:
    snap = registry.snapshot(ss.seeds_job)
    message = snap.message
    if snap.state == "running" and not snap.rows:
        message = (
            f"{message}: each seed trains in its own process, which first loads PyTorch (a few seconds); "
            "results appear here seed by seed"
        )
    job_status(snap.state, message, snap.queue_position)
    if snap.rows:
        rows = ordered_rows(snap.rows, snap.seeds)
        config = preset(seeds_preset)
        solved_at = env_info(config.env_id).tuning_solved_mean
        chart(seeds_figure(rows, solved_at=solved_at, large=bool(ss.get("presentation"))), key="seeds_plot")
        st.dataframe(pd.DataFrame(rows).set_index("seed"), width="stretch")
    rerun_when_the_pace_changes("seeds_last_state", snap.state)


if seeds_snap is not None:
    ss.seeds_last_state = seeds_snap.state  # the pace this full run gave the fragment
    seeds_view()
