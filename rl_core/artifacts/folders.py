"""Where agents live and what they are called: the runs folder and the pretrained one, folder
names (cleaned, claimed with one exclusive mkdir so two claims never share a folder), the names a
run gets, and renaming or deleting one of a user's runs."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

from rl_core.config import AgentConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PRETRAINED_DIR = PROJECT_ROOT / "pretrained"
MAX_NAME_LENGTH = 80


def runs_dir() -> Path:
    """Where trained agents go: $QLAB_RUNS_DIR, or runs/ in the project."""
    return Path(os.environ.get("QLAB_RUNS_DIR") or PROJECT_ROOT / "runs")


def agent_roots() -> list[Path]:
    return [PRETRAINED_DIR, runs_dir()]


OWNER_FILE = "owner.json"  # who owns a folder (rl_core.classroom.ownership); never part of an agent zip
UPLOADS = "uploads"  # runs/uploads/<user>/: each user's uploaded agents, apart from everyone else's
TUNING = "tuning"  # runs/tuning/<study>/: the agents of a study's trials
TENSORBOARD = "tensorboard"  # runs/tensorboard/<run>/: TensorBoard logs
# runs/class/<user>/<run>/: in class mode each user's runs have a folder of their own, so a name is
# only ever taken by one's own run (another's private run never shows through a "-2" or a refusal).
CLASS_RUNS = "class"
# The store's own folders under runs/: never a run's name (a run called "uploads" would hold
# everyone's uploads, and its Delete would remove them), compared without case.
STORE_FOLDERS = frozenset({UPLOADS, TUNING, TENSORBOARD, CLASS_RUNS})
USER_FOLDER = re.compile(r"[A-Za-z0-9_-]{1,60}")  # what User.key makes: a folder name, never a path


def user_runs_dir(root: str | Path, user_key: str | None) -> Path:
    """Where a user's runs go under the runs folder ``root``: their own folder in class mode
    (``user_key``), the runs folder itself otherwise."""
    if user_key is None:
        return Path(root)
    if not isinstance(user_key, str) or not USER_FOLDER.fullmatch(user_key):
        raise ValueError(f"{user_key!r} is not a user's runs folder name")
    return Path(root) / CLASS_RUNS / user_key


def is_store_folder(name: str) -> bool:
    return name.lower() in STORE_FOLDERS


def make_store_folders(root: str | Path | None = None) -> Path:
    """Create the store's own folders under the runs folder (``root``, or runs_dir()) before any
    user can claim a run, and return that folder."""
    root = Path(root) if root is not None else runs_dir()
    for name in sorted(STORE_FOLDERS):
        (root / name).mkdir(parents=True, exist_ok=True)
    return root


def safe_name(name: str) -> str:
    """A folder name of letters, digits, - and _ (at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:80] or "run"


def claim_folder(
    root: str | Path, wanted: str, taken: set[str] | frozenset[str] = frozenset(), store_root: bool = False
) -> Path:
    """Create and return a new, empty folder under ``root`` named after ``wanted`` (-2, -3... when taken).

    The folder is made with one exclusive mkdir, so two claims (a job's reservation, an upload, a
    rename) can never end on the same folder: whoever comes second gets the next free name. With
    ``store_root`` (``root`` is a runs store) the store's own folder names are never claimed, even
    before those folders exist.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = clean_run_name(wanted)
    candidate, n = base, 2
    while True:
        if candidate not in taken and not (store_root and is_store_folder(candidate)):
            try:
                (root / candidate).mkdir()
                return root / candidate
            except FileExistsError:
                pass
        candidate = f"{base}-{n}"
        n += 1


class AgentFolderError(ValueError):
    """An agent folder that cannot be trusted; the message names the file and the reason."""


# --- run names -----------------------------------------------------------------------------


class RunNameError(AgentFolderError):
    """A run or study name that cannot be used; the message says why."""


def clean_run_name(name: str) -> str:
    """The folder name a user's name becomes: letters, digits, - and _ (others become -).

    Empty, blank, dot-only or over-long names are refused with a message saying so; nothing here
    looks at the disk.
    """
    if not isinstance(name, str) or not name.strip():
        raise RunNameError("the name is empty: type a name of letters, digits, - or _")
    if len(name) > MAX_NAME_LENGTH:
        raise RunNameError(f"the name has {len(name):,} characters; at most {MAX_NAME_LENGTH}")
    if name.strip() in (".", ".."):
        raise RunNameError(f"{name.strip()!r} cannot be a name: use letters, digits, - or _")
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name.strip()).strip("-")
    if not safe:
        raise RunNameError(f"the name {name.strip()!r} has no letters or digits")
    return safe


def check_run_name(name: str) -> str:
    """A run's name as clean_run_name makes it, refused when it is one of the store's own folders."""
    safe = clean_run_name(name)
    if is_store_folder(safe):
        raise RunNameError(f"{safe!r} is the name of one of the store's own folders: choose another name")
    return safe


def default_run_name(config: AgentConfig, preset_name: str | None = None, custom: bool = False) -> str:
    """A run's name that says what it is: the preset it started from (``custom`` when changed), the
    env, the seed and the time, e.g. ``deep-fast-cartpole-s0-1950``; a clash gets a suffix when
    the folder is claimed. Without a preset the agent kind stands in for it."""
    env = config.env_id.split("-")[0].lower()
    started = (preset_name or config.agent_kind) + ("-custom" if custom else "")
    return f"{started}-{env}-s{config.seed}-{time.strftime('%H%M')}"


# --- the runs list -------------------------------------------------------------------------


def _own_run(path: str | Path) -> Path:
    """A run directly under the runs folder, a user's runs folder or a user's uploads folder
    (pretrained agents cannot be renamed or deleted)."""
    path = Path(path).resolve()
    root = runs_dir().resolve()
    in_runs = (path.parent == root and not is_store_folder(path.name)) or path.parent.parent in (
        root / UPLOADS,
        root / CLASS_RUNS,
    )
    if not in_runs or not (path / "hparams.json").is_file():
        raise AgentFolderError(f"{path}: not a run in {root}")
    return path


def rename_agent(path: str | Path, new_name: str) -> Path:
    """Rename a run; the new name is cleaned (clean_run_name) and must not be taken (by a run, an
    upload or the folder a queued job has reserved).

    Only the cleaned name is looked up, inside the runs folder: what a user types never reaches
    the disk as a path, so an error never tells whether some other path exists.
    """
    path = _own_run(path)
    safe = clean_run_name(new_name)
    if safe == path.name:
        return path
    if path.parent == runs_dir().resolve():
        check_run_name(safe)
    target = path.parent / safe
    try:
        target.mkdir()  # claim the name first: a rename onto an empty folder would replace it silently
    except FileExistsError:
        raise RunNameError(f"a run named {safe!r} already exists") from None
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
