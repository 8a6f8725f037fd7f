"""Who owns what on a shared server: users, owner records, sharing, what each user sees and may
manage, name reservations and the class mode's quotas.

Two modes, one code path. Local mode has one user, ``LOCAL_USER``, an instructor who owns
everything. Class mode (the app's login is configured) has one ``User`` per OIDC identity; a user
manages only their own runs, uploads and studies, sees others' runs only once they are shared,
and instructors (listed in the configuration) manage everything.

An owner record is a small ``owner.json`` in the folder it describes (a run, an upload, a
TensorBoard log): it moves with a rename, goes with a delete, and is never part of an agent zip.
A folder without one (trained by the CLI, or before class mode) belongs to ``LOCAL_OWNER``, which
in class mode only instructors manage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_core.artifacts.folders import (
    CLASS_RUNS,
    OWNER_FILE,
    PRETRAINED_DIR,
    UPLOADS,
    AgentFolderError,
    claim_folder,
    delete_agent,
    is_store_folder,
    rename_agent,
    runs_dir,
    safe_name,
    user_runs_dir,
)
from rl_core.artifacts.storage import AgentEntry, list_agents, pretrained_agents
from rl_core.config import CLASS_QUOTAS, ClassQuotas

LOCAL_OWNER = "local"
INSTRUCTORS_ENV = "QLAB_INSTRUCTORS"
USERS_DIR = ".users"  # runs/.users/<user key>.json: each user's display name, for boards and lists


class OwnershipError(AgentFolderError):
    """Someone tried to change what is not theirs; the message says whose it is."""


class QuotaError(ValueError):
    """A class-mode limit is reached; the message names the limit and what to do."""


@dataclass(frozen=True)
class User:
    id: str  # "local", or the OIDC subject (``sub``) in class mode
    name: str  # what others see on the class board
    email: str = ""
    is_instructor: bool = False
    class_mode: bool = False

    @property
    def key(self) -> str:
        """A folder-safe name unique to this user (subjects may hold any character)."""
        if self.id == LOCAL_OWNER:
            return LOCAL_OWNER
        digest = hashlib.sha256(self.id.encode()).hexdigest()[:10]
        return f"{safe_name(self.id)[:40]}-{digest}"


LOCAL_USER = User(id=LOCAL_OWNER, name="you", is_instructor=True, class_mode=False)


# --- who is who ----------------------------------------------------------------------------


def parse_instructors(value: str | Iterable[str] | None) -> frozenset[str]:
    """Emails or subjects, as a comma- or space-separated string or a list; compared case-blind."""
    if value is None:
        return frozenset()
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else [str(v) for v in value]
    return frozenset(item.strip().lower() for item in items if item.strip())


def instructors_from(
    configured: str | Iterable[str] | None = None, env: Mapping[str, str] | None = None
) -> frozenset[str]:
    """Instructors listed in secrets.toml (``[qlab] instructors``) and in $QLAB_INSTRUCTORS, together."""
    env = os.environ if env is None else env
    return parse_instructors(configured) | parse_instructors(env.get(INSTRUCTORS_ENV))


def user_from_claims(claims: Mapping[str, Any], instructors: frozenset[str]) -> User:
    """The class-mode user of an OIDC identity (the claims Streamlit puts in ``st.user``).

    An email counts for the instructors list only when the provider does not say it is unverified.
    """
    subject = str(claims.get("sub") or "").strip()
    if not subject:
        raise ValueError("the identity provider sent no subject (sub): cannot tell who this is")
    email = str(claims.get("email") or "").strip()
    verified = claims.get("email_verified", True) not in (False, "false")
    name = str(claims.get("name") or claims.get("preferred_username") or email or subject)
    is_instructor = subject.lower() in instructors or bool(email and verified and email.lower() in instructors)
    return User(id=subject, name=name, email=email, is_instructor=is_instructor, class_mode=True)


def remember_user(user: User, root: Path | None = None) -> None:
    """Keep the user's display name, so boards and lists can name the owner of a folder."""
    folder = (root or runs_dir()) / USERS_DIR
    path = folder / f"{user.key}.json"
    data = {"id": user.id, "name": user.name}
    try:
        if json.loads(path.read_text()) == data:
            return
    except (OSError, ValueError):
        pass
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, data)
    except OSError:
        pass  # a full disk or read-only store: the name is shown as the id meanwhile, and nothing else fails


def display_name(owner: str, root: Path | None = None) -> str:
    """The owner's display name as last seen at login, or their id when never seen."""
    if owner == LOCAL_OWNER:
        return "local"
    try:
        data = json.loads(((root or runs_dir()) / USERS_DIR / f"{User(owner, '').key}.json").read_text())
        return str(data["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return owner


# --- owner records -------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerRecord:
    owner: str  # the owner's user id
    shared: bool = False  # shared with the class: others see it, read-only


def record_owner(folder: str | Path, owner: str | User, shared: bool = False) -> None:
    """Write ``folder``'s owner record (the jobs call it once a run is saved, with the id they were
    given at submit time)."""
    owner_id = owner.id if isinstance(owner, User) else str(owner)
    _write_atomically(Path(folder) / OWNER_FILE, {"owner": owner_id, "shared": bool(shared)})


def read_owner(folder: str | Path) -> OwnerRecord:
    """The folder's owner record; a folder without a readable one belongs to LOCAL_OWNER."""
    try:
        data = json.loads((Path(folder) / OWNER_FILE).read_text())
        return OwnerRecord(owner=str(data["owner"]), shared=data.get("shared") is True)
    except (OSError, ValueError, KeyError, TypeError):
        return OwnerRecord(owner=LOCAL_OWNER)


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps(data) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half-written record behind
        raise


# --- names reserved on disk ----------------------------------------------------------------


def reserve_run(
    out_dir: str | Path, wanted: str, owner: str | User, taken: set[str] | frozenset[str] = frozenset()
) -> Path:
    """Claim a run's folder when its job is submitted, with the owner record inside.

    The folder exists (and is not empty) from then on, so no rename, upload or other job can take
    its name while the job waits or trains; saving the run replaces the reservation only.
    """
    folder = claim_folder(out_dir, wanted, taken, store_root=True)
    record_owner(folder, owner)
    return folder


def release_reservation(folder: str | Path) -> None:
    """Give back a reserved name whose job ended without saving an agent."""
    folder = Path(folder)
    if folder.is_dir() and not (folder / "hparams.json").exists():
        shutil.rmtree(folder, ignore_errors=True)


# Leftovers younger than this are left alone: a claim or a save may be under way at this moment.
ORPHAN_GRACE_SECONDS = 60.0


def release_orphans(store: str | Path, grace: float = ORPHAN_GRACE_SECONDS) -> list[str]:
    """At a job registry's start, when it holds no job yet: give back the names reserved for jobs
    that no longer exist (a folder holding only its owner record, left by a restart or a lost
    worker) and remove the hidden leftovers of saves and deletes cut short (``.<name>.tmp-…``,
    ``.<name>.deleted-…``), in the store and in each user's runs and uploads (a study's trials
    are left alone: a CLI ``tune`` may hold them). Returns what it removed. Only the store's one
    registry may call this: any other would take a live job's reservation."""
    store = Path(store)
    now, released = time.time(), []
    roots = [store, *(p for space in (UPLOADS, CLASS_RUNS) for p in _subfolders(store / space))]
    for root in roots:
        try:
            children = list(root.iterdir())
        except OSError:
            continue
        for folder in children:
            try:
                if not folder.is_dir() or folder.is_symlink() or now - folder.stat().st_mtime < grace:
                    continue
                leftover = folder.name.startswith(".") and (".tmp-" in folder.name or ".deleted-" in folder.name)
                reservation = not folder.name.startswith(".") and not is_store_folder(folder.name)
                if reservation:
                    reservation = {p.name for p in folder.iterdir()} <= {OWNER_FILE}
                if leftover or reservation:
                    shutil.rmtree(folder)
                    released.append(str(folder.relative_to(store)))
            except OSError:
                continue  # unreadable or vanished meanwhile: left for the next start
    return released


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


# --- what a user sees and manages ----------------------------------------------------------


def run_space(user: User) -> str | None:
    """The folder of the user's own runs under runs/class/ in class mode (None: the runs folder
    itself, in local mode). A name is then taken only by one's own runs: nobody learns from a
    "-2" or a refused rename that another user's private run bears it."""
    return user.key if user.class_mode else None


def user_runs(user: User) -> Path:
    """Where the user's new runs go."""
    return user_runs_dir(runs_dir(), run_space(user))


def upload_dir(user: User) -> Path:
    """Where the user's uploads go: a folder of their own, so nobody else's upload is ever listed
    on their pages unless its owner shares it."""
    return runs_dir() / UPLOADS / user.key


def can_manage(user: User, folder: str | Path) -> bool:
    """Rename, delete, share, download, load into Train, send to Compare."""
    if Path(folder).resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        return False
    return not user.class_mode or user.is_instructor or read_owner(folder).owner == user.id


def can_view(user: User, folder: str | Path) -> bool:
    """Pretrained agents, one's own, and others' once shared."""
    if Path(folder).resolve().is_relative_to(PRETRAINED_DIR.resolve()):
        return True
    return can_manage(user, folder) or read_owner(folder).shared


def _run_roots(everyone: bool, user: User) -> list[Path]:
    """The runs folder (local-mode runs, and class-mode ones from before runs/class/), then each
    user's runs and uploads: everyone's, or the user's own."""
    if everyone:
        return [runs_dir(), *_subfolders(runs_dir() / CLASS_RUNS), *_subfolders(runs_dir() / UPLOADS)]
    own = [user_runs(user)] if user.class_mode else []
    return [runs_dir(), *own, upload_dir(user)]


def all_runs() -> list[AgentEntry]:
    """Every trained or uploaded agent on the server, whoever owns it."""
    return list_agents(_run_roots(True, LOCAL_USER))


def manageable_runs(user: User) -> list[AgentEntry]:
    """The runs and uploads the user may change: their own; an instructor's, everyone's."""
    everyone = not user.class_mode or user.is_instructor
    return [e for e in list_agents(_run_roots(everyone, user)) if can_manage(user, e.path)]


def shared_runs() -> list[AgentEntry]:
    """Runs and uploads their owners shared with the class."""
    return [e for e in all_runs() if read_owner(e.path).shared]


def visible_agents(user: User) -> list[AgentEntry]:
    """What the user's pages list: pretrained agents, their own runs and uploads, and shared ones."""
    mine = manageable_runs(user)
    paths = {e.path for e in mine}
    others = [e for e in all_runs() if e.path not in paths and can_view(user, e.path)]
    return pretrained_agents() + mine + others


def _require_manager(user: User, folder: str | Path, action: str) -> None:
    if not can_manage(user, folder):
        owner = read_owner(folder).owner
        raise OwnershipError(
            f"{Path(folder).name} belongs to {display_name(owner)}: only its owner or an instructor can {action} it"
        )


def rename_run(user: User, folder: str | Path, new_name: str) -> Path:
    _require_manager(user, folder, "rename")
    return rename_agent(folder, new_name)


def delete_run(user: User, folder: str | Path) -> None:
    _require_manager(user, folder, "delete")
    delete_agent(folder)


def share_run(user: User, folder: str | Path, shared: bool) -> None:
    """Share a run with the class (others see it, read-only) or take it back."""
    _require_manager(user, folder, "share")
    record_owner(folder, read_owner(folder).owner, shared=shared)


# --- tuning studies ------------------------------------------------------------------------


def study_name_for(user: User, name: str) -> str:
    """The stored name of a user's study: in class mode each user has a namespace of their own, so
    two students' "cartpole-deep" are two studies."""
    name = name.strip()
    return f"{user.key}.{name}" if user.class_mode and name else name


def can_view_study(user: User, stored_name: str) -> bool:
    """Everything in local mode and for instructors; a student's own studies in class mode."""
    return not user.class_mode or user.is_instructor or stored_name.startswith(f"{user.key}.")


def study_label(user: User, stored_name: str, owner: str) -> str:
    """A study's name as the user reads it: one's own without the namespace, another's after its
    owner's display name."""
    own_prefix = f"{user.key}."
    if user.class_mode and stored_name.startswith(own_prefix):
        return stored_name[len(own_prefix) :]
    owner_prefix = f"{User(owner, '').key}."
    if user.class_mode and owner and stored_name.startswith(owner_prefix):
        return f"{display_name(owner)} / {stored_name[len(owner_prefix) :]}"
    return stored_name


# --- quotas (class mode only; the limits are in rl_core.config) ----------------------------


def quotas(user: User) -> ClassQuotas | None:
    """The limits that apply to the user: none in local mode, none for instructors."""
    return CLASS_QUOTAS if user.class_mode and not user.is_instructor else None


def owned_folders(user: User) -> list[Path]:
    """The user's runs (reserved ones included) and uploads, as counted against the quota."""
    visible = [p for p in _subfolders(runs_dir()) if not p.name.startswith(".") and not is_store_folder(p.name)]
    mine = [p for p in visible if read_owner(p).owner == user.id]  # from before runs/class/
    for own in {user_runs(user), upload_dir(user)} - {runs_dir()}:
        mine += [p for p in _subfolders(own) if not p.name.startswith(".")]
    return mine


def check_new_run(user: User) -> None:
    """Before training or uploading: the number of runs the user keeps."""
    limit = quotas(user)
    if limit is not None and len(owned_folders(user)) >= limit.runs_per_user:
        raise QuotaError(
            f"you keep {limit.runs_per_user} runs, the class limit: delete one on the Runs page "
            "to train or upload another"
        )


def check_upload(user: User, n_bytes: int) -> None:
    limit = quotas(user)
    if limit is None:
        return
    if n_bytes > limit.upload_bytes:
        raise QuotaError(f"upload: {n_bytes:,} bytes is over the class limit of {limit.upload_bytes:,} bytes")
    uploads = upload_dir(user)
    count = len([p for p in uploads.iterdir() if p.is_dir() and not p.name.startswith(".")]) if uploads.is_dir() else 0
    if count >= limit.uploads_per_user:
        raise QuotaError(
            f"you keep {limit.uploads_per_user} uploaded agents, the class limit: delete one on "
            "the Runs page to upload another"
        )
    check_new_run(user)


def active_job_limit(user: User) -> int | None:
    """The user's own limit of jobs waiting or running at once (class mode), for the registry to
    enforce with its own (JobRegistry._check_room: one rule for pages and CLI); None: no quota."""
    limit = quotas(user)
    return None if limit is None else limit.active_jobs_per_user


def check_trials(user: User, n_trials: int) -> None:
    limit = quotas(user)
    if limit is not None and n_trials > limit.trials_per_study:
        raise QuotaError(f"at most {limit.trials_per_study} trials per study in class mode, asked for {n_trials}")


def check_seeds(user: User, n_seeds: int) -> None:
    limit = quotas(user)
    if limit is not None and n_seeds > limit.seeds_per_sweep:
        raise QuotaError(f"at most {limit.seeds_per_sweep} seeds per sweep in class mode, asked for {n_seeds}")
