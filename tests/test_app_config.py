"""The Streamlit server settings the app ships with (.streamlit/config.toml)."""

import tomllib
from pathlib import Path

from rl_core.artifacts.zips import MAX_UPLOAD_BYTES

SERVER = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())["server"]


def test_the_server_accepts_every_upload_the_uploader_allows():
    # the uploader advertises MAX_UPLOAD_BYTES; a lower server cap refused such zips with a bare 413
    assert SERVER["maxUploadSize"] * 1024 * 1024 == MAX_UPLOAD_BYTES


def test_no_file_watcher_in_the_served_app():
    # Streamlit watches the app's folder recursively, .venv included, and watchdog reports every file
    # opened there: each Ray worker importing torch cost the web process about a core
    # (bench/watcher_cost.py). `make dev` turns a cheap poller on for editing.
    assert SERVER["fileWatcherType"] == "none"
