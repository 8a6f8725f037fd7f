"""Live charts: bounded points however long the run, spikes and the latest episodes kept, and one
build per change of a job's data however many viewers draw it."""

import base64
import json
import threading
from dataclasses import dataclass, replace

import numpy as np
import plotly.io
import pytest

from rl_core.compute.jobs import FINISHED_STATES
from rl_core.config import LIVE_EXACT_POINTS, LIVE_OLDER_POINTS, LIVE_TICK_SECONDS, QUEUED_TICK_SECONDS, AgentConfig
from rl_core.learning.training import EpisodeRecord, EvalRecord
from rl_core.present.live import LiveCharts, SharedFigure, change_key, live_tick_seconds, pace_changed
from rl_core.present.plots import decimate, training_figure


def episodes(n: int) -> tuple[EpisodeRecord, ...]:
    rng = np.random.default_rng(0)
    rewards = rng.uniform(10, 30, n)
    return tuple(
        EpisodeRecord(i + 1, float(rewards[i]), 20, max(0.05, 1 - i / n), 0.5 + i % 3, 20 * i, 0.1 * i)
        for i in range(n)
    )


def evaluations(n: int, every: int = 10) -> tuple[EvalRecord, ...]:
    return tuple(EvalRecord(every * i, 200 * i, 100.0 + i, 5.0, 90.0, 110.0, 0.0, i) for i in range(1, n + 1))


@dataclass(frozen=True)
class Snap:  # what LiveCharts reads of a JobSnapshot
    job_id: str
    state: str
    episodes: tuple
    evaluations: tuple
    updated_at: float


def trace(figure, name: str) -> dict:
    """A trace's points as numpy arrays, from a shared figure or a validated one."""
    if isinstance(figure, SharedFigure):
        return next(t for t in figure.spec["data"] if t["name"] == name)
    found = next(t for t in figure.data if t.name == name)
    return {"name": name, "x": np.asarray(found.x), "y": np.asarray(found.y)}


def decoded(value) -> np.ndarray:
    """An array as a browser gets it: Plotly's typed array (base64), or a plain list."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).astype(float)
    return np.asarray(value, dtype=float)


def test_a_5000_episode_history_is_drawn_from_a_bounded_number_of_points():
    history = episodes(5000)
    figure = training_figure(history)
    rewards = trace(figure, "reward")
    assert len(rewards["x"]) <= LIVE_EXACT_POINTS + LIVE_OLDER_POINTS + 2
    assert len(trace(training_figure(episodes(50000)), "reward")["x"]) <= LIVE_EXACT_POINTS + LIVE_OLDER_POINTS + 2
    # the latest episodes exactly as they were
    tail = history[-LIVE_EXACT_POINTS:]
    assert list(rewards["x"][-LIVE_EXACT_POINTS:]) == [e.episode for e in tail]
    assert list(rewards["y"][-LIVE_EXACT_POINTS:]) == [e.reward for e in tail]


def test_every_bucket_keeps_its_min_and_max_so_no_spike_is_lost():
    n = 5000
    x = np.arange(1, n + 1, dtype=float)
    y = np.zeros(n)
    y[1234], y[3210] = 500.0, -300.0  # one spike up, one down, both in the thinned part
    kept_x, (kept_y,) = decimate(x, [y])
    assert len(kept_x) <= LIVE_EXACT_POINTS + LIVE_OLDER_POINTS + 2
    assert 500.0 in kept_y and -300.0 in kept_y
    assert kept_x[list(kept_y).index(500.0)] == 1235.0  # at the episode where it happened
    assert np.all(np.diff(kept_x) > 0)  # in order, no point twice
    # per bucket of the thinned part, its min and max survive
    rng = np.random.default_rng(1)
    noisy = rng.normal(size=n)
    kept_x, (kept_y,) = decimate(x, [noisy])
    buckets = LIVE_OLDER_POINTS // 2
    size = -(-(n - LIVE_EXACT_POINTS) // buckets)
    for start in range(0, n - LIVE_EXACT_POINTS, size):
        part = noisy[start : min(start + size, n - LIVE_EXACT_POINTS)]
        assert part.max() in kept_y and part.min() in kept_y


def test_the_rolling_mean_is_computed_on_every_episode_before_thinning():
    history = episodes(5000)
    drawn = trace(training_figure(history, window=20), "rolling mean (20)")
    rewards = np.array([e.reward for e in history])
    full = np.array([rewards[max(0, i - 19) : i + 1].mean() for i in range(len(rewards))])  # the last 20 at each
    at = np.asarray(drawn["x"], dtype=int) - 1
    assert len(at) < len(history) and np.allclose(drawn["y"], full[at])


def test_a_tick_does_not_rebuild_the_charts_of_a_job_whose_data_did_not_change():
    charts = LiveCharts()
    snap = Snap("job1", "running", episodes(300), evaluations(30), 1.0)
    first = charts.training(snap, 475.0)
    again = charts.training(replace(snap), 475.0)  # a fresh snapshot of the same data
    assert charts.builds == 1 and again[0] is first[0] and again[1] is first[1]
    moved = charts.training(replace(snap, episodes=episodes(301), updated_at=2.0), 475.0)
    assert charts.builds == 2 and moved[0] is not first[0]
    charts.training(replace(snap, episodes=episodes(301), updated_at=2.0), 475.0, large=True)  # another view
    assert charts.builds == 3


def test_viewers_of_one_job_asking_at_once_share_one_build():
    charts = LiveCharts()
    snap = Snap("job1", "running", episodes(2000), evaluations(100), 1.0)
    got = []
    threads = [threading.Thread(target=lambda: got.append(charts.training(snap, 475.0))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert charts.builds == 1 and all(g[0] is got[0][0] for g in got)


def test_the_change_key_is_the_registry_version_once_snapshots_carry_one():
    snap = Snap("job1", "running", episodes(3), (), 1.0)
    assert change_key(replace(snap)) == change_key(snap)
    for changed in (
        replace(snap, episodes=episodes(4)),
        replace(snap, evaluations=evaluations(1)),
        replace(snap, state="stopped"),
        replace(snap, updated_at=2.0),
    ):
        assert change_key(changed) != change_key(snap)

    @dataclass(frozen=True)
    class Versioned(Snap):
        version: int = 7

    assert change_key(Versioned("job1", "running", episodes(3), (), 1.0)) == ("job1", 7)


def test_a_shared_figure_draws_what_the_validated_figure_draws():
    history, evals = episodes(1500), evaluations(60)
    snap = Snap("job1", "running", history, evals, 1.0)
    shared, _ = LiveCharts().training(snap, 475.0)
    built = training_figure(
        history, evals, solved_reward=475.0, meta={"job": "job1", "updated_at": 1.0, "episode": 1500}
    )
    wire = json.loads(plotly.io.to_json(shared.to_dict(), validate=False))  # what a browser gets
    assert len(wire["data"]) == len(built.data)
    for ours, theirs in zip(wire["data"], built.data):
        assert ours["name"] == theirs.name
        assert np.allclose(decoded(ours["x"]), np.asarray(theirs.x, float))
        assert np.allclose(decoded(ours["y"]), np.asarray(theirs.y, float), rtol=1e-6, equal_nan=True)
    assert wire["layout"]["meta"] == built.layout.meta
    assert wire["layout"]["shapes"][0]["y0"] == 475.0 and wire["layout"]["template"]


def test_shared_figures_share_plotlys_empty_state_but_each_draws_its_own_data_and_none_can_be_changed():
    charts = LiveCharts()
    first, _ = charts.training(Snap("job1", "running", episodes(30), (), 1.0), None)
    second, _ = charts.training(Snap("job2", "running", episodes(80), (), 1.0), None)
    assert first is not second and first.__dict__["_layout_obj"] is second.__dict__["_layout_obj"]
    for figure, n in ((first, 30), (second, 80)):
        wire = json.loads(plotly.io.to_json(figure, validate=False))  # as st.plotly_chart serialises it
        assert len(decoded(next(t for t in wire["data"] if t["name"] == "reward")["x"])) == n
    for change in (first.update_layout, first.add_trace, first.update_traces):
        with pytest.raises(TypeError, match="drawn by every viewer"):
            change(title="mine by Alice")
    assert "mine by Alice" not in plotly.io.to_json(second, validate=False)


def test_columns_are_read_again_when_a_job_is_not_the_same_history_grown():
    charts = LiveCharts()
    charts.training(Snap("job1", "running", episodes(100), (), 1.0), None)
    other = tuple(replace(e, reward=e.reward + 1000) for e in episodes(120))
    shared, _ = charts.training(Snap("job1", "running", other, (), 2.0), None)
    assert trace(shared, "reward")["y"][0] == other[0].reward


def test_importances_are_not_drawn_when_they_would_mean_nothing():
    import optuna

    from rl_core.present.live import importances_meaningless, study_charts

    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    gamma = optuna.distributions.FloatDistribution(0.9, 0.999)

    def study_of(rows):
        study = optuna.create_study(direction="maximize")
        for params, value in rows:
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions={"lr": lr, "gamma": gamma}, value=value)
            )
        return study

    flat = study_of([({"lr": 10 ** -(2 + i / 3), "gamma": 0.9 + i / 100}, 500.0) for i in range(5)])
    assert "every complete trial scored the same (500)" in importances_meaningless(flat)
    assert isinstance(study_charts(flat)["importance"], str)  # said, not drawn as a finding
    # ten trials: PED-ANOVA (Optuna's default evaluator) compares the best 10 %, one trial, with the
    # rest and finds the two parameters equally important (0.50 / 0.50), whatever the scores say
    few = study_of([({"lr": 10 ** -(2 + i / 5), "gamma": 0.9 + (i * 7 % 10) / 100}, 500.0 - 40 * i) for i in range(10)])
    assert "equally important: with 10 trials" in importances_meaningless(few)
    # twenty trials whose score follows lr alone: lr matters, gamma does not, and the chart is drawn
    n = 20
    telling = study_of(
        [
            ({"lr": 10 ** -(2 + 2 * i / n), "gamma": 0.9 + (i * 7 % n) / n * 0.099}, 500.0 - 400 * i / n)
            for i in range(n)
        ]
    )
    assert importances_meaningless(telling) is None
    assert not isinstance(study_charts(telling)["importance"], str)


def test_a_live_replay_is_played_once_per_interval_and_q_function_and_shared_by_every_viewer():
    from rl_core.learning.agent import FrozenQ, QAgent
    from rl_core.present.live import LiveReplays

    q = FrozenQ.of(QAgent(AgentConfig(nn_hidden_layers=[8], seed=3)))
    replays = LiveReplays(every=3600.0)
    assert replays.replay("job", 0, lambda: None, "CartPole-v1", 0) is None  # no Q-function yet: nothing
    first = replays.replay("job", 1, lambda: q, "CartPole-v1", 0)
    assert first is not None and first.gif.startswith(b"GIF8") and "greedy policy now" in first.caption
    again = replays.replay("job", 1, lambda: q, "CartPole-v1", 0)  # another viewer, same Q-function
    newer_soon = replays.replay("job", 2, lambda: q, "CartPole-v1", 0)  # newer, but within the interval
    assert again is first and newer_soon is first and replays.plays == 1
    eager = LiveReplays(every=0.0)
    eager.replay("job", 1, lambda: q, "CartPole-v1", 0)
    eager.replay("job", 1, lambda: q, "CartPole-v1", 0)  # the same Q-function: never played again
    eager.replay("job", 2, lambda: q, "CartPole-v1", 0)
    assert eager.plays == 2


def test_a_queued_job_is_looked_at_less_often_than_a_running_one_and_an_ended_one_not_at_all():
    assert live_tick_seconds("running") == LIVE_TICK_SECONDS
    assert live_tick_seconds("queued") == QUEUED_TICK_SECONDS > LIVE_TICK_SECONDS
    assert all(live_tick_seconds(state) is None for state in FINISHED_STATES)
    assert live_tick_seconds(None) is None


def test_the_page_runs_whole_again_when_its_job_leaves_the_queue_or_ends_and_only_then():
    assert pace_changed("queued", "running")  # the fragment must take the running pace
    assert all(pace_changed(before, ended) for before in ("queued", "running") for ended in FINISHED_STATES)
    assert not pace_changed("queued", "queued")
    assert not pace_changed("running", "running")
    assert not pace_changed(None, "running")  # the first look: the page was just drawn whole
    assert not pace_changed("finished", "finished")  # an ended job's page was drawn whole once already
