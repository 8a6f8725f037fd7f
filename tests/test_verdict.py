"""A finished run's verdict (rl_core/present/verdict.py): data in, sentences out."""

from rl_core.envinfo import env_info
from rl_core.present.verdict import metrics_verdict, run_verdict
from rl_core.presets import preset


def text(verdict) -> str:
    return " ".join(verdict.lines)


def test_a_score_below_random_says_so():
    verdict = run_verdict("CartPole-v1", 9.6, preset_name="linear-bad")
    assert verdict.level == "bad"
    assert "no better than a random agent (22.19" in text(verdict)
    assert "course's 9.42 +- 0.77" in text(verdict)  # the course's figure for that preset


def test_a_solved_run_is_good_and_matches_the_course():
    verdict = run_verdict("CartPole-v1", 500.0, preset_name="deep-good", solved_reward=475)
    assert verdict.level == "good"
    assert "solves CartPole-v1" in text(verdict) and "matches or beats the course's 500" in text(verdict)


def test_below_the_course_figure_is_named():
    verdict = run_verdict("CartPole-v1", 60.0, preset_name="linear-good", custom=True)
    assert verdict.level == "ok"
    assert "is below the course's 164.65 +- 39.46 for the preset it started from, linear-good" in text(verdict)


def test_saved_weights_short_of_the_peak_advise_keep_best():
    verdict = run_verdict("CartPole-v1", 9.6, preset_name="deep-good", best_mean=340.0, best_episode=120)
    assert "peaked at 340.0 at episode 120, saved 9.6: turn on keep-best" in text(verdict)
    kept = run_verdict("CartPole-v1", 300.0, best_mean=340.0, best_episode=120, keep_best=True)
    assert "peaked at 340.0" in text(kept) and "turn on keep-best" not in text(kept)
    close = run_verdict("CartPole-v1", 335.0, best_mean=340.0, best_episode=120)
    assert "peaked" not in text(close)  # within an evaluation's noise of the best


def test_our_presets_and_other_envs_have_no_course_figure():
    assert "course" not in text(run_verdict("CartPole-v1", 500.0, preset_name="deep-fast"))
    acrobot = run_verdict("Acrobot-v1", -90.0, preset_name="deep-good")
    assert "course" not in text(acrobot) and str(env_info("Acrobot-v1").random_baseline) in text(acrobot)


def test_the_verdict_reads_a_saved_runs_metrics():
    metrics = {
        "final_evaluation": {"episodes": 100, "mean": 9.6, "std": 1.0},
        "best_evaluation": {"episode": 40, "mean": 340.0, "std": 5.0},
    }
    verdict = metrics_verdict(metrics, preset("deep-good"), "deep-good", False, 475.0)
    assert verdict is not None and "peaked at 340.0 at episode 40, saved 9.6" in text(verdict)
    assert metrics_verdict({}, preset("deep-good"), "deep-good", False, 475.0) is None
