"""Agent folders on disk: atomic save, validating load, and listing the agents' roots.

An agent folder (DESIGN.md) holds hparams.json, model.pt (the Q-network's state_dict only),
normalizer.json (only with normalize_state), metrics.json and history.csv. Loading trusts
nothing: every file is checked, and model.pt is read with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers, so no code in a file ever runs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .agent import QAgent
from .config import AgentConfig, ConfigError, from_dict
from .envs import StateNormalizer, env_spec
from .networks import expected_shapes

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRETRAINED_DIR = PROJECT_ROOT / "pretrained"
HISTORY_COLUMNS = ("episode", "reward", "steps", "epsilon", "loss", "seconds")
MAX_MODEL_BYTES = 64 * 1024 * 1024  # the biggest network the config allows is far smaller
MAX_JSON_BYTES = 1024 * 1024


def runs_dir() -> Path:
    """Where trained agents go: $QLAB_RUNS_DIR, or runs/ in the project."""
    return Path(os.environ.get("QLAB_RUNS_DIR") or PROJECT_ROOT / "runs")


def agent_roots() -> list[Path]:
    return [PRETRAINED_DIR, runs_dir()]


OWNER_FILE = "owner.json"  # who owns a folder (rl_core.ownership); never part of an agent zip
UPLOADS = "uploads"  # runs/uploads/<user>/: each user's uploaded agents, apart from everyone else's


def safe_name(name: str) -> str:
    """A folder name of letters, digits, - and _ (at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:80] or "run"


def claim_folder(root: str | Path, wanted: str, taken: set[str] | frozenset[str] = frozenset()) -> Path:
    """Create and return a new, empty folder under ``root`` named after ``wanted`` (-2, -3... when taken).

    The folder is made with one exclusive mkdir, so two claims (a job's reservation, an upload, a
    rename) can never end on the same folder: whoever comes second gets the next free name.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = safe_name(wanted)
    candidate, n = base, 2
    while True:
        if candidate not in taken:
            try:
                (root / candidate).mkdir()
                return root / candidate
            except FileExistsError:
                pass
        candidate = f"{base}-{n}"
        n += 1


class AgentFolderError(ValueError):
    """An agent folder that cannot be trusted; the message names the file and the reason."""


@dataclass
class SavedAgent:
    path: Path
    agent: QAgent
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


# --- saving --------------------------------------------------------------------------------

def save_agent(agent: QAgent, folder: str | Path, metrics: dict[str, Any] | None = None,
               history: list[Any] | None = None) -> Path:
    """Write the agent folder atomically: everything goes to a temporary sibling, then one rename.

    ``history`` is a list of EpisodeRecord (or dicts with HISTORY_COLUMNS). An existing folder
    of the same name is replaced only once the new one is complete.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        config = agent.config
        _write_json(tmp / "hparams.json", {"agent_kind": config.agent_kind, **config.to_dict()})
        torch.save(agent.q_net.state_dict(), tmp / "model.pt")
        if agent.normalizer is not None:
            _write_json(tmp / "normalizer.json", agent.normalizer.to_dict())
        _write_json(tmp / "metrics.json", _json_safe(metrics or {}))
        (tmp / "history.csv").write_text(history_to_csv(history or []))
        if (folder / OWNER_FILE).is_file():  # a reserved or replaced run keeps its owner
            shutil.copy2(folder / OWNER_FILE, tmp / OWNER_FILE)
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2, allow_nan=False)
        f.write("\n")


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null, numpy scalars plain numbers, so files stay strict JSON."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    return value


# --- loading -------------------------------------------------------------------------------

def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise AgentFolderError(f"{path}: missing file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise AgentFolderError(f"{path}: too large ({path.stat().st_size:,} bytes; at most {MAX_JSON_BYTES:,})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AgentFolderError(f"{path}: not valid JSON ({exc})") from None


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r.resolve() or path.is_relative_to(r.resolve()) for r in roots)


def read_config(folder: str | Path) -> AgentConfig:
    """The validated config of an agent folder (hparams.json)."""
    path = Path(folder) / "hparams.json"
    data = _read_json(path)
    if not isinstance(data, dict):
        raise AgentFolderError(f"{path}: must be a JSON object")
    data = dict(data)
    kind = data.pop("agent_kind", None)
    try:
        config = from_dict(data, require_all=True).validate()
    except ConfigError as exc:
        raise AgentFolderError(f"{path}: {exc}") from None
    if kind is not None and kind != config.agent_kind:
        raise AgentFolderError(f"{path}: agent_kind {kind!r} contradicts nn_hidden_layers {config.nn_hidden_layers}")
    return config


def load_agent(folder: str | Path, roots: list[Path] | None = None) -> SavedAgent:
    """Load and check an agent folder; raise AgentFolderError naming the file and the reason.

    With ``roots`` (the app passes the pretrained and runs folders) a folder outside them is refused.
    """
    folder = Path(folder)
    resolved = folder.resolve()
    if roots is not None and not _inside(resolved, roots):
        raise AgentFolderError(f"{folder}: outside the agents' folders ({', '.join(str(r) for r in roots)})")
    if not resolved.is_dir():
        raise AgentFolderError(f"{folder}: not an agent folder (no such directory)")
    config = read_config(resolved)
    spec = env_spec(config.env_id)
    state_dict = _read_state_dict(resolved / "model.pt", spec.obs_dim, spec.n_actions, config.nn_hidden_layers)
    normalizer = _read_normalizer(resolved / "normalizer.json", spec.obs_dim) if config.normalize_state else None
    metrics = _read_json(resolved / "metrics.json")
    if not isinstance(metrics, dict):
        raise AgentFolderError(f"{resolved / 'metrics.json'}: must be a JSON object")
    metrics = clean_metrics(metrics)
    agent = QAgent(config, normalizer=normalizer, spec=spec)
    agent.q_net.load_state_dict(state_dict)  # copies in place: the numpy view stays current
    agent.target_net.load_state_dict(state_dict)
    return SavedAgent(path=folder, agent=agent, metrics=metrics)


def _read_state_dict(path: Path, obs_dim: int, n_actions: int, hidden: list[int]) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise AgentFolderError(f"{path}: missing file")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise AgentFolderError(f"{path}: too large ({path.stat().st_size:,} bytes)")
    try:
        # weights_only=True: only tensors and plain containers are unpickled; a pickled module or
        # any object whose unpickling would call code is refused before anything runs.
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for refused or corrupt files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AgentFolderError(f"{path}: not a plain state_dict of tensors, refused ({reason[:200]})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()):
        raise AgentFolderError(f"{path}: must hold a state_dict (a dict of names to tensors), got {type(data).__name__}")
    expected = expected_shapes(obs_dim, n_actions, hidden)
    if set(data) != set(expected):
        missing, unknown = sorted(set(expected) - set(data)), sorted(set(data) - set(expected))
        raise AgentFolderError(f"{path}: tensors do not match nn_hidden_layers {hidden} (missing {missing}, unexpected {unknown})")
    for key, shape in expected.items():
        tensor = data[key]
        if tuple(tensor.shape) != shape:
            raise AgentFolderError(f"{path}: tensor {key} has shape {tuple(tensor.shape)}, expected {shape}")
        if not tensor.is_floating_point():
            raise AgentFolderError(f"{path}: tensor {key} has dtype {tensor.dtype}, expected a float")
        if not torch.isfinite(tensor).all():
            raise AgentFolderError(f"{path}: tensor {key} holds NaN or infinite values")
    return {k: data[k].to(torch.float32) for k in expected}


def _read_normalizer(path: Path, obs_dim: int) -> StateNormalizer:
    data = _read_json(path)
    try:
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise AgentFolderError(f"{path}: must be {{\"mean\": [...], \"std\": [...]}} of numbers") from None
    if mean.shape != (obs_dim,) or std.shape != (obs_dim,):
        raise AgentFolderError(f"{path}: mean and std must each have {obs_dim} numbers")
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise AgentFolderError(f"{path}: mean must be finite and std finite and positive")
    return StateNormalizer(mean=mean.astype(np.float32), std=std.astype(np.float32))


def read_history(folder: str | Path) -> list[dict[str, float]]:
    """history.csv as a list of rows ([] when the folder has none)."""
    path = Path(folder) / "history.csv"
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rows.append({c: float(row[c]) if row[c] not in ("", None) else math.nan for c in HISTORY_COLUMNS})
            except (KeyError, ValueError):
                raise AgentFolderError(f"{path}: expected columns {', '.join(HISTORY_COLUMNS)} of numbers") from None
    return rows


# --- listing -------------------------------------------------------------------------------

@dataclass
class AgentEntry:
    name: str
    path: Path
    source: str  # "pretrained" or "runs"
    env_id: str
    agent_kind: str
    metrics: dict[str, Any]


def list_agents(roots: list[Path] | None = None) -> list[AgentEntry]:
    """Agent folders directly under each root (folders without hparams.json are skipped)."""
    entries = []
    for root in roots or agent_roots():
        if not root.is_dir():
            continue
        source = "pretrained" if root.resolve() == PRETRAINED_DIR.resolve() else "runs"
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                hparams = json.loads((path / "hparams.json").read_text())
                metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").is_file() else {}
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(hparams, dict):
                continue
            entries.append(AgentEntry(path.name, path, source, str(hparams.get("env_id", "?")),
                                      "deep" if hparams.get("nn_hidden_layers") else "linear",
                                      clean_metrics(metrics) if isinstance(metrics, dict) else {}))
    return entries


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def clean_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """metrics.json with every field the pages read checked for its type; a field of the wrong
    type is dropped, so a hand-edited or uploaded file can never break a page that lists it."""
    clean: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in ("last_evaluation", "best_evaluation", "final_evaluation"):
            if isinstance(value, dict) and _number(value.get("mean")):
                clean[key] = value
        elif key == "evaluations":
            if isinstance(value, list):
                clean[key] = [e for e in value if isinstance(e, dict)
                              and all(_number(e.get(f)) for f in ("episode", "mean", "std"))]
        elif key in ("episodes", "env_steps", "gradient_steps", "seconds", "seed", "n_parameters"):
            if _number(value):
                clean[key] = value
        elif key in ("status", "message", "trained_at", "env_id", "agent_kind"):
            if isinstance(value, str):
                clean[key] = value
        else:
            clean[key] = value
    return clean


def history_to_csv(history: list[Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HISTORY_COLUMNS)
    for row in history:
        d = row if isinstance(row, dict) else asdict(row)
        writer.writerow([d[c] for c in HISTORY_COLUMNS])
    return buf.getvalue()


# --- zip export and upload -----------------------------------------------------------------

AGENT_FILES = ("hparams.json", "model.pt", "normalizer.json", "metrics.json", "history.csv")
MAX_UPLOAD_BYTES = 16 * 1024 * 1024


def agent_zip_bytes(folder: str | Path) -> bytes:
    """The agent folder as a zip (files under a folder of the agent's name)."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in AGENT_FILES:
            if (folder / name).is_file():
                zf.write(folder / name, f"{folder.name}/{name}")
    return buffer.getvalue()


def import_agent_zip(data: bytes, dest_root: str | Path, name: str, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Check an uploaded agent zip and, only if it loads cleanly, add it under ``dest_root``.

    The zip may hold the agent files at its top level or inside one folder. Anything else (other
    files, paths that climb out, oversized content, a model that fails validation) is refused with
    AgentFolderError, and nothing is left behind.
    """
    if len(data) > max_bytes:
        raise AgentFolderError(f"upload: {len(data):,} bytes is over the {max_bytes:,}-byte limit")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise AgentFolderError("upload: not a zip file") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if sum(m.file_size for m in members) > 4 * MAX_UPLOAD_BYTES:
        raise AgentFolderError("upload: the zip unpacks to more than the allowed size")
    files: dict[str, zipfile.ZipInfo] = {}
    for member in members:
        parts = Path(member.filename).parts
        if member.filename.startswith("/") or ".." in parts or len(parts) > 2:
            raise AgentFolderError(f"upload: unexpected path {member.filename!r} in the zip")
        if parts[-1] not in AGENT_FILES:
            raise AgentFolderError(f"upload: unexpected file {member.filename!r}; an agent zip holds only "
                                   f"{', '.join(AGENT_FILES)}")
        if parts[-1] in files:
            raise AgentFolderError(f"upload: {parts[-1]} appears twice in the zip")
        files[parts[-1]] = member
    dest_root = Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = dest_root / f".upload-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for file_name, member in files.items():
            (tmp / file_name).write_bytes(archive.read(member))
        try:
            load_agent(tmp)
        except AgentFolderError as exc:
            raise AgentFolderError(f"upload: {str(exc).replace(str(tmp.resolve()) + '/', '')}") from None
        final = claim_folder(dest_root, name)
        tmp.rename(final)  # onto the empty folder just claimed: never onto anyone else's
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- the runs list -------------------------------------------------------------------------

def _own_run(path: str | Path) -> Path:
    """A run directly under the runs folder or under a user's uploads folder (pretrained agents
    cannot be renamed or deleted)."""
    path = Path(path).resolve()
    root = runs_dir().resolve()
    in_runs = path.parent == root or path.parent.parent == root / UPLOADS
    if not in_runs or not (path / "hparams.json").is_file():
        raise AgentFolderError(f"{path}: not a run in {root}")
    return path


def rename_agent(path: str | Path, new_name: str) -> Path:
    """Rename a run; the new name is made safe and must not be taken (by a run, an upload or the
    folder a queued job has reserved)."""
    path = _own_run(path)
    safe = safe_name(new_name.strip())
    if safe == path.name:
        return path
    target = path.parent / safe
    try:
        target.mkdir()  # claim the name first: a rename onto an empty folder would replace it silently
    except FileExistsError:
        raise AgentFolderError(f"a run named {safe!r} already exists") from None
    try:
        path.rename(target)
    except OSError:
        target.rmdir()
        raise
    return target


def delete_agent(path: str | Path) -> None:
    """Delete a run's folder (moved aside first, so a crash never leaves half of it listed)."""
    path = _own_run(path)
    trash = path.parent / f".{path.name}.deleted-{uuid.uuid4().hex[:8]}"
    path.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
