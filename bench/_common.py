"""Shared bits of the benchmark scripts: machine description and seed-range parsing."""

from __future__ import annotations

import os
import platform
import subprocess
import time


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def parse_seeds(text: str) -> list[int]:
    """ "0-9" or "0,3,5" or "0-4,10" (the library's own parser)."""
    from rl_core.compute.studies import parse_seed_list

    return parse_seed_list(text)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def train_page_click(page):
    """A function timing one click on the Train page as a person sees it: flipping the Double DQN
    toggle adds double_dqn to (or drops it from) the notice listing what differs from the preset;
    the time from the click to that change, in seconds."""
    from playwright.sync_api import expect

    toggle = page.get_by_text("Double DQN", exact=True)
    changed = page.get_by_text("double_dqn", exact=False).first

    def click() -> float:
        expect(toggle).to_have_count(1)  # a rerun briefly shows the old toggle beside its replacement
        was_listed = changed.is_visible()
        start = time.perf_counter()
        toggle.click()
        changed.wait_for(state="hidden" if was_listed else "visible")
        return time.perf_counter() - start

    return click


def record_run_ends(page) -> list[tuple[str, int]]:
    """Listen to the Streamlit app's websocket on ``page`` (a Playwright page, before it loads the
    app): the returned list gets, for each script run the server ends, the fragments it ran (comma
    separated, "" for a full run) and its end status (ForwardMsg.ScriptFinishedStatus)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ends: list[tuple[str, int]] = []
    running = {"run": ""}

    def on_websocket(ws) -> None:
        def received(payload) -> None:
            if not isinstance(payload, bytes):
                return
            msg = ForwardMsg()
            msg.ParseFromString(payload)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                running["run"] = ",".join(msg.metadata.run.fragment_ids)
            elif kind == "script_finished":
                ends.append((running["run"], msg.script_finished))

        ws.on("framereceived", received)

    page.on("websocket", on_websocket)
    return ends
