"""The Train settings draw the same layout for every setup (AppTest).

They are a fragment, and Streamlit's frontend removes a fragment's leftover elements only after a run
of it that finished normally. A run ended "early for rerun" (a live tick or another run was waiting)
used to leave an element of the old layout beside the new one: a second "stop once..." switch, a stale
width slider. With the same element positions on every run, each run overwrites every element the
last one drew, however it ends (bench/stale_settings.py shows it in Chromium).
"""

from test_app import open_page

from rl_core.config import MAX_HIDDEN_LAYERS


def element_positions(node, prefix: tuple[int, ...] = ()) -> set[tuple[int, ...]]:
    """Every element's position under ``node``, as Streamlit addresses it (its delta path)."""
    positions = set()
    for index, child in getattr(node, "children", {}).items():
        positions.add((*prefix, index))
        positions |= element_positions(child, (*prefix, index))
    return positions


def settings_layout(at) -> set[tuple[int, ...]]:
    assert not at.exception, [e.value for e in at.exception]
    return element_positions(at.columns[0])  # the settings column, left of the live view


def test_every_setup_draws_the_same_settings_layout(runs_dir):
    at = open_page("pages/train.py")
    layout = settings_layout(at)
    changes = {  # each changes what the settings show: a field, an error line, a note, the widths
        "no stop target": lambda: at.toggle(key="hp_stop_on").set_value(False),
        "stop target again": lambda: at.toggle(key="hp_stop_on").set_value(True),
        "custom": lambda: at.select_slider(key="hp_batch_size").set_value(32),
        "an error": lambda: at.select_slider(key="hp_batch_size").set_value(512),
        "a second error": lambda: at.select_slider(key="hp_n_steps_warm_up_memory").set_value(256),
        "errors fixed": lambda: at.select_slider(key="hp_batch_size").set_value(64),
        "a bad run name": lambda: at.text_input(key="train_run_name").set_value(".."),
        "a good run name": lambda: at.text_input(key="train_run_name").set_value("fine-name"),
        **{
            f"{n} hidden layers": (lambda n=n: at.slider(key="hp_layers_n").set_value(n))
            for n in (MAX_HIDDEN_LAYERS, 1, 3)
        },
        "linear": lambda: at.radio(key="train_kind").set_value("linear"),
        "deep again": lambda: at.radio(key="train_kind").set_value("deep"),
    }
    shown = {  # and each change did show what it changes
        "no stop target": lambda: not [w for w in at.number_input if w.key == "hp_stop_at_reward"],
        "custom": lambda: any("custom" in i.value for i in at.info),
        "a second error": lambda: any("Fix to start" in w.value for w in at.warning),
        "a bad run name": lambda: len(at.error) == 1,
        f"{MAX_HIDDEN_LAYERS} hidden layers": lambda: at.select_slider(key=f"hp_width_{MAX_HIDDEN_LAYERS - 1}"),
        "linear": lambda: not [w for w in at.slider if w.key == "hp_layers_n"],
    }
    for what, change in changes.items():
        change().run()
        assert settings_layout(at) == layout, f"after {what}, the settings drew another layout"
        assert shown.get(what, lambda: True)(), f"{what} did not show"
