"""Choices the pages keep: a setup changes only when the user changes it (pages/_state.py,
rl_core/present/train_setup.py).

Streamlit drops a widget's value on a run that does not draw it; these round trips (another page, a
run that stops half way) used to bring back presets' defaults or the widgets' minimums.
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rl_core.present.train_setup import config_from_widget_values, lr_log, widget_values
from rl_core.presets import preset

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def app_on(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def visit(at: AppTest, page: str) -> AppTest:
    """Go to ``page`` by the sidebar, as a person does: the address loses the previous page's query."""
    at.query_params.clear()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("name", ["deep-fast", "deep-good", "linear-bad", "linear-fast"])
def test_a_setup_reads_back_as_the_same_config(name):
    config = preset(name, seed=5)
    assert config_from_widget_values(widget_values(config, name)) == config


def test_the_learning_rate_slider_position_stays_in_its_range():
    assert lr_log(1e-3) == -3.0
    assert lr_log(1e-9) == -6.0 and lr_log(0.0) == -6.0 and lr_log(10.0) == 0.0


def test_the_train_setup_survives_a_visit_to_another_page(runs_dir):
    at = app_on("pages/train.py")
    at.selectbox(key="train_preset").set_value("deep-good").run()
    at.number_input(key="hp_seed").set_value(5).run()
    visit(at, "pages/home.py")
    visit(at, "pages/train.py")
    assert at.selectbox(key="train_preset").value == "deep-good"
    assert at.number_input(key="hp_seed").value == 5
    assert at.number_input(key="hp_learning_rate").value == pytest.approx(preset("deep-good").learning_rate)
    assert at.query_params["seed"] in ("5", ["5"])  # and the address bar holds it again


class StopsOnce:
    """Wraps a page helper so that the next run raises in it, once: a run that ends before the
    settings below it are drawn (as an exception, a redirect or a stop does). Streamlit 1.67 keeps
    widget values over a run that ends in an exception (this passed before the owned state too):
    it guards the setup against a Streamlit that does not."""

    def __init__(self, wrapped):
        self.wrapped, self.armed = wrapped, False

    def __call__(self, *args, **kwargs):
        if self.armed:
            self.armed = False
            raise RuntimeError("this run ends here")
        return self.wrapped(*args, **kwargs)


def test_a_run_that_ends_before_the_settings_are_drawn_keeps_the_setup(runs_dir, monkeypatch):
    import pages._ui

    stop = StopsOnce(pages._ui.setup_link)  # drawn after the preset, before every hyperparameter
    monkeypatch.setattr(pages._ui, "setup_link", stop)
    at = app_on("pages/train.py")
    at.selectbox(key="train_preset").set_value("deep-good").run()
    stop.armed = True
    at.number_input(key="hp_seed").set_value(5).run()
    assert at.exception  # the run that stopped half way
    at.run()
    assert not at.exception
    good = preset("deep-good")
    assert at.selectbox(key="train_preset").value == "deep-good"
    assert at.number_input(key="hp_learning_rate").value == pytest.approx(good.learning_rate)  # not 1e-6
    assert at.slider(key="hp_discount_factor").value == pytest.approx(good.discount_factor)  # not 0
    assert at.select_slider(key="hp_batch_size").value == good.batch_size  # not 16
    assert at.number_input(key="hp_n_episodes").value == good.n_episodes  # not 1
    assert at.number_input(key="hp_seed").value == 5
    assert not any("custom" in i.value and "learning_rate" in i.value for i in at.info)


def test_compare_keeps_its_agents_across_pages(runs_dir):
    import shutil

    from rl_core.artifacts.folders import PRETRAINED_DIR

    shutil.copytree(PRETRAINED_DIR / "cartpole-deep-q", runs_dir / "copy-of-deep")
    picked = [str(PRETRAINED_DIR / "cartpole-deep-q"), str(runs_dir / "copy-of-deep")]  # not the default pair
    at = app_on("pages/compare.py")
    at.slider(key="compare_n").set_value(20).run()
    at.multiselect(key="compare_agents").set_value(picked).run()
    visit(at, "pages/home.py")
    visit(at, "pages/compare.py")
    assert at.multiselect(key="compare_agents").value == picked
    assert at.slider(key="compare_n").value == 20


def test_evaluate_keeps_its_agent_across_pages(runs_dir):
    from rl_core.artifacts.folders import PRETRAINED_DIR

    other = str(PRETRAINED_DIR / "mountaincar-linear-q")
    at = app_on("pages/evaluate.py")
    assert at.selectbox(key="eval_agent").value != other
    at.slider(key="eval_n").set_value(20).run()
    at.selectbox(key="eval_agent").set_value(other).run()
    visit(at, "pages/home.py")
    visit(at, "pages/evaluate.py")
    assert at.selectbox(key="eval_agent").value == other
    assert at.slider(key="eval_n").value == 20


def local_study(name: str) -> str:
    """A study with one finished trial, started from linear-fast, as the Tune page stores it."""
    import optuna

    from rl_core.classroom.ownership import LOCAL_USER, study_name_for
    from rl_core.compute.studies import TuningSetup, load_or_create_study, record_study_setup

    setup = TuningSetup(study_name=study_name_for(LOCAL_USER, name), base_preset="linear-fast")
    study = load_or_create_study(setup)
    record_study_setup(study, setup, LOCAL_USER.id)
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    study.add_trial(
        optuna.trial.create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": lr}, value=100.0)
    )
    return setup.study_name


def test_a_setup_sent_from_tune_survives_another_page(runs_dir):
    study = local_study("to-train")
    at = app_on("pages/tune.py")
    next(s for s in at.selectbox if s.label.startswith("Open a study")).set_value(study).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(b.key == "tune_to_train" for b in at.button), (
        [m.value for m in at.markdown] + [e.value for e in at.error] + [c.value for c in at.caption]
    )
    at.button(key="tune_to_train").click().run()
    assert not at.exception
    assert at.selectbox(key="train_preset").value == "linear-fast"
    assert at.number_input(key="hp_learning_rate").value == pytest.approx(1e-3)
    visit(at, "pages/home.py")
    visit(at, "pages/train.py")
    assert at.selectbox(key="train_preset").value == "linear-fast"
    assert at.radio(key="train_kind").value == "linear"
    assert at.number_input(key="hp_learning_rate").value == pytest.approx(1e-3)


def test_run_names_say_preset_env_seed_and_time():
    from rl_core.artifacts.folders import default_run_name

    name = default_run_name(preset("deep-fast", seed=3), "deep-fast")
    assert name.startswith("deep-fast-cartpole-s3-") and len(name.rsplit("-", 1)[1]) == 4
    assert default_run_name(preset("linear-fast"), "linear-fast", custom=True).startswith(
        "linear-fast-custom-cartpole-s0-"
    )


def test_a_run_is_labelled_with_its_preset_or_custom_from_the_closest():
    from rl_core.present.train_setup import started_from

    assert started_from(preset("deep-good")) == "deep-good"
    assert started_from(preset("deep-good", seed=1)) == "custom from deep-good"
    assert started_from(preset("deep-fast"), recorded="deep-fast") == "deep-fast"
    assert started_from(preset("deep-fast", batch_size=64), recorded="deep-fast") == "custom from deep-fast"
    assert started_from(preset("linear-fast", env_id="Acrobot-v1")) == "linear-fast"


def test_the_runs_page_and_pickers_show_what_a_run_started_from(runs_dir):
    from rl_core.artifacts.storage import save_agent
    from rl_core.learning.agent import QAgent

    save_agent(QAgent(preset("linear-fast", seed=7)), runs_dir / "mine", metrics={"preset": "linear-fast"})
    at = app_on("pages/runs.py")
    table = at.dataframe[0].value
    assert table.loc["mine", "preset"] == "custom from linear-fast"
    visit(at, "pages/evaluate.py")
    assert any("mine (CartPole-v1, custom from linear-fast" in o for o in at.selectbox(key="eval_agent").options)


def test_a_preset_in_metrics_must_be_text():
    from rl_core.artifacts.folders import AgentFolderError
    from rl_core.artifacts.storage import check_metrics

    assert check_metrics({"preset": "deep-fast"}, "m")["preset"] == "deep-fast"
    with pytest.raises(AgentFolderError, match="preset must be text"):
        check_metrics({"preset": 3}, "m")


def test_a_run_sent_to_evaluate_after_it_was_deleted_is_said_to_be_gone(runs_dir):
    at = app_on("pages/home.py")
    at.session_state["evaluate_selection"] = str(runs_dir / "deleted-run")
    visit(at, "pages/evaluate.py")
    assert any("deleted-run is gone" in w.value.replace("\\", "") for w in at.warning)
