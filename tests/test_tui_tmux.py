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
        # q asks first: the operator still holds the conversation (it waits for Jo's answer).
        # r releases it and quits (no esc first: esc then q reads as alt+q).
        tmux("send-keys", "-t", session, "q")
        await screen_shows(session, "You hold 1 conversation")
        tmux("send-keys", "-t", session, "r")
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
    # Quitting signed out: the conversation went back to the queue, not left held for a shift.
    assert await svc.pool.fetchval("SELECT claimed_by FROM conversations") is None
    text = await svc.pool.fetchval("SELECT text FROM messages")
    assert text == "Sorry Jo, looking now"


# One of each thing a post, a name, a tag or a note could try on an operator's terminal.
HOSTILE = (
    "A\x1b]52;c;aGFja2Vk\x07"  # OSC 52: write the clipboard
    " B\x1b]0;pwned0\x07 C\x1b]2;pwned2\x1b\\"  # OSC 0/2: window and pane title
    " D\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\"  # OSC 8: hyperlink
    " E\x1b[5mblink\x1b[8mhidden\x1b[2J"  # CSI: blink, conceal, clear screen
    " F\x1bPq#0;2;0;0;0\x1b\\"  # DCS (sixel)
    " G\x9b31mred"  # C1 CSI
    " H\u202eevil\u202c I\u2066iso\u2069"  # bidi override and isolate
    " J\u2028K\u2029L\u034fM\u3164N\u200bO end"  # line/paragraph separators, invisibles
)


async def test_hostile_text_takes_no_effect_in_a_real_terminal(backend, tmp_path):
    svc = backend.services
    anna, token = await backend.add_operator("anna")
    post = InboundPost(
        "simulator",
        "h1",
        Author("id-mal", "mallory", "Mal\x1b]0;pwned\x07\u202elory", 5),
        "@acme " + HOSTILE,
        svc.clock.now(),
    )
    calm = InboundPost(
        "simulator", "h2", Author("id-jo", "jo_k", "Jo K", 5), "@acme calm one", svc.clock.now()
    )
    async with svc.pool.acquire() as conn:
        await svc.ingest.store(conn, [post, calm])
        cid = await conn.fetchval("SELECT conversation_id FROM mentions WHERE post_id = 'h1'")
        await svc.actions.add_note(conn, anna, cid, "note " + HOSTILE, False)
        await svc.actions.add_tag(conn, anna, cid, "tag\x1b]0;pwned\x07\u2029x")
    socket = f"sd-hostile-{uuid.uuid4().hex[:8]}"

    def t(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], check=True, capture_output=True, text=True
        ).stdout

    env = f"XDG_STATE_HOME={tmp_path / 'state'} XDG_CONFIG_HOME={tmp_path} TERM=xterm-256color"
    command = f"env {env} SHIFTDESK_TUI_TOKEN={token} {SHIFTDESK} tui --url {backend.url}"
    t("new-session", "-d", "-s", "h", "-x", "80", "-y", "24", command)
    try:
        t("set-option", "-g", "set-clipboard", "on")  # an OSC 52 would land in a tmux buffer
        t("select-pane", "-t", "h", "-T", "clean")

        async def shows(text: str) -> str:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while text not in (pane := t("capture-pane", "-p", "-e", "-t", "h")):
                assert loop.time() < deadline, f"{text!r} never appeared:\n{pane}"
                await asyncio.sleep(0.1)
            return pane

        def took_no_effect(pane: str) -> None:
            assert t("list-buffers") == ""  # OSC 52 wrote no clipboard
            assert t("display-message", "-p", "-t", "h", "#{pane_title}").strip() == "clean"
            # The only escapes in the capture are the console's own colours: no blink (5),
            # no concealed text (8), and the screen was not cleared.
            assert "\x1b[5m" not in pane and "\x1b[8m" not in pane
            assert "\x1b]" not in pane and "\x1bP" not in pane

        queue = await shows("@mallory")
        took_no_effect(queue)
        plain = t("capture-pane", "-p", "-t", "h")
        rows = [line for line in plain.splitlines() if line.startswith(" P")]
        assert len(rows) == 2, plain  # two conversations, two rows: nothing broke a row
        mallory = next(line for line in rows if "@mallory" in line)
        assert "A^[]52;c;" in mallory  # drawn as inert text, on its own row
        assert "@jo_k" in plain and "calm one" in plain

        # The thread: the post, the note and the tag, shown literally.
        t("send-keys", "-t", "h", "g" if rows[0].find("@mallory") >= 0 else "G", "Enter")
        thread = await shows("<U+2029>")
        took_no_effect(thread)
        plain = t("capture-pane", "-p", "-t", "h")
        for visible in ("^[]52;c;aGFja2Vk^G", "^[[2J", "<U+009B>31m", "<U+202E>evil", "<U+3164>"):
            assert visible in plain, (visible, plain)
        assert "tags: tag^[]0;pwned^G" in plain, plain  # the backend itself spaces out U+2029
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
