"""Every page under Streamlit's AppTest: renders, has its main widgets, and the train-to-evaluate path works."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rl_core.artifacts.folders import STORE_FOLDERS

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def finished(at: AppTest) -> bool:
    return any("finished" in s.value for s in at.success)


def rerun_until_finished(at: AppTest, timeout: float = 90) -> AppTest:
    """Rerun the page, as the browser's polling would, until a background job reports finished."""
    deadline = time.time() + timeout
    while time.time() < deadline and not finished(at):
        time.sleep(0.5)
        at.run()
    return at


def keys(at: AppTest, kind: str) -> set:
    return {w.key for w in getattr(at, kind)}


def test_home_shows_the_two_starts_and_plays_the_pretrained_gif(runs_dir):
    at = open_page("pages/home.py")
    assert {"watch_pretrained", "go_train"} <= keys(at, "button")
    at.button(key="watch_pretrained").click().run()
    assert not at.exception
    assert len(at.image) == 1  # the GIF, after one click


def test_environment_page_tables_and_baseline(runs_dir):
    at = open_page("pages/environment.py")
    assert at.selectbox(key="env_page_env").options == ["CartPole-v1", "MountainCar-v0", "Acrobot-v1"]
    assert len(at.dataframe) == 1
    assert any(m.label == "mean reward" for m in at.metric)
    at.selectbox(key="env_page_env").set_value("MountainCar-v0").run()
    assert not at.exception and len(at.dataframe) == 1


def test_train_page_has_every_hyperparameter_and_presets_fill_them(runs_dir):
    at = open_page("pages/train.py")
    widget_keys = set()
    for kind in ("slider", "select_slider", "number_input", "toggle", "radio", "selectbox"):
        widget_keys |= keys(at, kind)
    for field in (
        "learning_rate",
        "discount_factor",
        "batch_size",
        "memory_size",
        "freq_steps_train",
        "freq_steps_update_target",
        "n_steps_warm_up_memory",
        "n_gradient_steps",
        "max_grad_norm",
        "normalize_state",
        "epsilon_start",
        "epsilon_end",
        "steps_epsilon_decay",
        "seed",
        "n_episodes",
        "loss",
        "double_dqn",
    ):
        assert f"hp_{field}" in widget_keys, field
    assert "hp_width_0" in widget_keys and "hp_layers_n" in widget_keys
    at.selectbox(key="train_preset").set_value("deep-good").run()
    assert at.number_input(key="hp_learning_rate").value == pytest.approx(0.00016151809562265122)
    assert at.select_slider(key="hp_n_gradient_steps").value == 16
    assert at.number_input(key="hp_seed").value == 2386916045
    at.radio(key="train_kind").set_value("linear").run()
    assert at.selectbox(key="train_preset").value == "linear-fast"
    assert "hp_width_0" not in keys(at, "select_slider")


def test_moving_a_widget_marks_the_config_custom(runs_dir):
    at = open_page("pages/train.py")
    assert not any("custom" in i.value for i in at.info)
    at.select_slider(key="hp_batch_size").set_value(32).run()
    assert any("custom" in i.value and "batch_size" in i.value for i in at.info)


def test_invalid_combinations_show_next_to_the_widget_and_block_start(runs_dir):
    at = open_page("pages/train.py")
    at.select_slider(key="hp_batch_size").set_value(512).run()
    at.select_slider(key="hp_n_steps_warm_up_memory").set_value(256).run()
    messages = [e.value for e in at.error]
    assert any("n_steps_warm_up_memory must be >= batch_size (512)" in m for m in messages)
    assert at.button(key="train_start").disabled
    at.slider(key="hp_epsilon_start").set_value(0.1).run()
    at.slider(key="hp_epsilon_end").set_value(0.5).run()
    assert any("epsilon_end must be <= epsilon_start" in e.value for e in at.error)
    assert not at.exception


def test_a_tiny_training_finishes_and_appears_in_evaluate(runs_dir):
    at = open_page("pages/train.py")
    at.number_input(key="hp_n_episodes").set_value(3).run()
    at.text_input(key="train_run_name").set_value("apptest-run").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    rerun_until_finished(at)
    assert finished(at), [m.value for m in at.markdown]
    assert (runs_dir / "apptest-run" / "model.pt").is_file()
    assert {"train_compare", "train_evaluate"} <= keys(at, "button")
    # a finished run's page offers the pretrained agent without reading every user's runs (with a
    # class's runs in the store, that listing on every rerun was a third of the web process's time)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pages._ui.visible_agents", lambda user: pytest.fail("the Train page listed the whole store"))
        at.run()
        assert not at.exception and not at.button(key="train_compare").disabled
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception
    options = at.selectbox(key="eval_agent").options
    assert any("apptest-run" in o for o in options)


def test_evaluate_page_evaluates_and_renders(runs_dir):
    at = open_page("pages/evaluate.py")
    assert "cartpole-deep-q" in at.selectbox(key="eval_agent").value
    at.slider(key="eval_n").set_value(50).run()
    mean = next(m for m in at.metric if m.label == "mean reward")
    assert float(mean.value) == 500.0
    frames_before = len(at.image)  # the step-through view's frame
    at.button(key="eval_render").click().run()
    assert not at.exception and len(at.image) == frames_before + 1
    assert {"eval_download_gif", "eval_download_zip"} <= {b.key for b in at.get("download_button")}


def test_a_bad_upload_is_refused_with_one_line(runs_dir):
    at = open_page("pages/evaluate.py")
    at.file_uploader(key="eval_upload").upload("agent.zip", b"not a zip", "application/zip").run()
    assert not at.exception
    assert any(e.value.replace("\\", "") == "upload: not a zip file" for e in at.error)  # shown escaped
    assert {p.name for p in runs_dir.iterdir()} <= STORE_FOLDERS  # nothing of the upload was kept


def test_compare_page_puts_agents_side_by_side(runs_dir):
    import shutil

    from rl_core.artifacts.folders import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR / "cartpole-deep-q", runs_dir / "copy-of-deep")
    at = open_page("pages/compare.py")
    at.multiselect(key="compare_agents").set_value(
        [str(PRETRAINED_DIR / "cartpole-deep-q"), str(runs_dir / "copy-of-deep")]
    ).run()
    at.slider(key="compare_n").set_value(20).run()
    assert not at.exception
    assert len(at.dataframe) == 1
    at.button(key="compare_render").click().run()
    assert len(at.image) == 1  # one GIF: both episodes side by side, starting together
    caption = at.image[0].proto.imgs[0].caption.replace("\\", "")  # escaped for Markdown
    assert "cartpole-deep-q: 500 steps" in caption and "copy-of-deep: 500 steps" in caption


def test_compare_refuses_agents_of_different_environments(runs_dir):
    from rl_core.artifacts.folders import PRETRAINED_DIR

    at = open_page("pages/compare.py")
    at.multiselect(key="compare_agents").set_value(
        [str(PRETRAINED_DIR / "cartpole-deep-q"), str(PRETRAINED_DIR / "mountaincar-linear-q")]
    ).run()
    assert not at.exception
    assert any("different environments" in e.value for e in at.error)
    assert len(at.dataframe) == 0  # no shared table or histogram


def test_imitation_page_generates_data_and_trains_a_tiny_model(runs_dir):
    at = open_page("pages/imitation.py")
    assert len(at.dataframe) == 1
    assert {"imit_dl_train", "imit_dl_test"} <= {b.key for b in at.get("download_button")}
    at.multiselect(key="imit_archs").set_value(["linear"]).run()
    at.slider(key="imit_epochs").set_value(2).run()
    at.button(key="imit_start").click().run()
    rerun_until_finished(at)
    assert finished(at)
    assert len(at.dataframe) == 2  # the preview and the results table
    at.number_input(key="imit_test_seed").set_value(0).run()
    assert any("must differ" in e.value for e in at.error)


def test_tune_page_runs_a_tiny_study(runs_dir):
    at = open_page("pages/tune.py")
    at.text_input(key="tune_study").set_value("apptest-study").run()
    at.multiselect(key="tune_params_focused").set_value(["learning_rate"]).run()
    at.number_input(key="tune_trials").set_value(2).run()
    at.number_input(key="tune_episodes").set_value(10).run()
    at.number_input(key="tune_eval_episodes").set_value(10).run()
    at.button(key="tune_start").click().run()
    rerun_until_finished(at, timeout=120)
    assert finished(at), [e.value for e in at.error]
    assert len(at.dataframe) >= 1
    assert (runs_dir / "tuning" / "apptest-study" / "trial-0001" / "model.pt").is_file()
    at.button(key="tune_to_compare").click().run()  # the best trial's agent arrives in Compare, chosen
    assert not at.exception
    chosen = at.multiselect(key="compare_agents").value
    assert len(chosen) == 2 and any("apptest-study/trial-" in label for label in chosen)


class OneSeedSweep:
    """A job registry holding one seed sweep, two of its three seeds done, the last one asked first."""

    max_running = 2

    def snapshot(self, job_id):
        from rl_core.compute.jobs import JobState, SeedsSnapshot

        if job_id != "sweep":
            return None
        rows = [
            {"seed": seed, "mean": mean, "std": 0.0, "solved_share": 0.0, "train_seconds": 1.0, "episodes": 3}
            for seed, mean in ((7, 70.0), (4, 40.0))
        ]
        status = dict(job_id="sweep", name="seed sensitivity", owner="local", state=JobState.RUNNING, updated_at=0.0)
        return SeedsSnapshot(**status, message="2 of 3 seeds done", queue_position=None, rows=rows, n_seeds=3,
                             seeds=[4, 2, 7])  # fmt: skip

    def snapshots(self, owner=None, kind=None):
        return []


def test_tune_page_lists_seeds_as_asked_not_as_they_finished(runs_dir, monkeypatch):
    import pages._ui

    monkeypatch.setattr(pages._ui, "job_registry", OneSeedSweep)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.session_state["seeds_job"] = "sweep"
    at.switch_page("pages/tune.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[-1].value
    assert list(table.index) == [4, 7] and list(table["mean"]) == [40.0, 70.0]


def test_tune_page_flags_an_empty_search_space(runs_dir):
    at = open_page("pages/tune.py")
    at.multiselect(key="tune_params_focused").set_value([]).run()
    assert any("search space is empty" in e.value for e in at.error)
    assert at.button(key="tune_start").disabled


def test_presentation_mode_is_one_switch_remembered_across_pages(runs_dir):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert at.toggle(key="presentation_toggle").value is False
    at.toggle(key="presentation_toggle").set_value(True).run()
    assert at.session_state["presentation"] is True
    at.switch_page("pages/train.py").run()
    assert not at.exception and at.session_state["presentation"] is True
    # settings are tucked away on Train while presenting
    assert not any(e.proto.expanded for e in at.expander if e.label in ("Learning", "Run"))
    at.switch_page("pages/evaluate.py").run()
    assert not at.exception and at.session_state["presentation"] is True


def test_a_shared_link_restores_the_train_setup(runs_dir):
    from rl_core.presets import config_to_query, preset

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(config_to_query(preset("deep-good", seed=77, batch_size=64), "deep-good"))
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception and not at.warning
    assert at.selectbox(key="train_preset").value == "deep-good"
    assert at.number_input(key="hp_seed").value == 77
    assert at.select_slider(key="hp_batch_size").value == 64
    assert any("custom" in i.value for i in at.info)


def test_a_bad_link_falls_back_with_a_notice(runs_dir):
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"preset": "deep-fast", "learning_rate": "fast", "batch_size": "-3"})
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert any("learning_rate" in w.value.replace("\\", "") for w in at.warning)  # shown escaped
    assert at.number_input(key="hp_learning_rate").value == pytest.approx(2.5e-3)


def test_the_q_function_is_shown_during_and_after_training(runs_dir):
    at = open_page("pages/train.py")
    at.toggle(key="train_show_q").set_value(True).run()
    at.number_input(key="hp_n_episodes").set_value(3).run()
    at.button(key="train_start").click().run()
    rerun_until_finished(at)
    assert not at.exception
    assert at.selectbox(key="live_q_x").value == 2 and at.selectbox(key="live_q_y").value == 3


def test_evaluate_page_steps_through_an_episode(runs_dir):
    at = open_page("pages/evaluate.py")
    at.slider(key="eval_n").set_value(20).run()
    at.slider(key="eval_step").set_value(10).run()
    assert not at.exception
    assert any("action taken" in m.value for m in at.markdown)
    assert len(at.image) >= 1  # the frame of step 10


def test_runs_page_lists_renames_and_deletes(runs_dir):
    import shutil

    from rl_core.artifacts.folders import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR / "cartpole-linear-q", runs_dir / "a-run")
    at = open_page("pages/runs.py")
    assert at.selectbox(key="runs_chosen").value == str(runs_dir / "a-run")
    at.text_input(key="runs_new_name_a-run").set_value("renamed-run").run()
    at.button(key="runs_rename").click().run()
    assert not at.exception and (runs_dir / "renamed-run").is_dir()
    assert at.selectbox(key="runs_chosen").value == str(runs_dir / "renamed-run")
    assert any("Renamed **a-run** to **renamed-run**" in m.value.replace("\\", "") for m in at.success)
    at.checkbox(key=f"runs_sure_{runs_dir / 'renamed-run'}").check().run()
    at.button(key="runs_delete").click().run()
    assert not at.exception and not (runs_dir / "renamed-run").exists()


def element_order(at: AppTest) -> list:
    """Every element of the page in the order it is drawn (depth first)."""
    order = []

    def walk(node) -> None:
        order.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    return order


def copy_agent(source: str, dest) -> None:
    import shutil

    from rl_core.artifacts.folders import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR / source, dest, ignore=shutil.ignore_patterns("replay.*"))


def test_every_page_is_routed_by_app_py(runs_dir):
    """With a pages/ folder, Streamlit (and AppTest on every run) would run a page file on its own:
    each page must send itself through app.py, which draws the presentation switch."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    pages = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("[!_]*.py"))
    assert len(pages) == 9
    for path in pages:
        at.switch_page(path).run()
        assert not at.exception, (path, [e.value for e in at.exception])
        assert "presentation_toggle" in keys(at, "toggle"), f"{path} ran without app.py"


def test_deleting_a_run_says_so_and_never_arms_the_next_one(runs_dir):
    copy_agent("cartpole-linear-q", runs_dir / "first-run")
    copy_agent("cartpole-linear-q", runs_dir / "second-run")
    at = open_page("pages/runs.py")
    chosen = at.selectbox(key="runs_chosen").value  # a run's path
    other = str(({runs_dir / "first-run", runs_dir / "second-run"} - {Path(chosen)}).pop())
    assert at.button(key="runs_delete").disabled
    at.checkbox(key=f"runs_sure_{chosen}").check().run()
    assert not at.button(key="runs_delete").disabled
    at.button(key="runs_delete").click().run()
    assert not at.exception and not Path(chosen).exists()
    assert any(f"Deleted **{Path(chosen).name}**" in m.value.replace("\\", "") for m in at.success)
    assert at.selectbox(key="runs_chosen").value == other
    assert at.checkbox(key=f"runs_sure_{other}").value is False
    assert at.button(key="runs_delete").disabled  # a second click deletes nothing
    assert Path(other).is_dir()


def test_a_renamed_run_says_what_its_name_became(runs_dir):
    copy_agent("cartpole-linear-q", runs_dir / "my-run")
    at = open_page("pages/runs.py")
    at.text_input(key="runs_new_name_my-run").set_value("my stopped run!").run()
    at.button(key="runs_rename").click().run()
    assert (runs_dir / "my-stopped-run").is_dir()
    shown = [m.value.replace("\\", "") for m in at.info]
    assert any("'my stopped run!'" in text and "'my-stopped-run'" in text for text in shown)


def test_agents_are_labelled_by_their_saved_weights_not_their_best_evaluation(runs_dir):
    import json

    copy_agent("cartpole-linear-q", runs_dir / "lucky-once")
    metrics_path = runs_dir / "lucky-once" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["best_evaluation"]["mean"] = 462.1  # once, during training
    metrics["restored_best"] = False
    metrics["final_evaluation"] = {
        "episodes": 100,
        "seed": 0,
        "mean": 9.37,
        "std": 1.0,
        "min": 8.0,
        "max": 12.0,
        "solved_share": 0.0,
    }
    metrics_path.write_text(json.dumps(metrics))
    at = open_page("pages/evaluate.py")
    label = next(o for o in at.selectbox(key="eval_agent").options if "lucky-once" in o)
    assert "9.4" in label and "462" not in label
    at.switch_page("pages/runs.py").run()
    table = at.dataframe[0].value
    assert table.loc["lucky-once", "scores"] == pytest.approx(9.37)


def test_a_finished_run_shows_and_records_its_saved_weights_score(runs_dir):
    import json

    at = open_page("pages/train.py")
    at.number_input(key="hp_n_episodes").set_value(3).run()
    at.text_input(key="train_run_name").set_value("scored-run").run()
    at.button(key="train_start").click().run()
    rerun_until_finished(at)
    final = json.loads((runs_dir / "scored-run" / "metrics.json").read_text())["final_evaluation"]
    assert final["episodes"] == 100
    shown = next(m for m in at.metric if m.label == "saved agent scores")
    assert float(shown.value) == pytest.approx(final["mean"], abs=0.05)
    assert not any(m.label == "best evaluation" for m in at.metric)
    # and says what that score means: 3 episodes of deep-fast learn nothing, so no better than random
    verdict = next(m.value for m in at.markdown if "What this score means" in m.value)
    assert f"scores {final['mean']:.1f}" in verdict and "random agent" in verdict


def test_tuning_trials_are_in_every_picker(runs_dir):
    (runs_dir / "tuning" / "study-a").mkdir(parents=True)
    copy_agent("cartpole-linear-q", runs_dir / "tuning" / "study-a" / "trial-0003")
    at = open_page("pages/evaluate.py")
    assert any("study-a/trial-0003" in o for o in at.selectbox(key="eval_agent").options)
    at.switch_page("pages/compare.py").run()
    assert any("tuning / study-a/trial-0003" in o for o in at.multiselect(key="compare_agents").options)


def test_start_is_within_reach_above_every_setting(runs_dir):
    at = open_page("pages/train.py")
    order = element_order(at)
    position = {getattr(e, "key", None) or getattr(e, "label", None): i for i, e in enumerate(order)}
    assert position["train_start"] < position["Learning"] < position["Run"]
    assert position["train_start"] < position["hp_learning_rate"]
    assert position["hp_env_id"] < position["train_preset"] < position["train_start"]


def test_during_a_run_the_page_says_changes_apply_to_the_next_run(runs_dir):
    at = open_page("pages/train.py")
    at.number_input(key="hp_n_episodes").set_value(100_000).run()
    at.toggle(key="hp_stop_on").set_value(False).run()
    assert not any("next** run" in c.value for c in at.caption)
    at.button(key="train_start").click().run()
    try:
        assert any("next** run" in c.value for c in at.caption)
        assert at.button(key="train_start").disabled and not at.button(key="train_stop").disabled
    finally:
        at.button(key="train_stop").click().run()


def test_another_environment_brings_its_own_stop_target_and_note(runs_dir):
    at = open_page("pages/train.py")
    assert at.number_input(key="hp_stop_at_reward").value == 500
    at.selectbox(key="hp_env_id").set_value("MountainCar-v0").run()
    assert at.number_input(key="hp_stop_at_reward").value == -199
    assert any("Tuned on CartPole-v1" in c.value for c in at.caption)
    at.switch_page("pages/environment.py").run()
    at.selectbox(key="env_page_env").set_value("MountainCar-v0").run()
    text = " ".join(m.value for m in at.markdown)
    assert "CartPole's two velocities" not in text and "position in [-1.2, 0.6]" in text


def test_the_setup_link_is_offered_to_copy(runs_dir):
    at = open_page("pages/train.py")
    at.select_slider(key="hp_batch_size").set_value(64).run()
    link = at.code[0].value
    assert "preset=deep-fast" in link and "batch_size=64" in link and "seed=0" in link
    assert dict(at.query_params)["batch_size"] == ["64"] or at.query_params["batch_size"] in ("64", ["64"])


def test_loading_a_course_run_into_train_names_its_own_preset(runs_dir):
    from rl_core.artifacts.storage import save_agent
    from rl_core.learning.agent import QAgent
    from rl_core.presets import preset

    save_agent(QAgent(preset("deep-good")), runs_dir / "course-run")
    at = open_page("pages/runs.py")
    at.button(key="runs_load").click().run()
    assert not at.exception
    assert at.selectbox(key="train_preset").value == "deep-good"
    assert not any("custom" in i.value for i in at.info)


def _live_heatmap_script():
    """A page holding the live Q inspector over whichever weights the test put in the session."""
    import streamlit as st

    from pages._ui import q_inspector

    q_inspector(st.session_state.weights, "CartPole-v1", key="t", live=st.session_state.live)


def heatmap_z(at: AppTest) -> list:
    import json

    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["z"]


def test_the_live_heatmap_is_redrawn_at_most_every_few_seconds(monkeypatch):
    """New weights arrive twice a second while training: redrawing the heatmap for each cost every
    click on the Train page about a second (bench/app_latency.py --heatmap)."""
    import pages._ui as ui
    from rl_core.learning.agent import QAgent
    from rl_core.presets import preset

    first, second = (QAgent(preset("linear-fast", seed=s)) for s in (0, 1))
    at = AppTest.from_function(_live_heatmap_script, default_timeout=60)
    at.session_state.weights, at.session_state.live = first, True
    at.run()
    drawn = heatmap_z(at)
    at.session_state.weights = second
    at.run()
    assert heatmap_z(at) == drawn  # too soon: the figure of the first weights is shown again
    monkeypatch.setattr(ui, "LIVE_HEATMAP_SECONDS", 0.0)
    at.run()
    assert heatmap_z(at) != drawn  # due: the second weights are drawn
    monkeypatch.setattr(ui, "LIVE_HEATMAP_SECONDS", 3600.0)
    at.session_state.weights, at.session_state.live = first, False
    at.run()
    final = heatmap_z(at)
    at.session_state.weights = second
    at.run()
    assert heatmap_z(at) != final  # a finished run's heatmap follows its weights at once


def test_the_apps_fields_take_their_ranges_from_the_config(runs_dir, monkeypatch):
    """Each limit is set once, in rl_core/config.py: change it there and the widgets follow."""
    from rl_core.config import APP_BOUNDS, BOUNDS, Bound

    monkeypatch.setitem(APP_BOUNDS, "eval_episodes", Bound(10, 2000, step=20))
    monkeypatch.setitem(APP_BOUNDS, "episode_seed", Bound(0, 12345))
    monkeypatch.setitem(APP_BOUNDS, "trials", Bound(1, 70))
    monkeypatch.setitem(BOUNDS, "seed", Bound(0, 999))
    at = open_page("pages/evaluate.py")
    assert (at.slider(key="eval_n").max, at.slider(key="eval_n").step) == (2000, 20)
    assert at.number_input(key="eval_seed").max == 12345
    at.switch_page("pages/compare.py").run()
    assert at.slider(key="compare_n").max == 2000 and at.number_input(key="compare_seed").max == 12345
    at.switch_page("pages/tune.py").run()
    assert at.number_input(key="tune_trials").max == 70
    at.switch_page("pages/imitation.py").run()
    assert at.number_input(key="imit_seed").max == 999
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="hp_seed").max == 999


def test_the_replay_is_drawn_before_the_evaluation_plays(runs_dir, monkeypatch):
    """The evaluation's episodes are played last in the run: a slow one never holds back the replay
    and the step-through (here it fails, and they are there all the same)."""
    import pages._ui

    def still_playing(*args, **kwargs):
        raise RuntimeError("the evaluation is still playing")

    monkeypatch.setattr(pages._ui, "evaluation", still_playing)
    at = open_page_allowing_errors("pages/evaluate.py")
    assert any("still playing" in e.value for e in at.exception)
    assert "eval_render" in keys(at, "button") and "eval_step" in keys(at, "slider")
    assert "eval_download_zip" in {b.key for b in at.get("download_button")}


def open_page_allowing_errors(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    return at


def test_the_stop_target_survives_being_switched_off_and_on(runs_dir):
    """Issue 23 #9: switched off then on, the target came back as −1000 (the widget's minimum) or
    raised AttributeError; it must come back as it was, on every environment."""
    at = open_page("pages/train.py")
    at.number_input(key="hp_stop_at_reward").set_value(420.0).run()
    for _ in range(2):
        at.toggle(key="hp_stop_on").set_value(False).run()
        assert not at.exception, [e.value for e in at.exception]
        assert "hp_stop_at_reward" not in [n.key for n in at.number_input]
        at.toggle(key="hp_stop_on").set_value(True).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.number_input(key="hp_stop_at_reward").value == 420.0
    at.selectbox(key="hp_env_id").set_value("Acrobot-v1").run()
    at.toggle(key="hp_stop_on").set_value(False).run()
    at.toggle(key="hp_stop_on").set_value(True).run()
    assert not at.exception and at.number_input(key="hp_stop_at_reward").value == -100
