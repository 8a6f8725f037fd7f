"""Class mode's pages under AppTest: ``at.secrets`` holds an [auth] section, ``at.user`` who is logged in.

The same in a real browser against a real OIDC provider is test_class_e2e.py; these are the fast checks.
"""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from rl_core.artifacts.storage import save_agent
from rl_core.classroom import ownership
from rl_core.classroom.ownership import read_owner, record_owner
from rl_core.config import AgentConfig, ClassQuotas
from rl_core.learning.agent import QAgent

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x",
        "client_id": "qlab",
        "client_secret": "y",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration",
    },
    "qlab": {"instructors": ["teacher@school.edu"]},
}
CLAIMS = {
    "alice": {"is_logged_in": True, "sub": "alice", "name": "Alice", "email": "alice@school.edu"},
    "bob": {"is_logged_in": True, "sub": "bob", "name": "Bob", "email": "bob@school.edu"},
    "teacher": {"is_logged_in": True, "sub": "t", "name": "Ms T", "email": "teacher@school.edu"},
}


def page_as(who: str | None, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets = dict(SECRETS)
    at.user = dict(CLAIMS[who]) if who else {"is_logged_in": False}
    at.run()
    if who:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_of(runs_dir: Path, name: str, sub: str, shared: bool = False) -> Path:
    folder = save_agent(QAgent(AgentConfig(nn_hidden_layers=[4])), runs_dir / name, metrics={"episodes": 1})
    record_owner(folder, sub, shared=shared)
    return folder


def run_options(at: AppTest) -> list[str]:
    return [Path(p).name for p in at.selectbox(key="runs_chosen").options]


def test_an_anonymous_visitor_gets_a_login_button_only(runs_dir):
    at = page_as(None, "pages/train.py")
    assert [b.label for b in at.button] == ["Log in"]
    assert "train_start" not in {b.key for b in at.button}


def test_each_user_lists_their_own_runs_and_an_instructor_all(runs_dir):
    run_of(runs_dir, "alice-run", "alice")
    run_of(runs_dir, "bob-run", "bob")
    assert run_options(page_as("alice", "pages/runs.py")) == ["alice-run"]
    assert run_options(page_as("bob", "pages/runs.py")) == ["bob-run"]
    teacher = page_as("teacher", "pages/runs.py")
    assert sorted(run_options(teacher)) == ["alice-run by Alice", "bob-run by Bob"]  # whose each one is
    assert any("Every user's agents" in c.value for c in teacher.caption)


def test_sharing_from_the_runs_page(runs_dir):
    folder = run_of(runs_dir, "alice-run", "alice")
    at = page_as("alice", "pages/runs.py")
    at.toggle(key=f"runs_share_{folder}").set_value(True).run()
    assert not at.exception and read_owner(folder).shared
    bob = page_as("bob", "pages/evaluate.py")
    assert any("alice-run" in label for label in bob.selectbox(key="eval_agent").options)
    bob.selectbox(key="eval_agent").set_value(str(folder)).run()
    assert not bob.exception
    assert "eval_download_zip" not in {b.key for b in bob.get("download_button")}  # read-only: no download
    own = page_as("alice", "pages/evaluate.py")
    own.selectbox(key="eval_agent").set_value(str(folder)).run()
    assert "eval_download_zip" in {b.key for b in own.get("download_button")}  # its owner may download it


def test_a_quota_reached_says_so_on_the_train_page(runs_dir, monkeypatch):
    monkeypatch.setattr(ownership, "CLASS_QUOTAS", ClassQuotas(runs_per_user=1))
    run_of(runs_dir, "alice-run", "alice")
    at = page_as("alice", "pages/train.py")
    at.button(key="train_start").click().run()
    assert any("you keep 1 runs, the class limit" in e.value for e in at.error)
    assert "train_job" not in at.session_state


def study_of(sub: str, name: str, value: float) -> str:
    """A study with one finished trial, as the Tune page of ``sub`` would have stored it."""
    import optuna

    from rl_core.classroom.ownership import User, remember_user, study_name_for
    from rl_core.compute.studies import TuningSetup, load_or_create_study, record_study_setup

    user = User(id=sub, name=CLAIMS[sub]["name"], class_mode=True)
    remember_user(user)
    setup = TuningSetup(study_name=study_name_for(user, name), base_preset="linear-fast")
    study = load_or_create_study(setup)
    record_study_setup(study, setup, sub)
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    study.add_trial(
        optuna.trial.create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": lr}, value=value)
    )
    return setup.study_name


def study_picker(at: AppTest):
    return next(s for s in at.selectbox if s.label.startswith("Open a study"))


def test_each_user_opens_their_own_studies_and_an_instructor_everyone_s(runs_dir):
    alices = study_of("alice", "my-search", 123.0)
    bobs = study_of("bob", "my-search", 456.0)
    at = page_as("alice", "pages/tune.py")
    picker = study_picker(at)
    assert picker.options == ["my-search · 1 trials · best 123.0"]  # Bob's study, same name, is not hers
    picker.set_value(alices).run()
    assert not at.exception
    assert at.dataframe[0].value["value"].tolist() == [123.0]
    assert any("Best: trial 0" in m.value for m in at.markdown)
    at.button(key="tune_to_train").click().run()  # its trials started from linear-fast: so does Train
    assert at.session_state["train_preset"] == "linear-fast" and at.session_state["hp_learning_rate"] == 1e-3

    teacher = page_as("teacher", "pages/tune.py")
    assert sorted(study_picker(teacher).options) == [
        "Alice / my-search · 1 trials · best 123.0",
        "Bob / my-search · 1 trials · best 456.0",
    ]
    study_picker(teacher).set_value(bobs).run()
    assert teacher.dataframe[0].value["value"].tolist() == [456.0]


def test_the_jobs_quota_is_the_registry_s_one_rule_on_every_page(runs_dir, monkeypatch):
    """A class quota of one job waiting or running: Alice's training counts on the Tune page too."""
    monkeypatch.setattr(ownership, "CLASS_QUOTAS", ClassQuotas(active_jobs_per_user=1))
    train = page_as("alice", "pages/train.py")
    train.number_input(key="hp_n_episodes").set_value(50_000).run()
    train.button(key="train_start").click().run()
    assert "train_job" in train.session_state and not train.error, [e.value for e in train.error]
    tune = page_as("alice", "pages/tune.py")
    tune.button(key="seeds_start").click().run()
    assert any("You have 1 jobs queued or running, the most allowed is 1" in e.value for e in tune.error), [
        e.value for e in tune.error
    ]
    assert "seeds_job" not in tune.session_state
    bob = page_as("bob", "pages/tune.py")  # the quota is Alice's, not the class's
    assert not any("queued or running" in e.value for e in bob.error)
    train.button(key="train_stop").click().run()
