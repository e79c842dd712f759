"""The real `shiftdesk tui` command inside tmux, driven with send-keys and read with capture-pane.

It runs against a backend serving real HTTP in this process, on the test's own database. The
same run checks that the console's raw mode has switched off XON/XOFF (IXON), so ctrl+s sends.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from backend.model import Author, InboundPost

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SHIFTDESK = str(Path(sys.executable).with_name("shiftdesk"))


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


async def screen_shows(session: str, text: str, timeout: float = 15.0) -> str:
    """Poll the pane until `text` is on it (bounded); the pane is another process, so polling it is the way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        pane = tmux("capture-pane", "-p", "-t", session)
        if text in pane:
            return pane
        if loop.time() > deadline:
            raise AssertionError(f"{text!r} never appeared; the screen was:\n{pane}")
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    "env",
    [{"TERM": "screen"}, {"TERM": "xterm-256color", "NO_COLOR": "1"}],
    ids=["screen", "xterm-256color-no-color"],
)
async def test_shiftdesk_tui_in_tmux_claims_and_answers(backend, env, tmp_path):
    svc = backend.services
    post = InboundPost(
        "simulator",
        "t1",
        Author("id-jo", "jo_k", "Jo K", 50),
        "@acme my order vanished",
        svc.clock.now(),
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post])
    _, token = await backend.add_operator("anna")
    session = f"shiftdesk-test-{uuid.uuid4().hex[:8]}"
    # Drafts and keymap from this test's own directories, not the user's.
    env = {**env, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path)}
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    command = f"env {exports} SHIFTDESK_TUI_TOKEN={token} {SHIFTDESK} tui --url {backend.url}"
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", command)
    try:
        await screen_shows(session, "@jo_k")
        tty = tmux("display-message", "-p", "-t", session, "#{pane_tty}").strip()
        modes = subprocess.run(
            ["stty", "-a", "-F", tty], capture_output=True, text=True, check=True
        ).stdout
        assert "-ixon" in modes.split()  # raw mode: ctrl+s is a key, not XOFF

        tmux("send-keys", "-t", session, "Enter")
        await screen_shows(session, "vanished")  # short words: the thread pane wraps
        tmux("send-keys", "-t", session, "c")
        await screen_shows(session, "held by")
        tmux("send-keys", "-t", session, "r")
        await screen_shows(session, "Send")  # the composer has focus (its keys are in the footer)
        tmux("send-keys", "-t", session, "-l", "Sorry Jo, looking now")
        await screen_shows(session, "21/500")
        tmux("send-keys", "-t", session, "C-s")
        await screen_shows(session, "published")
        # Sending puts the operator back on the queue, so q quits (no esc first: esc then q reads as alt+q).
        tmux("send-keys", "-t", session, "q")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while (
            subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode
            == 0
        ):
            assert loop.time() < deadline, "q did not quit the console:\n" + tmux(
                "capture-pane", "-p", "-t", session
            )
            await asyncio.sleep(0.1)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    text = await svc.pool.fetchval("SELECT text FROM messages")
    assert text == "Sorry Jo, looking now"
