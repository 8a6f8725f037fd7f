"""A training run's progress in words: what a run that has not reached its first episode waits for,
and an estimate of the time left that never goes quietly wrong. Data in, text out."""

from __future__ import annotations

from collections.abc import Sequence

from rl_core.config import AgentConfig

# Seconds a fresh Ray worker took to start and import PyTorch and gymnasium before its first
# episode, on this project's 2-core machine (the issue 19 walk: ~25 s for the first Start).
WORKER_START_SECONDS = 25


def waiting_text(config: AgentConfig, worker_started: bool) -> str:
    """What a running job with no episode yet is waiting for."""
    if not worker_started:
        return (
            "Starting a worker… a separate process loads PyTorch and gymnasium first "
            f"(up to ~{WORKER_START_SECONDS} s for the first run on a fresh server, a second or two after that)."
        )
    steps = [f"fills its replay memory with {config.n_steps_warm_up_memory:,} random steps"]
    if config.normalize_state:
        steps.insert(0, f"measures the state's mean and spread over {config.normalizer_steps:,} random steps")
    return "Worker started: it " + " and ".join(steps) + " before the first episode."


def first_estimate(seconds: float, eta: float | None, episode: int, min_episodes: int = 5) -> float | None:
    """The run's total time as first estimated (elapsed + time left) once ``min_episodes`` are in."""
    if eta is None or episode < min_episodes:
        return None
    return seconds + eta


def progress_text(
    episode: int, n_episodes: int, env_steps: int, seconds: float, eta: float | None, estimated_total: float | None
) -> str:
    """ "episode 12 of 400 · 3,456 env steps · 9 s elapsed · ~30 s left at this pace".

    ``eta`` is the time left at the pace so far; episodes get longer as an agent learns, so it
    grows: once the elapsed time passes ``estimated_total`` (the first estimate) the text says so
    instead of going on with an estimate already proven short."""
    parts = [f"episode **{episode}** of {n_episodes}", f"{env_steps:,} env steps", f"{seconds:.0f} s elapsed"]
    if estimated_total is not None and seconds > estimated_total:
        parts.append(
            f"longer than the first estimate (~{estimated_total:.0f} s): episodes get longer as it learns"
            + (f", ~{eta:.0f} s left at the current pace" if eta is not None else "")
        )
    elif eta is not None:
        parts.append(f"~{eta:.0f} s left at this pace (less if it stops once solved)")
    return " · ".join(parts)


def imitation_progress(
    epochs_done: Sequence[int], finished: int, n_architectures: int, epochs: int
) -> tuple[float, str]:
    """(share done, text) of an imitation job that trains ``n_architectures`` one after another for
    ``epochs`` each; ``epochs_done`` per architecture started so far, ``finished`` of them evaluated."""
    total = max(1, n_architectures * epochs)
    done = min(total, sum(min(e, epochs) for e in epochs_done))
    current = min(n_architectures, finished + (1 if finished < len(epochs_done) else 0)) or 1
    text = (
        f"architecture {current} of {n_architectures} · {done:,} of {total:,} epochs overall"
        if finished < n_architectures
        else f"all {n_architectures} architectures trained and evaluated"
    )
    return done / total, text
