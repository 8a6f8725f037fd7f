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


LOCK_FREE_CHECK = """
import threading, time
from streamlit import config
config.get_config_options()
from pages._ui import lock_free_config_reads
expected = {key: config.get_option(key) for key in config.get_config_options()}
lock_free_config_reads()
assert config.get_option.lock_free
assert {key: config.get_option(key) for key in expected} == expected
held, release = threading.Event(), threading.Event()
def hold_the_lock():
    with config._config_lock:
        held.set()
        release.wait(3)
threading.Thread(target=hold_the_lock, daemon=True).start()
held.wait()
started = time.monotonic()
config.get_option("global.minCachedMessageSize")
waited = time.monotonic() - started
release.set()
assert waited < 1.0, f"a read waited {waited:.1f} s for the config lock"
config.get_config_options(force_reparse=True, options_from_flags={"global.minCachedMessageSize": 4321})
assert config.get_option("global.minCachedMessageSize") == 4321  # a re-parse is followed
print("ok")
"""


def test_the_web_process_reads_streamlits_config_without_its_lock_and_follows_a_reparse():
    # Every message a script sends reads an option under Streamlit's one RLock; with a class's
    # script threads a holder that loses the GIL queues all the others (bench/config_lock.py).
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", LOCK_FREE_CHECK], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
