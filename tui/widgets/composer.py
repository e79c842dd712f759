"""The response composer: what will be posted, where, how long it is, and what the backend advises.

Modes: a public reply, a reply in DM, a public closing message (resolve), and move-to-DM, which
takes two texts in two stages: first the public acknowledgement, then the opening DM.
The composer judges nothing itself: advisories come from POST /api/advise, debounced.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static, TextArea
from textual.worker import Worker

from ..client import BackendError
from ..failures import report_worker_failure
from ..literal import literal

LIMITS = {"mastodon": 500, "bluesky": 300, "simulator": 500}
ADVISE_DEBOUNCE = 0.3  # seconds of quiet typing before asking the backend
PRESENCE_EVERY = 3.0  # seconds between "still typing" notices to other operators

# mode -> (label, channel of the text being written)
MODES = {
    "reply": ("public reply", "public"),
    "dm": ("reply in DM", "dm"),
    "resolve": ("public closing message (resolves)", "public"),
    "move_ack": ("move to DM 1/2: public acknowledgement", "public"),
    "move_dm": ("move to DM 2/2: the opening DM", "dm"),
}


def advisory_line(findings: list[dict[str, Any]]) -> Text:
    """One line naming each finding; refusals first, since they block sending."""
    out = Text()
    for f in sorted(findings, key=lambda f: f.get("kind") != "refusal"):
        mark = "✖ " if f.get("kind") == "refusal" else "⚠ "
        if out:
            out.append("  ")
        out.append(mark + literal(str(f.get("message") or f.get("check") or "")))
        if f.get("suggestion"):
            out.append(" → " + literal(str(f["suggestion"])))
    return out


class Composer(Vertical):
    """Single letters type text here; ctrl+s sends, esc goes back to the queue."""

    BINDINGS = [
        Binding(
            "ctrl+s",
            "send",
            "Send",
            priority=True,
            id="composer.send",
            tooltip="Send; a second ctrl+s sends despite advisories",
        ),
        Binding(
            "escape",
            "leave",
            "Back",
            id="composer.leave",
            tooltip="Back to the queue; the draft stays",
        ),
    ]

    mode: reactive[str] = reactive("reply")
    platform: reactive[str] = reactive("simulator")
    findings: reactive[list[dict[str, Any]]] = reactive(list, always_update=True)
    awaiting_confirmation: reactive[bool] = reactive(False)

    @dataclass
    class Send(Message):
        """The operator asked to send: text (and the acknowledgement for move-to-DM)."""

        mode: str
        text: str
        ack_text: str = ""
        confirm: bool = False

    class Leave(Message):
        pass

    @dataclass
    class Typing(Message):
        """The operator is (or stopped) typing: fanned out to other operators as presence."""

        typing: bool

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.conversation_id: int | None = None
        self.ack_text = ""  # stage 1 of move-to-DM, kept while the DM is written
        self._advise_timer: Timer | None = None
        self._advise_available = True
        self._last_typing = -PRESENCE_EVERY

    def compose(self) -> ComposeResult:
        yield Static(id="composer-status")
        yield Static(id="composer-advice")
        yield TextArea(id="composer-text", soft_wrap=True, show_line_numbers=False)

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#composer-text", TextArea)

    @property
    def channel(self) -> str:
        return MODES[self.mode][1]

    @property
    def limit(self) -> int:
        return LIMITS.get(self.platform, 500)

    def on_mount(self) -> None:
        self.call_after_refresh(self._update_status)  # children are mounted by then

    def watch_mode(self, mode: str) -> None:
        self.set_class(MODES[mode][1] == "dm", "-dm")
        self.awaiting_confirmation = False
        self._update_status()
        self._schedule_advice()

    def watch_platform(self, _: str) -> None:
        self._update_status()

    def watch_findings(self, findings: list[dict[str, Any]]) -> None:
        self.set_class(bool(findings), "-advised")
        self.set_class(any(f.get("kind") == "refusal" for f in findings), "-refused")
        if self.is_mounted:
            self.query_one("#composer-advice", Static).update(advisory_line(findings))

    def watch_awaiting_confirmation(self, waiting: bool) -> None:
        self.set_class(waiting, "-confirm")
        self._update_status()

    def on_text_area_changed(self, _: TextArea.Changed) -> None:
        self.awaiting_confirmation = False
        self._update_status()
        self._schedule_advice()
        now = asyncio.get_running_loop().time()
        if self.text_area.text and now - self._last_typing >= PRESENCE_EVERY:
            self._last_typing = now
            self.post_message(self.Typing(True))

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        used = len(self.text_area.text)
        self.set_class(used > self.limit, "-over-limit")
        status = Text()
        status.append("COMPOSER ")
        status.append("DM" if self.channel == "dm" else "PUBLIC", "bold")
        status.append(f" · {MODES[self.mode][0]} · {used}/{self.limit}")
        if self.awaiting_confirmation:
            status.append(" · ctrl+s again to send anyway", "bold")
        self.query_one("#composer-status", Static).update(status)

    # -- advisories from the backend ----------------------------------------------

    def _schedule_advice(self) -> None:
        if not self.is_mounted:
            return
        if self._advise_timer is not None:
            self._advise_timer.stop()
        self._advise_timer = self.set_timer(ADVISE_DEBOUNCE, self._ask_advice)

    def _ask_advice(self) -> None:
        self._advise_timer = None
        text = self.text_area.text
        if not text.strip():
            self.findings = []
            return
        if self._advise_available:
            self.advise(text, self.channel, self.conversation_id)

    @work(exclusive=True, group="advise", exit_on_error=False)
    async def advise(self, text: str, channel: str, conversation_id: int | None) -> None:
        try:
            findings = await self.app.client.advise(text, channel, conversation_id)  # type: ignore[attr-defined]
        except BackendError as exc:
            if exc.status == 404:
                self._advise_available = False  # an older backend without /api/advise
            return
        if text == self.text_area.text:  # still the draft it was asked about
            self.findings = findings

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    # -- sending -------------------------------------------------------------------

    def attach(self, conversation_id: int, platform: str) -> None:
        """Write for this conversation from now on; a draft for another one is dropped."""
        if conversation_id != self.conversation_id:
            self.clear()
            self.mode = "reply"
        self.conversation_id = conversation_id
        self.platform = platform

    def start(self, mode: str, conversation_id: int | None, platform: str) -> None:
        """Open the composer in a mode for a conversation; a draft for another conversation is dropped."""
        if conversation_id != self.conversation_id:
            self.clear()
        self.conversation_id = conversation_id
        self.platform = platform
        if mode != self.mode:
            self.ack_text = "" if mode != "move_dm" else self.ack_text
        self.mode = mode
        self.focus_text()

    def focus_text(self) -> None:
        self.text_area.focus()

    def clear(self) -> None:
        self.text_area.clear()
        self.ack_text = ""
        self.findings = []
        self.awaiting_confirmation = False
        if self.mode == "move_dm":
            self.mode = "move_ack"

    def action_send(self) -> None:
        text = self.text_area.text.strip()
        if not text:
            self.notify("Nothing to send: write the text first.", severity="warning")
            return
        if len(text) > self.limit:
            self.notify(
                f"Too long for {self.platform}: {len(text)} of {self.limit} characters.",
                severity="error",
            )
            return
        if self.mode == "move_ack":
            # Stage 1 done: keep the acknowledgement, write the DM next.
            self.ack_text = text
            self.text_area.clear()
            self.mode = "move_dm"
            return
        self.post_message(
            self.Send(self.mode, text, self.ack_text, confirm=self.awaiting_confirmation)
        )

    def needs_confirmation(self, findings: list[dict[str, Any]]) -> None:
        """The backend held the text back for advisories: show them; the next ctrl+s confirms."""
        self.findings = findings
        self.awaiting_confirmation = True
        self.focus_text()

    def refused(self, findings: list[dict[str, Any]]) -> None:
        self.findings = findings
        self.awaiting_confirmation = False
        if self.mode == "move_dm":
            # The refusal may be about the public acknowledgement: go back to it.
            self.text_area.load_text(self.ack_text)
            self.mode = "move_ack"

    def action_leave(self) -> None:
        self.post_message(self.Typing(False))
        self.post_message(self.Leave())
