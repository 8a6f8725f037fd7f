"""A long run's episodes and evaluations kept as columns: the same records back, appended in place,
56 bytes an episode."""

import pickle
import tracemalloc

import numpy as np

from rl_core.classroom.board import best_mean
from rl_core.learning.history import EpisodeHistory, EvaluationHistory, room_for
from rl_core.learning.training import EpisodeRecord, EvalRecord
from rl_core.present.live import LiveCharts
from tests.test_live import Snap, episodes, evaluations


def test_a_history_gives_back_the_records_it_was_made_of():
    records = episodes(300) + (EpisodeRecord(301, 12.5, 13, 0.05, float("nan"), 6013, 31.25),)
    history = EpisodeHistory(records)
    assert len(history) == 301 and history[:300] == records[:300]  # (nan == nan is False: checked apart)
    last = history[-1]
    assert (last.episode, last.reward, last.steps, last.env_steps, last.seconds) == (301, 12.5, 13, 6013, 31.25)
    assert np.isnan(last.loss)
    assert isinstance(history[0].episode, int) and isinstance(history[0].env_steps, int)
    assert history[10:13] == records[10:13]
    assert pickle.loads(pickle.dumps(history))[:300] == records[:300]


def test_adding_to_the_longest_view_appends_in_place_and_older_views_keep_their_rows():
    records = episodes(100)
    first = EpisodeHistory(records[:40])
    second = first + records[40:70]
    third = second + EpisodeHistory(records[70:])
    assert second._columns is first._columns is third._columns  # nothing copied
    assert len(first) == 40 and first == records[:40]
    assert third == records
    branch = first + records[80:90]  # an older view grown: columns of its own
    assert branch._columns is not first._columns
    assert branch == records[:40] + records[80:90] and third == records


def test_a_history_of_20000_episodes_takes_a_fraction_of_the_records():
    records = episodes(20000)
    tracemalloc.start()
    history = EpisodeHistory.of(records)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(history) == 20000
    assert held / 20000 < 80  # 7 float64 columns (56 B) and their growth; a record takes 272 B


def test_evaluations_come_back_the_same_grow_in_place_and_give_the_board_their_best():
    evals = evaluations(50)
    history = EvaluationHistory(evals[:20])
    longer = history + evals[20:]
    assert longer._columns is history._columns and longer == evals and history == evals[:20]
    assert isinstance(longer[3], EvalRecord) and isinstance(longer[3].episode, int)
    assert isinstance(longer[3].env_steps, int) and isinstance(longer[3].mean, float)
    assert pickle.loads(pickle.dumps(longer)) == evals
    assert repr(longer) == "EvaluationHistory(50 records)"
    assert best_mean(longer) == best_mean(evals) == max(e.mean for e in evals)
    assert best_mean(EvaluationHistory(evals[:10] + evals[:3])) == evals[9].mean  # the best, not the last
    assert best_mean(EvaluationHistory()) is None and best_mean(()) is None


def test_the_live_charts_draw_a_history_as_they_draw_its_records():
    records, evals = episodes(3000), evaluations(30)
    from_tuple = LiveCharts().training(Snap("job", "running", records, evals, 1.0), 475.0)
    columns = Snap("job", "running", EpisodeHistory(records), EvaluationHistory(evals), 1.0)
    from_columns = LiveCharts().training(columns, 475.0)
    for a, b in zip(from_tuple, from_columns):
        assert a.to_dict() == b.to_dict()


def test_room_for_doubles_and_keeps_the_old_array_as_it_was():
    array = np.arange(4.0)
    assert room_for(array, 4, 4) is array  # room enough: the same array
    grown = room_for(array, 3, 5)
    assert len(grown) == 8 and list(grown[:3]) == [0.0, 1.0, 2.0]
    grown[:3] = -1.0
    assert list(array) == [0.0, 1.0, 2.0, 3.0]  # a reader of the old array keeps its rows
    assert len(room_for(array, 4, 20)) == 20
