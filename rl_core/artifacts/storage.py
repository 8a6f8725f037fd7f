"""Agent folders on disk: atomic save, validating load, and listing the agents' roots.

An agent folder (DESIGN.md) holds hparams.json, model.pt (the Q-network's state_dict only),
normalizer.json (only with normalize_state), metrics.json and history.csv. Loading trusts
nothing: every file is checked, and model.pt is read with ``torch.load(weights_only=True)``,
which refuses anything but tensors and plain containers, so no code in a file ever runs.
"""

from __future__ import annotations

import copy
import csv
import functools
import io
import json
import math
import re
import shutil
import stat
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl_core.artifacts.folders import PRETRAINED_DIR, AgentFolderError, agent_roots
from rl_core.config import (
    BOUNDS,
    EVALUATION_METRIC_BOUNDS,
    MAX_PARAMETERS,
    METRIC_BOUNDS,
    NORMALIZER_BOUNDS,
    AgentConfig,
    Bound,
    ConfigError,
    format_version_of,
    from_dict,
)
from rl_core.learning.agent import QAgent
from rl_core.learning.envs import StateNormalizer, env_spec

AGENT_FILES = ("hparams.json", "model.pt", "normalizer.json", "metrics.json", "history.csv")
HISTORY_COLUMNS = ("episode", "reward", "steps", "epsilon", "loss", "seconds")
# The largest network the config allows, saved as float64 (float32 is half), plus the format's overhead.
MAX_MODEL_BYTES = 8 * MAX_PARAMETERS + 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32  # hparams and metrics nest 3 deep; Python's parser recurses once per level
MAX_HISTORY_ROWS = int(BOUNDS["n_episodes"].high)  # one row per training episode
MAX_HISTORY_FIELD = 40  # characters in one history.csv field: a number is far shorter
MAX_HISTORY_BYTES = MAX_HISTORY_ROWS * 6 * (MAX_HISTORY_FIELD // 2) + 1024
MAX_TEXT = 1000  # characters in one text value of metrics.json


@dataclass
class SavedAgent:
    path: Path
    agent: QAgent
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


# --- saving --------------------------------------------------------------------------------


def save_agent(
    agent: QAgent, folder: str | Path, metrics: dict[str, Any] | None = None, history: list[Any] | None = None
) -> Path:
    """Write the agent folder atomically: everything goes to a temporary sibling, then one rename.

    ``history`` is a list of EpisodeRecord (or dicts with HISTORY_COLUMNS). An existing folder
    of the same name is replaced only once the new one is complete; its files that are not agent
    files (AGENT_FILES: an owner.json, a README.md, a replay.gif...) are kept in the new one.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        config = agent.config
        _write_json(
            tmp / "hparams.json",
            {"format_version": format_version_of(type(config)), "agent_kind": config.agent_kind, **config.to_dict()},
        )
        torch.save(agent.q_net.state_dict(), tmp / "model.pt")
        if agent.normalizer is not None:
            _write_json(tmp / "normalizer.json", agent.normalizer.to_dict())
        _write_json(tmp / "metrics.json", _json_safe(metrics or {}))
        (tmp / "history.csv").write_text(history_to_csv(history or []))
        if folder.is_dir():  # a reserved or replaced run keeps its owner, its notes, its README...
            for entry in folder.iterdir():
                if entry.name in AGENT_FILES:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, tmp / entry.name, symlinks=True)
                else:
                    shutil.copy2(entry, tmp / entry.name, follow_symlinks=False)
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


def _json_depth(text: str) -> int:
    """How deep brackets nest in a JSON text, without parsing it (the parser would recurse)."""
    outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text).encode()
    marks = np.frombuffer(outside_strings, dtype=np.uint8)
    steps = np.isin(marks, (ord("["), ord("{"))).astype(np.int32) - np.isin(marks, (ord("]"), ord("}")))
    return int(steps.cumsum().max(initial=0))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes, label: str) -> Any:
    """Strict JSON of at most MAX_JSON_BYTES and MAX_JSON_DEPTH; AgentFolderError naming ``label``."""
    if len(text) > MAX_JSON_BYTES:
        raise AgentFolderError(f"{label}: too large ({len(text):,} bytes; at most {MAX_JSON_BYTES:,})")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        depth = _json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise AgentFolderError(f"{label}: nested {depth} levels deep (at most {MAX_JSON_DEPTH})")
        return json.loads(text, parse_constant=_reject_constant)
    except AgentFolderError:
        raise
    except UnicodeDecodeError:
        raise AgentFolderError(f"{label}: not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError is one
        raise AgentFolderError(f"{label}: not valid JSON ({' '.join(str(exc).split())[:120]})") from None


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise AgentFolderError(f"{path}: missing file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise AgentFolderError(f"{path}: too large ({path.stat().st_size:,} bytes; at most {MAX_JSON_BYTES:,})")
    return parse_json(path.read_bytes(), str(path))


_EVALUATION_FIELDS = ("episode", "env_steps", "mean", "std", "min", "max", "solved_share", "seconds")
_METRIC_TYPES: dict[str, str] = {
    "env_id": "text",
    "agent_kind": "text",
    "status": "text",
    "message": "text",
    "trained_at": "text",
    "preset": "text",  # the preset the run started from, as the Train page named it
    "seed": "number",
    "episodes": "number",
    "env_steps": "number",
    "gradient_steps": "number",
    "seconds": "number",
    "n_parameters": "number",
    "restored_best": "bool",
    "last_evaluation": "evaluation",
    "best_evaluation": "evaluation",
    "final_evaluation": "final evaluation",
    "evaluations": "evaluations",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number_error(value: Any, bound: Bound) -> str | None:
    """Why a metric's value is unusable: not a number, or outside its range (METRIC_BOUNDS)."""
    if not _is_number(value):
        return "must be a number"
    if not bound.contains(value):
        return f"must be a number in {bound.describe()}, got {value:g}"
    return None


def _evaluation_error(value: Any, required: tuple[str, ...] = ("episode", "mean", "std")) -> str | None:
    """Why an evaluation record is unusable (None if it is fine). A periodic evaluation names the
    training episode it followed; the final one (of the saved weights) names how many it played."""
    if not isinstance(value, dict):
        return f"must be an object with {', '.join(required)}"
    for key in required:
        if not _is_number(value.get(key)):
            return f"{key} must be a number"
    for key in _EVALUATION_FIELDS:
        if value.get(key) is not None and not _is_number(value[key]):
            return f"{key} must be a number or null"
    for key, bound in EVALUATION_METRIC_BOUNDS.items():
        if value.get(key) is not None and (error := _number_error(value[key], bound)):
            return f"{key} {error}"
    return None


def check_metrics(data: Any, label: str) -> dict[str, Any]:
    """metrics.json's known fields have the types the pages read (null allowed: NaN is saved as null)."""
    if not isinstance(data, dict):
        raise AgentFolderError(f"{label}: must be a JSON object")
    for key, kind in _METRIC_TYPES.items():
        value = data.get(key)
        if value is None:
            continue
        error = None
        if kind == "text" and not (isinstance(value, str) and len(value) <= MAX_TEXT):
            error = f"must be text of at most {MAX_TEXT} characters"
        elif kind == "number":
            error = _number_error(value, METRIC_BOUNDS[key])
        elif kind == "bool" and not isinstance(value, bool):
            error = "must be true or false"
        elif kind == "evaluation":
            error = _evaluation_error(value)
        elif kind == "final evaluation":
            error = _evaluation_error(value, required=("episodes", "mean", "std"))
        elif kind == "evaluations":
            if not isinstance(value, list) or len(value) > MAX_HISTORY_ROWS:
                error = f"must be a list of at most {MAX_HISTORY_ROWS:,} evaluations"
            else:
                error = next((f"entry {i}: {e}" for i, v in enumerate(value) if (e := _evaluation_error(v))), None)
        if error:
            raise AgentFolderError(f"{label}: {key} {error}")
    return data


def read_metrics(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "metrics.json"
    return check_metrics(_read_json(path), str(path))


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r.resolve() or path.is_relative_to(r.resolve()) for r in roots)


def read_config(folder: str | Path, config_class: type[AgentConfig] = AgentConfig) -> AgentConfig:
    """The validated config of an agent folder (hparams.json), of any format version up to the class's.

    A folder without format_version is of version 1; fields added after its version take their defaults.
    """
    path = Path(folder) / "hparams.json"
    data = _read_json(path)
    if not isinstance(data, dict):
        raise AgentFolderError(f"{path}: must be a JSON object")
    data = dict(data)
    kind = data.pop("agent_kind", None)
    version = data.pop("format_version", 1)
    newest = format_version_of(config_class)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise AgentFolderError(f"{path}: format_version must be a whole number from 1, got {str(version)[:40]!r}")
    if version > newest:
        raise AgentFolderError(
            f"{path}: format_version {version} is newer than this Q-Lab reads (at most {newest}); update Q-Lab"
        )
    try:
        config = from_dict(data, require_all=True, format_version=version, config_class=config_class).validate()
    except ConfigError as exc:
        raise AgentFolderError(f"{path}: {exc}") from None
    if kind is not None and kind != config.agent_kind:
        raise AgentFolderError(f"{path}: agent_kind {kind!r} contradicts nn_hidden_layers {config.nn_hidden_layers}")
    return config


def load_agent(
    folder: str | Path, roots: list[Path] | None = None, config_class: type[AgentConfig] = AgentConfig
) -> SavedAgent:
    """Load and check an agent folder; raise AgentFolderError naming the file and the reason.

    With ``roots`` (the app passes the pretrained and runs folders) a folder outside them is refused.
    The agent is ready for inference: its optimiser is only made by a first gradient step.
    """
    folder = Path(folder)
    resolved = folder.resolve()
    if roots is not None and not _inside(resolved, roots):
        raise AgentFolderError(f"{folder}: outside the agents' folders ({', '.join(str(r) for r in roots)})")
    if not resolved.is_dir():
        raise AgentFolderError(f"{folder}: not an agent folder (no such directory)")
    config = read_config(resolved, config_class)
    spec = env_spec(config.env_id)
    state_dict = _read_state_dict(resolved / "model.pt", spec.obs_dim, spec.n_actions, config.nn_hidden_layers)
    normalizer = _read_normalizer(resolved / "normalizer.json", spec.obs_dim) if config.normalize_state else None
    metrics = read_metrics(resolved)
    agent = QAgent(config, normalizer=normalizer, spec=spec)
    agent.q_net.load_state_dict(state_dict)  # copies in place: the numpy view stays current
    agent.target_net.load_state_dict(state_dict)
    return SavedAgent(path=folder, agent=agent, metrics=metrics)


def expected_shapes(obs_dim: int, n_actions: int, hidden: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """The state_dict keys and shapes of build_q_network's network, computed without building it
    (a network is only allocated once its hparams.json has passed the config's bounds)."""
    widths = [obs_dim, *hidden, n_actions]
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        shapes[f"{2 * i}.weight"] = (fan_out, fan_in)  # Linear and ReLU alternate: Linears at 0, 2, 4...
        shapes[f"{2 * i}.bias"] = (fan_out,)
    return shapes


def _check_model_archive(path: Path) -> None:
    """model.pt as torch.save writes it: a zip of stored (uncompressed) entries whose sizes add up
    to at most MAX_MODEL_BYTES. Checked before torch.load, which allocates each storage whole: a
    small file holding a tensor that views a compressed 1 GiB storage would make it allocate 1 GiB."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise AgentFolderError(
            f"{path}: not a plain PyTorch state_dict (torch.save writes a zip archive; this is not one)"
        ) from None
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries):
        raise AgentFolderError(f"{path}: holds compressed entries; torch.save stores its tensors uncompressed")
    total = sum(e.file_size for e in entries)
    if total > MAX_MODEL_BYTES:
        raise AgentFolderError(
            f"{path}: its tensors' storages hold {total:,} bytes; the largest allowed network needs at most "
            f"{MAX_MODEL_BYTES:,}"
        )


def _read_state_dict(path: Path, obs_dim: int, n_actions: int, hidden: list[int]) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise AgentFolderError(f"{path}: missing file")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise AgentFolderError(
            f"{path}: too large ({size:,} bytes; the largest allowed network needs at most {MAX_MODEL_BYTES:,})"
        )
    _check_model_archive(path)
    try:
        # weights_only=True: only tensors and plain containers are unpickled; a pickled module or
        # any object whose unpickling would call code is refused before anything runs.
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types here, and its messages advise unsafe loading
        raise AgentFolderError(
            f"{path}: not a plain PyTorch state_dict (only tensors saved with torch.save(model.state_dict()) are read)"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()
    ):
        raise AgentFolderError(
            f"{path}: not a plain PyTorch state_dict (a dict of names to tensors), got {type(data).__name__}"
        )
    expected = expected_shapes(obs_dim, n_actions, hidden)
    if set(data) != set(expected):
        missing, unknown = sorted(set(expected) - set(data)), sorted(set(data) - set(expected))
        raise AgentFolderError(
            f"{path}: tensors do not match nn_hidden_layers {hidden} (missing {missing[:4]}, unexpected {unknown[:4]})"
        )
    weights = {}
    for key, shape in expected.items():
        tensor = data[key]
        if tensor.layout != torch.strided or tensor.is_meta or tensor.is_quantized:
            kind = "meta" if tensor.is_meta else "quantized" if tensor.is_quantized else str(tensor.layout)
            raise AgentFolderError(f"{path}: tensor {key} is a {kind} tensor, expected a plain (dense) one")
        if tuple(tensor.shape) != shape:
            raise AgentFolderError(f"{path}: tensor {key} has shape {tuple(tensor.shape)}, expected {shape}")
        own_bytes = tensor.numel() * tensor.element_size()
        if tensor.untyped_storage().nbytes() != own_bytes:
            raise AgentFolderError(
                f"{path}: tensor {key} views a storage of {tensor.untyped_storage().nbytes():,} bytes, "
                f"not its own {own_bytes:,}"
            )
        if not tensor.is_floating_point():
            raise AgentFolderError(f"{path}: tensor {key} has dtype {tensor.dtype}, expected a float")
        # Checked after the cast: a float64 1e300 is finite, but as float32 it is infinite.
        weights[key] = tensor.to(torch.float32)
        if not torch.isfinite(weights[key]).all():
            raise AgentFolderError(f"{path}: tensor {key} holds NaN or infinite values (as float32)")
    return weights


def _read_normalizer(path: Path, obs_dim: int) -> StateNormalizer:
    data = _read_json(path)
    try:
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise AgentFolderError(f'{path}: must be {{"mean": [...], "std": [...]}} of numbers') from None
    if mean.shape != (obs_dim,) or std.shape != (obs_dim,):
        raise AgentFolderError(f"{path}: mean and std must each have {obs_dim} numbers")
    # Checked as float32, the values the agent divides by: 1e-300 is positive as float64 but 0 as float32.
    with np.errstate(over="ignore"):  # an overflow to inf is what the check below reports
        values = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for name, array in values.items():
        bound = NORMALIZER_BOUNDS[name]
        bad = [i for i, v in enumerate(array.tolist()) if not bound.contains(v)]
        if bad:
            raise AgentFolderError(
                f"{path}: {name}[{bad[0]}] must be a number in {bound.describe()} (as float32), got {array[bad[0]]:g}"
            )
    return StateNormalizer(mean=values["mean"], std=values["std"])


def parse_history(text: str, label: str) -> list[dict[str, float]]:
    """history.csv's rows: the expected header, then numbers (empty or nan for a missing loss)."""
    if len(text) > MAX_HISTORY_BYTES:
        raise AgentFolderError(f"{label}: too large ({len(text):,} bytes; at most {MAX_HISTORY_BYTES:,})")
    lines = text.splitlines()
    if not lines or tuple(h.strip() for h in lines[0].split(",")) != HISTORY_COLUMNS:
        raise AgentFolderError(f"{label}: the first line must be {','.join(HISTORY_COLUMNS)}")
    if len(lines) - 1 > MAX_HISTORY_ROWS:
        raise AgentFolderError(f"{label}: {len(lines) - 1:,} rows; at most {MAX_HISTORY_ROWS:,} (one per episode)")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(HISTORY_COLUMNS) or any(len(f) > MAX_HISTORY_FIELD for f in fields):
            raise AgentFolderError(f"{label}: line {number} must hold {len(HISTORY_COLUMNS)} short numbers")
        try:
            values = [float(f) if f.strip() else math.nan for f in fields]
        except ValueError:
            raise AgentFolderError(f"{label}: line {number} holds something that is not a number") from None
        if any(math.isinf(v) for v in values) or any(math.isnan(v) for v in values[:4]):
            raise AgentFolderError(f"{label}: line {number}: episode, reward, steps and epsilon must be finite")
        rows.append(dict(zip(HISTORY_COLUMNS, values)))
    return rows


@functools.lru_cache(maxsize=16)
def _history_cached(path: str, mtime_ns: int, size: int) -> tuple[dict[str, float], ...]:
    if size > MAX_HISTORY_BYTES:
        raise AgentFolderError(f"{path}: too large ({size:,} bytes; at most {MAX_HISTORY_BYTES:,})")
    with open(path, "rb") as f:
        data = f.read(MAX_HISTORY_BYTES + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AgentFolderError(f"{path}: not UTF-8 text") from None
    return tuple(parse_history(text, path))


def read_history(folder: str | Path) -> list[dict[str, float]]:
    """history.csv as a list of rows ([] when the folder has none); read once per file version.

    The rows are shared between callers: read them, do not change them.
    """
    path = Path(folder) / "history.csv"
    try:
        info = path.stat()
    except FileNotFoundError:
        return []
    if not stat.S_ISREG(info.st_mode):
        return []
    return list(_history_cached(str(path), info.st_mtime_ns, info.st_size))


# --- listing -------------------------------------------------------------------------------


@dataclass
class AgentEntry:
    name: str
    path: Path
    source: str  # "pretrained" or "runs"
    env_id: str
    agent_kind: str
    metrics: dict[str, Any]


def pretrained_agents() -> list[AgentEntry]:
    """The shipped agents (``pretrained/``), without reading any user's runs. Read again only when
    that folder changes (a class's pages ask on every rerun; listing the whole store for it was a
    third of the web process's time with 60 students); each caller gets its own copy."""
    stamp = PRETRAINED_DIR.stat().st_mtime_ns if PRETRAINED_DIR.is_dir() else 0
    return copy.deepcopy(_pretrained_listing(PRETRAINED_DIR, stamp))


@functools.lru_cache(maxsize=1)
def _pretrained_listing(folder: Path, _folder_mtime_ns: int) -> list[AgentEntry]:
    return list_agents([folder])


def list_agents(roots: list[Path] | None = None) -> list[AgentEntry]:
    """Agent folders directly under each root (folders without hparams.json are skipped)."""
    entries = []
    for root in roots or agent_roots():
        if not root.is_dir():
            continue
        source = "pretrained" if root.resolve() == PRETRAINED_DIR.resolve() else "runs"
        for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                hparams = _read_json(path / "hparams.json")
            except (OSError, AgentFolderError):
                continue
            if not isinstance(hparams, dict):
                continue
            try:  # a bad metrics.json still lists the agent; loading it says what is wrong
                metrics = read_metrics(path)
            except (OSError, AgentFolderError):
                metrics = {}
            entries.append(
                AgentEntry(
                    path.name,
                    path,
                    source,
                    str(hparams.get("env_id", "?"))[:40],
                    "deep" if hparams.get("nn_hidden_layers") else "linear",
                    metrics if isinstance(metrics, dict) else {},
                )
            )
    return entries


def history_to_csv(history: list[Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(HISTORY_COLUMNS)
    for row in history:
        d = row if isinstance(row, dict) else asdict(row)
        writer.writerow([d[c] for c in HISTORY_COLUMNS])
    return buf.getvalue()
