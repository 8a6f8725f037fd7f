"""The smaller findings of issue 19, each pinned: short numbers in errors, a run folder's own zip,
one-value histograms, what Tune offers by default, a queued job with no position."""

import io
import zipfile

import pytest

from rl_core.artifacts.folders import OWNER_FILE
from rl_core.artifacts.storage import save_agent
from rl_core.artifacts.zips import import_agent_zip
from rl_core.classroom.ownership import read_owner, record_owner
from rl_core.config import AgentConfig, Bound, short_number
from rl_core.learning.agent import QAgent
from rl_core.present.figures import reward_histogram
from rl_core.presets import preset


def test_errors_print_numbers_as_the_widgets_show_them():
    message = preset("deep-bad", epsilon_start=0.1).errors()["epsilon_end"]
    assert message == "epsilon_end must be <= epsilon_start (0.1), got 0.198"  # not 0.19818684841911674
    assert short_number(1.0004, Bound(0.0, 1.0)) == "1.0004"  # "1" would look allowed
    assert "got 2.12" in AgentConfig(learning_rate=2.123456).errors()["learning_rate"]
    assert short_number(7) == "7"


def test_a_zip_of_a_run_folder_with_its_owner_record_is_accepted(tmp_path):
    folder = save_agent(QAgent(AgentConfig(nn_hidden_layers=[4])), tmp_path / "runs" / "mine")
    record_owner(folder, "someone-else", shared=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:  # the folder zipped as it is on disk, owner.json included
        for path in sorted(folder.iterdir()):
            zf.write(path, f"mine/{path.name}")
    assert f"mine/{OWNER_FILE}" in zipfile.ZipFile(io.BytesIO(buffer.getvalue())).namelist()
    added = import_agent_zip(buffer.getvalue(), tmp_path / "uploads", name="uploaded-mine")
    assert (added / "model.pt").is_file()
    assert not (added / OWNER_FILE).exists()  # never imported: the uploader becomes the owner
    assert read_owner(added).owner != "someone-else"


def test_a_histogram_of_one_value_keeps_a_window_around_its_bar():
    figure = reward_histogram({"perfect": [500.0] * 100}, solved_reward=475)
    low, high = figure.layout.xaxis.range
    assert low <= 450 and high >= 550  # the bar stands at 500 with room on both sides, not a block
    spread = reward_histogram({"varied": [10.0, 200.0, 500.0]})
    assert spread.layout.xaxis.range is None


def test_a_queued_job_without_a_position_says_what_it_waits_for(monkeypatch):
    import pages._ui as ui

    shown = []
    monkeypatch.setattr(ui.st, "info", shown.append)
    ui.job_status("queued", "", None)
    ui.job_status("queued", "", 2)
    assert shown == ["Queued: waiting for a free CPU.", "Queued: position 2."]


def test_a_failed_job_says_failed_once_and_its_message_as_typed(monkeypatch):
    import pages._ui as ui

    shown = []
    monkeypatch.setattr(ui.st, "error", shown.append)
    ui.job_status("failed", "failed: the worker running it died [see](http://x)", None)
    assert shown == ["**failed**: the worker running it died \\[see\\]\\(http\\://x\\)"]


@pytest.mark.parametrize("space", ["focused", "course"])
def test_tune_leaves_the_seed_out_of_the_search_by_default(runs_dir, space):
    from streamlit.testing.v1 import AppTest

    from tests.test_state import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/tune.py").run()
    at.radio(key="tune_space").set_value(space).run()
    searched = at.multiselect(key=f"tune_params_{space}").value
    assert searched and "seed" not in searched
    assert any("Objective: each trial's score is the mean reward" in c.value for c in at.caption)


def test_each_hyperparameter_has_one_label_and_help_used_by_the_readme_and_the_cli():
    from pathlib import Path

    from rl_core.cli import build_parser
    from rl_core.config import FIELD_NAMES, field_help, field_label
    from rl_core.present.fields import fields_table

    for name in FIELD_NAMES:
        assert field_label(name) and field_help(name).endswith(f"(`{name}`)"), name
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert fields_table() in readme  # regenerate the README's table when a label changes
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(out.getvalue().split())
    assert "discount_factor: discount factor (gamma)" in text


def test_the_train_widgets_show_the_fields_labels_and_help(runs_dir):
    from streamlit.testing.v1 import AppTest

    from rl_core.config import field_help, field_label
    from tests.test_state import APP

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/train.py").run()
    widgets = {
        w.key: w for kind in ("slider", "select_slider", "number_input", "toggle", "radio") for w in at.get(kind)
    }
    for name in ("learning_rate", "discount_factor", "batch_size", "memory_size", "epsilon_end", "seed", "keep_best"):
        widget = widgets[f"hp_{name}"]
        assert widget.label == field_label(name) and widget.help == field_help(name), name
