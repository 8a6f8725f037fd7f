"""Every page under Streamlit's AppTest: renders, has its main widgets, and the train-to-evaluate path works."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


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
    for field in ("learning_rate", "discount_factor", "batch_size", "memory_size", "freq_steps_train",
                  "freq_steps_update_target", "n_steps_warm_up_memory", "n_gradient_steps", "max_grad_norm",
                  "normalize_state", "epsilon_start", "epsilon_end", "steps_epsilon_decay", "seed", "n_episodes",
                  "loss", "double_dqn"):
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
    assert any(e.value == "upload: not a zip file" for e in at.error)
    assert list(runs_dir.iterdir()) == []


def test_compare_page_puts_agents_side_by_side(runs_dir):
    import shutil

    from rl_core.storage import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR / "cartpole-deep-q", runs_dir / "copy-of-deep")
    at = open_page("pages/compare.py")
    at.multiselect(key="compare_agents").set_value(
        [str(PRETRAINED_DIR / "cartpole-deep-q"), str(runs_dir / "copy-of-deep")]).run()
    at.slider(key="compare_n").set_value(20).run()
    assert not at.exception
    assert len(at.dataframe) == 1
    at.button(key="compare_render").click().run()
    assert len(at.image) == 2


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
    from rl_core.config import config_to_query, preset

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
    assert any("learning_rate" in w.value for w in at.warning)
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

    from rl_core.storage import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR / "cartpole-linear-q", runs_dir / "a-run")
    at = open_page("pages/runs.py")
    assert at.selectbox(key="runs_chosen").value == str(runs_dir / "a-run")
    at.text_input(key="runs_new_name").set_value("renamed-run").run()
    at.button(key="runs_rename").click().run()
    assert not at.exception and (runs_dir / "renamed-run").is_dir()
    assert at.selectbox(key="runs_chosen").value == str(runs_dir / "renamed-run")
    at.checkbox(key="runs_sure").check().run()
    at.button(key="runs_delete").click().run()
    assert not at.exception and not (runs_dir / "renamed-run").exists()
