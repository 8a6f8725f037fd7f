"""Figure builders: what a reader of the chart sees."""

from rl_core.learning.training import EpisodeRecord, EvalRecord
from rl_core.present.figures import imitation_figure, reward_histogram, seeds_figure
from rl_core.present.plots import MAX_ERROR_BARS, epsilon_loss_figure, log_ticks, training_figure


def episodes(n: int, loss: float = 0.5) -> list[EpisodeRecord]:
    return [EpisodeRecord(i, 20.0 + i, 20, 0.5, loss * (1 + i % 7), i * 20, i * 0.1) for i in range(1, n + 1)]


def evaluations(n: int) -> list[EvalRecord]:
    return [EvalRecord(10 * i, 200 * i, 100.0 + i, 40.0, 10.0, 500.0, 0.1, i) for i in range(1, n + 1)]


def test_a_few_evaluations_have_error_bars():
    figure = training_figure(episodes(50), evaluations(5))
    evaluation = next(t for t in figure.data if t.name == "greedy evaluation")
    assert evaluation.error_y.visible and len(evaluation.x) == 5


def test_many_evaluations_become_a_band_behind_one_line():
    figure = training_figure(episodes(2000), evaluations(200))
    assert 200 > MAX_ERROR_BARS
    evaluation = next(t for t in figure.data if t.name == "greedy evaluation")
    assert not (evaluation.error_y and evaluation.error_y.visible) and evaluation.mode == "lines+markers"
    band = figure.data[0]  # drawn first: behind the reward lines
    assert band.fill == "toself" and len(band.x) == 400


def test_a_run_holding_500_reads_as_a_line_at_the_top_with_its_evaluations_marked():
    held = [EpisodeRecord(i, 500.0, 500, 0.05, 0.1, i * 500, i * 0.1) for i in range(1, 1001)]
    checks = [EvalRecord(10 * i, 5000 * i, 500.0, 0.0, 500.0, 500.0, 0.1, i) for i in range(1, 101)]
    figure = training_figure(held, checks, solved_reward=475.0)
    low, high = figure.layout.yaxis.range
    assert low < 0 < 500 < high < 550  # from zero: not a chart autoscaled around 500
    evaluation = next(t for t in figure.data if t.name == "greedy evaluation")
    assert "markers" in evaluation.mode and evaluation.marker.size > 0
    mountain = [EpisodeRecord(i, -200.0 + i / 10, 200, 0.05, 0.1, i * 200, i * 0.1) for i in range(1, 501)]
    low, high = training_figure(mountain, solved_reward=-110.0).layout.yaxis.range
    assert low < -200 and 0 <= high < 15  # negative rewards: up to zero, not past it


def test_log_loss_ticks_are_written_out_in_full():
    ticks = log_ticks([0.012, 0.05, 0.3, 1.7])
    assert ticks["ticktext"] == ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2"]
    wide = log_ticks([1e-4, 10.0])  # five decades: powers of ten only
    assert wide["ticktext"] == ["0.0001", "0.001", "0.01", "0.1", "1", "10"]
    figure = epsilon_loss_figure(episodes(30))
    assert list(figure.layout.yaxis2.ticktext) == log_ticks([e.loss for e in episodes(30)])["ticktext"]


def test_presentation_mode_makes_axis_text_large_and_dark():
    small = training_figure(episodes(10)).layout.xaxis.tickfont
    large = training_figure(episodes(10), large=True).layout.xaxis.tickfont
    assert small.size is None and large.size >= 20 and large.color == "#000000"


def test_seeds_chart_labels_each_seed():
    figure = seeds_figure([{"seed": 0, "mean": 500.0}, {"seed": 7, "mean": 42.0}], solved_at=475.0)
    assert list(figure.data[0].x) == ["seed 0", "seed 7"]
    assert figure.layout.xaxis.type == "category"


def test_the_histogram_marks_the_solved_reward_with_a_vertical_line_when_in_range():
    figure = reward_histogram({"a": [100.0, 480.0, 500.0]}, solved_reward=475.0)
    (line,) = figure.layout.shapes
    assert (line.x0, line.x1, line.xref) == (475.0, 475.0, "x")
    assert (line.y0, line.y1, line.yref) == (0, 1, "paper")
    assert reward_histogram({"a": [9.0, 12.0]}, solved_reward=475.0).layout.shapes == ()


def test_the_imitation_figure_draws_loss_then_accuracy_per_split():
    epochs = [
        {"epoch": e, "train_loss": 1.0 / e, "test_loss": 1.2 / e, "train_acc": 0.5, "test_acc": 0.4} for e in (1, 2)
    ]
    figure = imitation_figure({"[8]": epochs})
    drawn = [(t.name, t.yaxis or "y", t.showlegend) for t in figure.data]
    assert drawn == [
        ("[8] train", "y", None),
        ("[8] train", "y2", False),
        ("[8] test", "y", None),
        ("[8] test", "y2", False),
    ]
    assert list(figure.data[3].y) == [0.4, 0.4]
