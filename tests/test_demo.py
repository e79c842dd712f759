"""`shiftdesk demo` as a newcomer runs it: in a real terminal (tmux), then stopped three ways."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHIFTDESK = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "shiftdesk"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10
    ).stdout


def wait_until(check, what: str, timeout: float = 20.0, screen=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen()}")
        time.sleep(0.05)  # polling another process's screen: there is no event to wait on


def processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and "ps -eo" not in line]


@pytest.mark.parametrize(
    "keys", [["q"], ["C-q"], ["C-c"], None], ids=["q", "ctrl+q", "ctrl+c", "terminal-closed"]
)
def test_demo_shows_a_queue_and_stops_cleanly(tmp_path, keys):
    if not SHIFTDESK.exists():
        pytest.skip("the shiftdesk console script is not installed in this environment")
    home = tmp_path / "home"
    home.mkdir()
    socket = f"sd-demo-{uuid.uuid4().hex[:8]}"
    command = f"env HOME={home} XDG_DATA_HOME= XDG_STATE_HOME= TERM=xterm-256color {SHIFTDESK} demo"
    tmux(socket, "new-session", "-d", "-x", "80", "-y", "24", command)
    try:
        started = time.monotonic()
        wait_until(
            lambda: (
                "queue" in tmux(socket, "capture-pane", "-p")
                and any(
                    line.lstrip().startswith("P") and "@" in line
                    for line in tmux(socket, "capture-pane", "-p").splitlines()
                )
            ),
            "the queue on screen",
            screen=lambda: tmux(socket, "capture-pane", "-p"),
            timeout=60,  # a first demo runs initdb: far slower on a loaded machine
        )
        elapsed = time.monotonic() - started
        screen = tmux(socket, "capture-pane", "-p")
        assert "shiftdesk" in screen and "Demo Lead" in screen
        assert processes_mentioning(str(home)), "the embedded PostgreSQL should be running"
        if keys:
            tmux(socket, "send-keys", *keys)
        else:
            tmux(socket, "kill-server")  # the terminal goes away: SIGHUP
        wait_until(
            lambda: not processes_mentioning(str(home)), "every demo process to stop", timeout=30
        )
        print(f"queue on screen after {elapsed:.2f}s")
    finally:
        tmux(socket, "kill-server")
