"""The training loop: episodes of act/observe, one event per episode, periodic greedy evaluations."""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rl_core.learning.agent import QAgent, TrainingDiverged
from rl_core.learning.envs import make_env
from rl_core.learning.evaluation import evaluate

# Periodic evaluations during training use their own seeds, far from the 0..999 that the final
# 1000-episode evaluation uses by default, so keeping the best weights never peeks at the test.
TRAINING_EVAL_SEED = 1_000_000
FINAL_EVAL_EPISODES = 100  # the saved weights' own evaluation (episodes 0..99, a subset of the 1000-episode test)


# slots: a long training's history is held by every process that shows it (a web process keeps one
# per live job); without a __dict__ an episode takes 278 bytes, not 384 (tracemalloc, 20000 unpickled)
@dataclass(slots=True)
class EpisodeRecord:
    episode: int  # 1-based
    reward: float
    steps: int
    epsilon: float  # at the end of the episode
    loss: float  # mean loss of the gradient steps in this episode; nan if none
    env_steps: int  # since the start of training
    seconds: float  # since the start of training


@dataclass(slots=True)
class EvalRecord:
    episode: int
    env_steps: int
    mean: float
    std: float
    min: float
    max: float
    solved_share: float
    seconds: float


TrainEvent = EpisodeRecord | EvalRecord


@dataclass
class TrainResult:
    status: str  # "finished" | "solved" | "stopped" | "diverged"
    message: str
    episodes: list[EpisodeRecord] = field(default_factory=list)
    evaluations: list[EvalRecord] = field(default_factory=list)
    best_evaluation: EvalRecord | None = None
    restored_best: bool = False
    env_steps: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "episodes": len(self.episodes),
            "env_steps": self.env_steps,
            "seconds": round(self.seconds, 3),
            "best_evaluation": asdict(self.best_evaluation) if self.best_evaluation else None,
            "restored_best": self.restored_best,
        }


def train(
    agent: QAgent,
    n_episodes: int | None = None,
    callback: Callable[[TrainEvent], None] | None = None,
    stop_event: threading.Event | None = None,
) -> TrainResult:
    """Train ``agent`` for ``n_episodes`` (the config's by default) and return what happened.

    ``callback`` gets an EpisodeRecord after every episode and an EvalRecord after every periodic
    evaluation. Setting ``stop_event`` ends training before the next env step or gradient step. A
    NaN or infinite loss or Q-value ends it with status "diverged" and the reason, instead of raising.
    """
    c = agent.config
    n_episodes = c.n_episodes if n_episodes is None else n_episodes
    if n_episodes <= 0:
        raise ValueError(f"n_episodes must be positive, got {n_episodes}")
    env = make_env(c.env_id)
    result = TrainResult(status="finished", message=f"trained {n_episodes} episodes")
    best_weights: dict | None = None
    should_stop = stop_event.is_set if stop_event is not None else None  # also asked between gradient steps
    last_eval_episode = 0
    start = time.perf_counter()

    def periodic_eval(episode: int) -> EvalRecord:
        nonlocal best_weights, last_eval_episode
        ev = evaluate(agent, c.env_id, n_episodes=c.eval_episodes, seed=TRAINING_EVAL_SEED)
        record = EvalRecord(
            episode, agent.env_steps, ev.mean, ev.std, ev.min, ev.max, ev.solved_share, time.perf_counter() - start
        )
        result.evaluations.append(record)
        last_eval_episode = episode
        if result.best_evaluation is None or record.mean > result.best_evaluation.mean:
            result.best_evaluation = record
            if c.keep_best:
                best_weights = copy.deepcopy(agent.q_net.state_dict())
        if callback:
            callback(record)
        return record

    try:
        obs, _ = env.reset(seed=c.seed)
        episode = 0
        stopped = False
        while episode < n_episodes and not stopped:
            episode += 1
            ep_reward, ep_steps, losses = 0.0, 0, []
            done = False
            while not done:
                if stop_event is not None and stop_event.is_set():
                    stopped = True
                    break
                action = agent.act(obs)
                next_obs, reward, terminated, truncated, _ = env.step(action)
                loss = agent.observe(obs, action, float(reward), next_obs, terminated, should_stop=should_stop)
                if loss is not None:
                    losses.append(loss)
                ep_reward += float(reward)
                ep_steps += 1
                obs = next_obs
                done = terminated or truncated
            if stopped and ep_steps == 0:
                episode -= 1
                break
            record = EpisodeRecord(
                episode,
                ep_reward,
                ep_steps,
                agent.epsilon,
                sum(losses) / len(losses) if losses else math.nan,
                agent.env_steps,
                time.perf_counter() - start,
            )
            result.episodes.append(record)
            if callback:
                callback(record)
            if stopped:
                break
            obs, _ = env.reset()
            if c.eval_every_episodes and episode % c.eval_every_episodes == 0:
                ev = periodic_eval(episode)
                if c.stop_at_reward is not None and ev.mean >= c.stop_at_reward:
                    result.status = "solved"
                    result.message = (
                        f"a greedy evaluation reached {ev.mean:.1f} >= {c.stop_at_reward:g} at episode {episode}"
                    )
                    break
        if stopped:
            result.status = "stopped"
            result.message = f"stopped by request after {len(result.episodes)} episodes"
        elif c.eval_every_episodes and result.status == "finished" and last_eval_episode != episode:
            periodic_eval(episode)  # the final weights get their evaluation too
    except TrainingDiverged as exc:
        result.status = "diverged"
        result.message = f"training diverged: {exc}"
    finally:
        env.close()
    if c.keep_best and best_weights is not None and result.status != "diverged":
        last = result.evaluations[-1] if result.evaluations else None
        if last is not result.best_evaluation:
            agent.q_net.load_state_dict(best_weights)  # copies in place: the numpy view stays valid
            agent.target_net.load_state_dict(best_weights)
            result.restored_best = True
    result.env_steps = agent.env_steps
    result.seconds = time.perf_counter() - start
    return result


def training_metrics(agent: QAgent, result: TrainResult) -> dict[str, Any]:
    """The training summary saved as metrics.json and printed by the CLI.

    ``final_evaluation`` is a fresh greedy evaluation of the weights being saved (the best
    evaluation during training may belong to weights the agent no longer has): agents are
    labelled by it.
    """
    last = result.evaluations[-1] if result.evaluations else None
    final = None
    if result.status != "diverged":
        ev = evaluate(agent, agent.config.env_id, n_episodes=FINAL_EVAL_EPISODES, seed=0)
        final = {
            "episodes": ev.n_episodes,
            "seed": 0,
            "mean": ev.mean,
            "std": ev.std,
            "min": ev.min,
            "max": ev.max,
            "solved_share": ev.solved_share,
        }
    return {
        "env_id": agent.config.env_id,
        "agent_kind": agent.config.agent_kind,
        "seed": agent.config.seed,
        "episodes": len(result.episodes),
        "env_steps": result.env_steps,
        "gradient_steps": agent.n_gradient_steps_done,
        "seconds": round(result.seconds, 3),
        "status": result.status,
        "message": result.message,
        "n_parameters": agent.n_parameters,
        "last_evaluation": asdict(last) if last else None,
        "best_evaluation": asdict(result.best_evaluation) if result.best_evaluation else None,
        "restored_best": result.restored_best,
        "final_evaluation": final,
        "evaluations": [asdict(e) for e in result.evaluations],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def saved_weights_evaluation(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The evaluation in a metrics.json that belongs to the saved weights, or None.

    ``final_evaluation`` when the summary has one; for older summaries, the best evaluation when
    those weights were restored, or the last one when it came after the last episode.
    """
    final = metrics.get("final_evaluation")
    if isinstance(final, dict) and isinstance(final.get("mean"), (int, float)):
        return final
    best, last = metrics.get("best_evaluation"), metrics.get("last_evaluation")
    if metrics.get("restored_best") and isinstance(best, dict):
        return best
    if isinstance(last, dict) and last.get("episode") == metrics.get("episodes"):
        return last
    return None


class TensorBoardLogger:
    """A training callback that writes the course's TensorBoard scalars (needs the tensorboard package).

    Use it alone or chained: ``train(agent, callback=chain(TensorBoardLogger(dir), other))``.
    """

    def __init__(self, log_dir: str | Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError("TensorBoard logs need the tensorboard package: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def __call__(self, event: TrainEvent) -> None:
        if isinstance(event, EpisodeRecord):
            self.writer.add_scalar("train/reward", event.reward, event.episode)
            self.writer.add_scalar("train/steps", event.steps, event.episode)
            self.writer.add_scalar("train/epsilon", event.epsilon, event.episode)
            if math.isfinite(event.loss):
                self.writer.add_scalar("train/loss", event.loss, event.episode)
        else:
            self.writer.add_scalar("eval/mean_reward", event.mean, event.episode)
            self.writer.add_scalar("eval/std_reward", event.std, event.episode)

    def close(self) -> None:
        self.writer.close()


def chain(*callbacks: Callable[[TrainEvent], None] | None) -> Callable[[TrainEvent], None]:
    """One callback that calls each of the given ones in order."""
    active = [c for c in callbacks if c is not None]

    def call_all(event: TrainEvent) -> None:
        for callback in active:
            callback(event)

    return call_all
