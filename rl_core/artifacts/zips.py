"""Agent folders as zip files: the download of a run, and the upload of one, checked member by
member before anything is written (sizes, names, then the same checks as a load)."""

from __future__ import annotations

import io
import json
import shutil
import stat
import uuid
import zipfile
from pathlib import Path

from rl_core.artifacts.folders import MAX_NAME_LENGTH, OWNER_FILE, AgentFolderError, claim_folder
from rl_core.artifacts.storage import (
    AGENT_FILES,
    MAX_HISTORY_BYTES,
    MAX_JSON_BYTES,
    MAX_MODEL_BYTES,
    SavedAgent,
    load_agent,
    parse_history,
)
from rl_core.learning.evaluation import evaluate
from rl_core.learning.training import saved_weights_evaluation

# What each file may inflate to: the caps are counted on the bytes actually inflated, never on
# the sizes the zip declares (a zip can declare 1,000 bytes and inflate to gigabytes).
MEMBER_LIMITS: dict[str, int] = {
    "hparams.json": MAX_JSON_BYTES,
    "normalizer.json": MAX_JSON_BYTES,
    "metrics.json": MAX_JSON_BYTES,
    "history.csv": MAX_HISTORY_BYTES,
    "model.pt": MAX_MODEL_BYTES,
}
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # a zip of the largest allowed agent fits
_MAX_ZIP_ENTRIES = 16
_CHUNK = 64 * 1024


def agent_zip_bytes(folder: str | Path) -> bytes:
    """The agent folder as a zip (files under a folder of the agent's name)."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in AGENT_FILES:
            if (folder / name).is_file():
                zf.write(folder / name, f"{folder.name}/{name}")
    return buffer.getvalue()


def _inflate(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, read in chunks; refused as soon as more than ``limit`` bytes come out."""
    name = Path(member.filename).name
    chunks, total = [], 0
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise AgentFolderError(f"upload: {name} unpacks to more than {limit:,} bytes")
                chunks.append(chunk)
    except AgentFolderError:
        raise
    except Exception:  # BadZipFile (CRC), zlib.error, EOFError, NotImplementedError...
        raise AgentFolderError(f"upload: {name} is damaged in the zip and cannot be unpacked") from None
    return b"".join(chunks)


def _zip_members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The agent files of an upload, by name; everything unexpected refused by name."""
    infos = archive.infolist()
    if len(infos) > _MAX_ZIP_ENTRIES:
        raise AgentFolderError(
            f"upload: the zip holds {len(infos)} entries; an agent zip holds at most {len(AGENT_FILES)} files"
        )
    files: dict[str, zipfile.ZipInfo] = {}
    folders: set[str] = set()
    for member in infos:
        shown = repr(member.filename[:80])
        parts = Path(member.filename).parts
        if member.filename.startswith(("/", "\\")) or ".." in parts or len(parts) > 2 or "\\" in member.filename:
            raise AgentFolderError(f"upload: unexpected path {shown} in the zip")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise AgentFolderError(f"upload: {shown} is a symbolic link; an agent zip holds plain files only")
        if member.is_dir():
            folders.add(parts[0])
            continue
        if member.flag_bits & 0x1:
            raise AgentFolderError(f"upload: {shown} is encrypted; upload the agent zip without a password")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise AgentFolderError(
                f"upload: {shown} uses compression method {member.compress_type}; "
                "only stored or deflated files are read"
            )
        if parts[-1] == OWNER_FILE:  # the app writes it into a run folder: a zip of that folder is fine,
            continue  # and who owns the upload is decided here, never read from the zip
        if parts[-1] not in AGENT_FILES:
            raise AgentFolderError(f"upload: unexpected file {shown}; an agent zip holds only {', '.join(AGENT_FILES)}")
        if parts[-1] in files:
            raise AgentFolderError(f"upload: {parts[-1]} appears twice in the zip")
        if member.file_size > MEMBER_LIMITS[parts[-1]]:  # an honest size is refused before inflating
            raise AgentFolderError(f"upload: {parts[-1]} unpacks to more than {MEMBER_LIMITS[parts[-1]]:,} bytes")
        folders.add(parts[0] if len(parts) == 2 else "")
        files[parts[-1]] = member
    if len(folders) > 1:
        shown_folders = ", ".join(repr(f[:40]) if f else "the top level" for f in sorted(folders))
        raise AgentFolderError(
            f"upload: the zip holds files in more than one folder ({shown_folders}); it must hold one agent"
        )
    return files


UPLOAD_EVALUATION_EPISODES = 100  # the app's own evaluation of an upload: its score in every label


def _record_own_evaluation(saved: SavedAgent, metrics_path: Path) -> None:
    """Replace the evaluation an upload claims for its weights with the app's own (greedy, seeds
    0..99): labels and pickers show that one, never the uploader's word (a 9.35 agent once showed
    as 500.0). The claim is kept beside it, named as such."""
    result = evaluate(saved.agent, saved.agent.config.env_id, n_episodes=UPLOAD_EVALUATION_EPISODES, seed=0)
    metrics = saved.metrics if isinstance(saved.metrics, dict) else {}
    claimed = saved_weights_evaluation(metrics)
    own = {k: result.summary()[k] for k in ("mean", "std", "min", "max", "solved_share")}
    metrics = {k: v for k, v in metrics.items() if k not in ("final_evaluation", "restored_best")}
    metrics["final_evaluation"] = {"episodes": UPLOAD_EVALUATION_EPISODES, "seed": 0, **own, "by": "Q-Lab at upload"}
    if claimed is not None:
        metrics["uploaded_claim"] = {"mean": claimed.get("mean")}
    metrics_path.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")


def import_agent_zip(data: bytes, dest_root: str | Path, name: str, max_bytes: int = MAX_UPLOAD_BYTES) -> Path:
    """Check an uploaded agent zip and, only if it loads cleanly, add it under ``dest_root``.

    The zip may hold the agent files at its top level or inside one folder. Anything else (other
    files, paths that climb out, links, encryption, content that inflates past its limit, a model
    or metrics or history that fail validation) is refused with AgentFolderError, and nothing is
    left behind.
    """
    if len(data) > max_bytes:
        raise AgentFolderError(f"upload: {len(data):,} bytes is over the {max_bytes:,}-byte limit")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        files = _zip_members(archive)
    except AgentFolderError:
        raise
    except Exception:  # BadZipFile, and the odd ValueError/EOFError of a mangled directory
        raise AgentFolderError("upload: not a zip file") from None
    contents = {file_name: _inflate(archive, member, MEMBER_LIMITS[file_name]) for file_name, member in files.items()}
    if "history.csv" in contents:  # checked here: loading an agent does not read its history
        try:
            parse_history(contents["history.csv"].decode("utf-8"), "history.csv")
        except UnicodeDecodeError:
            raise AgentFolderError("upload: history.csv is not UTF-8 text") from None
        except AgentFolderError as exc:
            raise AgentFolderError(f"upload: {exc}") from None
    dest_root = Path(dest_root)
    final_name = name[:MAX_NAME_LENGTH]
    dest_root.mkdir(parents=True, exist_ok=True)
    tmp = dest_root / f".upload-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for file_name, content in contents.items():
            (tmp / file_name).write_bytes(content)
        try:
            saved = load_agent(tmp)
        except AgentFolderError as exc:
            raise AgentFolderError(f"upload: {str(exc).replace(str(tmp.resolve()) + '/', '')}") from None
        _record_own_evaluation(saved, tmp / "metrics.json")
        final = claim_folder(dest_root, final_name)
        tmp.rename(final)  # onto the empty folder just claimed: never onto anyone else's
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
