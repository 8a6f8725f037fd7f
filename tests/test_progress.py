"""A run's progress in words (rl_core/present/progress.py)."""

from rl_core.present.progress import first_estimate, progress_text, waiting_text
from rl_core.presets import preset


def test_before_the_first_episode_it_says_what_it_waits_for():
    assert waiting_text(preset("deep-fast"), worker_started=False).startswith("Starting a worker")
    started = waiting_text(preset("linear-fast"), worker_started=True)
    assert "1,000 random steps" in started and "mean and spread" in started  # linear-fast normalises
    assert "mean and spread" not in waiting_text(preset("deep-fast"), worker_started=True)


def test_the_estimate_is_never_exceeded_silently():
    total = first_estimate(10.0, 30.0, episode=5)
    assert total == 40.0 and first_estimate(1.0, 3.0, episode=2) is None
    assert "~30 s left" in progress_text(5, 400, 900, 10.0, 30.0, total)
    late = progress_text(200, 400, 40_000, 55.0, 40.0, total)
    assert "longer than the first estimate (~40 s)" in late and "~40 s left at the current pace" in late
    assert "-" not in late.split("elapsed")[1]  # never a negative time left


def test_imitation_shows_overall_progress():
    from rl_core.present.progress import imitation_progress

    share, text = imitation_progress([150, 30], finished=1, n_architectures=4, epochs=150)
    assert share == (150 + 30) / 600 and text == "architecture 2 of 4 · 180 of 600 epochs overall"
    assert imitation_progress([150] * 2, 2, 2, 150) == (1.0, "all 2 architectures trained and evaluated")
