"""The class board: shared agents ranked by a fresh evaluation, and who is training right now.

An agent's rank comes from a greedy evaluation of its saved weights over ``BOARD_EPISODES``
episodes (seeds 0..999), never from the best evaluation it reported during training, which a
lucky run can inflate. Each result is kept on disk per agent folder and model file mtime, so the
board evaluates an agent once, and again only when its weights change.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rl_core.artifacts.folders import runs_dir
from rl_core.artifacts.storage import AgentEntry, load_agent
from rl_core.config import AgentConfig
from rl_core.learning.evaluation import evaluate
from rl_core.learning.history import RecordHistory
from rl_core.presets import PRESET_NAMES, preset

BOARD_EPISODES = 1000
CACHE_DIR = ".board-cache"  # under runs/


@dataclass(frozen=True)
class BoardEvaluation:
    mean: float
    std: float
    min: float
    max: float
    solved_share: float
    n_episodes: int


@dataclass(frozen=True)
class BoardRow:
    rank: int
    name: str
    path: Path
    owner: str  # the owner's display name
    env_id: str
    agent_kind: str
    setup: str  # the preset's name, or "custom (from <preset>: the fields that differ)"
    hidden_layers: str
    n_parameters: int
    training_seconds: float | None
    evaluation: BoardEvaluation


def setup_label(config: AgentConfig) -> str:
    """The preset a config is, or how it departs from the nearest one (the seed and how the run was
    watched aside: evaluations, run length)."""
    ignore = {"seed", "env_id", "n_episodes", "eval_every_episodes", "eval_episodes", "normalizer_steps"}
    mine = config.to_dict()
    best_name, best_diff = "", None
    for name in PRESET_NAMES:
        other = preset(name).to_dict()
        diff = [k for k in mine if k not in ignore and mine[k] != other.get(k)]
        if best_diff is None or len(diff) < len(best_diff):
            best_name, best_diff = name, diff
    if not best_diff:
        return best_name
    shown = ", ".join(best_diff[:4]) + (f" +{len(best_diff) - 4}" if len(best_diff) > 4 else "")
    return f"custom (from {best_name}: {shown})"


def _cache_path(folder: Path, n_episodes: int, cache_root: Path) -> Path:
    model = folder / "model.pt"
    stamp = model.stat().st_mtime_ns if model.exists() else 0
    key = hashlib.sha256(f"{folder.resolve()}|{stamp}|{n_episodes}".encode()).hexdigest()[:24]
    return cache_root / f"{key}.json"


def fresh_evaluation(
    folder: str | Path, n_episodes: int = BOARD_EPISODES, cache_root: Path | None = None
) -> BoardEvaluation:
    """A greedy evaluation of the saved agent over ``n_episodes`` seeds 0..n-1, cached on disk per
    folder and model mtime. Raises AgentFolderError when the folder cannot be loaded."""
    folder = Path(folder)
    cache_root = cache_root or runs_dir() / CACHE_DIR
    path = _cache_path(folder, n_episodes, cache_root)
    try:
        return BoardEvaluation(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    agent = load_agent(folder).agent
    result = evaluate(agent, agent.config.env_id, n_episodes=n_episodes, seed=0)
    value = BoardEvaluation(
        mean=float(result.mean),
        std=float(result.std),
        min=float(result.min),
        max=float(result.max),
        solved_share=float(result.solved_share),
        n_episodes=n_episodes,
    )
    cache_root.mkdir(parents=True, exist_ok=True)
    tmp = cache_root / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.write_text(json.dumps(asdict(value)))
    os.replace(tmp, path)
    return value


def board_rows(
    entries: Iterable[AgentEntry],
    owner_of: Callable[[Path], str],
    evaluate_one: Callable[[Path], BoardEvaluation] = fresh_evaluation,
    on_error: Callable[[AgentEntry, Exception], None] | None = None,
) -> list[BoardRow]:
    """The entries ranked by their fresh evaluation, best first (ties: the shorter training first).

    An entry that cannot be loaded is left off (and passed to ``on_error``): one broken folder
    never hides the board.
    """
    from rl_core.artifacts.folders import AgentFolderError
    from rl_core.artifacts.storage import read_config

    scored: list[tuple[AgentEntry, AgentConfig, BoardEvaluation]] = []
    for entry in entries:
        try:
            scored.append((entry, read_config(entry.path), evaluate_one(entry.path)))
        except (AgentFolderError, OSError) as exc:
            if on_error:
                on_error(entry, exc)
    scored.sort(key=lambda t: (-t[2].mean, t[0].metrics.get("seconds") or 0.0, t[0].name))
    rows = []
    for rank, (entry, config, result) in enumerate(scored, start=1):
        rows.append(
            BoardRow(
                rank=rank,
                name=entry.name,
                path=entry.path,
                owner=owner_of(entry.path),
                env_id=config.env_id,
                agent_kind=config.agent_kind,
                setup=setup_label(config),
                hidden_layers=str(config.nn_hidden_layers or "linear"),
                n_parameters=int(entry.metrics.get("n_parameters") or 0),
                training_seconds=entry.metrics.get("seconds"),
                evaluation=result,
            )
        )
    return rows


def board_table(rows: Sequence[BoardRow]) -> list[dict[str, Any]]:
    """The rows as the page's table shows them."""
    return [
        {
            "rank": r.rank,
            "agent": r.name,
            "owner": r.owner,
            "mean reward": f"{r.evaluation.mean:.1f}",
            "solved": f"{100 * r.evaluation.solved_share:.0f}%",
            "setup": r.setup,
            "layers": r.hidden_layers,
            "parameters": f"{r.n_parameters:,}",
            "training": "-" if r.training_seconds is None else f"{r.training_seconds:.0f} s",
        }
        for r in rows
    ]


def best_mean(evaluations: Sequence[Any]) -> float | None:
    """The highest mean reward among a run's evaluations (None before the first), read from the
    column when they are kept as one."""
    if isinstance(evaluations, RecordHistory):
        means = evaluations.column("mean")
        return float(means.max()) if len(means) else None
    return max((e.mean for e in evaluations), default=None)


def training_now(snapshots: Iterable[Any], owner_name: Callable[[str], str]) -> list[dict[str, Any]]:
    """Every queued or running training (JobSnapshot-like objects), for the board's live table:
    the running ones ranked by their best evaluation so far (rank 1 the highest; those not yet
    evaluated after them, unranked), then the queued ones in their queue order."""
    running: list[tuple[float | None, int | None, dict[str, Any]]] = []
    queued: list[tuple[float | None, int | None, dict[str, Any]]] = []
    for snap in snapshots:
        if snap.state not in ("queued", "running"):
            continue
        best = best_mean(snap.evaluations)
        row = {
            "rank": "",
            "who": owner_name(snap.owner),
            "run": snap.name,
            "env": snap.config.env_id,
            "state": snap.state if snap.state == "running" else f"queued ({snap.queue_position})",
            "episode": f"{snap.episode} / {snap.config.n_episodes}",
            "progress": min(1.0, snap.episode / max(1, snap.config.n_episodes)),
            "best evaluation": None if best is None else round(best, 1),
            "seconds": round(snap.seconds),
        }
        (running if snap.state == "running" else queued).append((best, snap.queue_position, row))
    running.sort(key=lambda item: (item[0] is None, -(item[0] or 0.0)))
    queued.sort(key=lambda item: item[1] if item[1] is not None else 1 << 30)
    rows = [row for _, _, row in running + queued]
    for rank, (best, _, row) in enumerate(running, start=1):
        if best is not None:
            row["rank"] = str(rank)
    return rows
