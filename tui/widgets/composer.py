"""The response composer: what will be posted, where, how long it is, and what the backend advises.

Modes: a public reply, a reply in DM, a public closing message (resolve), and move-to-DM, which
takes two texts in two stages: first the public acknowledgement, then the opening DM.
The composer judges nothing itself: advisories come from POST /api/advise, debounced.

Each conversation has its own draft (tui/drafts.py): switching conversations puts the old
draft away and brings the new one's back; sending drops it.
"""

from __future__ import annotations

import asyncio
import re
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
from ..context import console_of
from ..drafts import Draft
from ..failures import report_worker_failure
from ..formats import format_count
from ..i18n import N_, _
from ..literal import literal, one_line
from ..notices import tell

LIMITS = {"mastodon": 500, "bluesky": 300, "simulator": 500}
ADVISE_DEBOUNCE = 0.3  # seconds of quiet typing before asking the backend
PRESENCE_EVERY = 3.0  # seconds between "still typing" notices to other operators
TYPING_IDLE = 5.0  # seconds without a keystroke after which the operator is no longer typing
DRAFT_SAVE = 0.5  # seconds of quiet typing before the draft is written to disk

# mode -> (label, channel of the text being written)
MODES = {
    "reply": (N_("public reply"), "public"),
    "dm": (N_("reply in DM"), "dm"),
    "resolve": (N_("public closing message (resolves)"), "public"),
    "move_ack": (N_("move to DM 1/2: public acknowledgement"), "public"),
    "move_dm": (N_("move to DM 2/2: the opening DM"), "dm"),
}


def advisory_text(findings: list[dict[str, Any]]) -> Text:
    """Each finding on its own line; refusals first, since they block sending."""
    out = Text()
    for f in sorted(findings, key=lambda f: f.get("kind") != "refusal"):
        mark = "✖ " if f.get("kind") == "refusal" else "⚠ "
        if out:
            out.append("\n")
        out.append(mark + literal(str(f.get("message") or f.get("check") or ""), False))
        if f.get("suggestion"):
            out.append(" → " + literal(str(f["suggestion"]), False))
    return out


class Composer(Vertical):
    """Single letters type text here; ctrl+s sends, esc goes back."""

    BINDINGS = [
        Binding(
            "ctrl+s",
            "send",
            N_("Send"),
            priority=True,
            id="composer.send",
            tooltip=N_("Send; a second ctrl+s sends despite advisories"),
        ),
        Binding(
            "ctrl+t",
            "screen.saved_reply",
            N_("Saved reply"),
            id="composer.saved_reply",
            tooltip=N_("Insert a saved reply in the customer's language, their name filled in"),
        ),
        Binding(
            "escape",
            "leave",
            N_("Back"),
            id="composer.leave",
            tooltip=N_("Back to the thread; the draft stays"),
        ),
    ]

    mode: reactive[str] = reactive("reply")
    platform: reactive[str] = reactive("simulator")
    findings: reactive[list[dict[str, Any]]] = reactive(list, always_update=True)
    awaiting_confirmation: reactive[bool] = reactive(False)
    notice: reactive[str] = reactive("")  # why sending cannot work yet, and what to do

    @dataclass
    class Send(Message):
        """The operator asked to send: text (and the acknowledgement for move-to-DM)."""

        conversation_id: int
        mode: str
        text: str
        ack_text: str = ""
        confirm: bool = False

    class Leave(Message):
        pass

    @dataclass
    class Typing(Message):
        """The operator is (or stopped) typing: fanned out to other operators as presence."""

        conversation_id: int
        typing: bool

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.conversation_id: int | None = None
        self.address = ""  # how public texts address the customer ("@jo"), from the backend
        self.ack_text = ""  # stage 1 of move-to-DM, kept while the DM is written
        self._advise_timer: Timer | None = None
        self._idle_timer: Timer | None = None
        self._save_timer: Timer | None = None
        self._advise_available = True
        self._typing_in: int | None = None  # the conversation others are told we type in
        self._last_typing = -PRESENCE_EVERY
        self._loaded_text: str | None = None  # text put in by the console, not typed
        self._pending_dm = ""  # the DM written before the acknowledgement was refused
        self._text = ""  # the text area's text as of its last change

    def compose(self) -> ComposeResult:
        yield Static(id="composer-status")
        yield Static(id="composer-notice")
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

    def added_address(self, text: str) -> str:
        """The customer's address the backend puts in front of a public text that lacks it
        (so the customer is notified); it counts against the platform's limit."""
        if self.channel == "dm" or not self.address:
            return ""
        # As the backend decides (connectors.address): not inside a longer handle or a URL.
        mentioned = rf"(?<![\w@/]){re.escape(self.address)}(?![\w@]|[.-]\w)"
        return "" if re.search(mentioned, text, re.IGNORECASE) else self.address + " "

    @property
    def has_draft(self) -> bool:
        return bool(self.text_area.text.strip() or self.ack_text.strip())

    def on_mount(self) -> None:
        self.call_after_refresh(self._update_status)  # children are mounted by then

    def on_unmount(self) -> None:
        self.save_draft()

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
            self.query_one("#composer-advice", Static).update(advisory_text(findings))

    def watch_notice(self, notice: str) -> None:
        self.set_class(bool(notice), "-notice")
        if self.is_mounted:
            self.query_one("#composer-notice", Static).update(Text(notice))

    def watch_awaiting_confirmation(self, waiting: bool) -> None:
        self.set_class(waiting, "-confirm")
        self._update_status()

    def on_text_area_changed(self, _: TextArea.Changed) -> None:
        self.awaiting_confirmation = False
        self._update_status()
        self._schedule_advice()
        text = self._text = self.text_area.text
        if self._loaded_text is not None and text == self._loaded_text:
            self._loaded_text = None  # the console put this text in: nobody typed
            return
        self._loaded_text = None
        self._schedule_save()
        if self.conversation_id is not None and text:
            self._typed(self.conversation_id)

    # -- presence: honest about when we type -------------------------------------------

    def _typed(self, conversation_id: int) -> None:
        now = asyncio.get_running_loop().time()
        if self._typing_in != conversation_id or now - self._last_typing >= PRESENCE_EVERY:
            self._typing_in = conversation_id
            self._last_typing = now
            self.post_message(self.Typing(conversation_id, True))
        if self._idle_timer is not None:
            self._idle_timer.stop()
        self._idle_timer = self.set_timer(TYPING_IDLE, self.stop_typing)

    def stop_typing(self) -> None:
        """Tell the others we stopped (sent, left, went idle or moved on); once."""
        if self._idle_timer is not None:
            self._idle_timer.stop()
            self._idle_timer = None
        if self._typing_in is not None:
            self.post_message(self.Typing(self._typing_in, False))
            self._typing_in = None
            self._last_typing = -PRESENCE_EVERY

    # -- status ------------------------------------------------------------------------

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        text = self.text_area.text
        added = self.added_address(text)
        used = len(text) + len(added)
        self.set_class(used > self.limit, "-over-limit")
        status = Text()
        status.append("DM" if self.channel == "dm" else _("PUBLIC"), "bold")
        status.append(f" · {_(MODES[self.mode][0])}")
        if added:
            status.append(" · " + _("to {address}").format(address=one_line(self.address, 40)))
        status.append(f" · {format_count(used)}/{format_count(self.limit)}")
        if self.awaiting_confirmation:
            status.append(" · " + _("ctrl+s again to send anyway"), "bold")
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
            findings = await console_of(self).client.advise(text, channel, conversation_id)
        except BackendError as exc:
            if exc.status == 404:
                self._advise_available = False  # an older backend without /api/advise
            return
        if text == self.text_area.text:  # still the draft it was asked about
            self.findings = findings

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    # -- drafts --------------------------------------------------------------------

    def _schedule_save(self) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(DRAFT_SAVE, self.save_draft)

    def save_draft(self) -> None:
        """Put the draft of the conversation being written to away (an empty one is forgotten)."""
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        if self.conversation_id is None:
            return
        # From the copy kept on each change: on unmount the text area is already gone.
        draft = Draft(self.mode, self._text, self.ack_text)
        console_of(self).drafts.put(self.conversation_id, draft)

    def _load(self, text: str) -> None:
        self._loaded_text = self._text = text
        self.text_area.load_text(text)
        self.text_area.move_cursor(self.text_area.document.end)

    # -- which conversation, which mode ----------------------------------------------

    def attach(self, conversation_id: int, platform: str, address: str = "") -> None:
        """Write for this conversation from now on, with its own draft."""
        self.address = address
        if conversation_id != self.conversation_id:
            self.save_draft()
            self.stop_typing()
            draft = console_of(self).drafts.get(conversation_id) or Draft()
            self.conversation_id = conversation_id
            self.ack_text = draft.ack_text
            self._pending_dm = ""
            self.findings = []
            self.notice = ""
            self.awaiting_confirmation = False
            self.mode = draft.mode if draft.mode in MODES else "reply"
            self._load(draft.text)
        self.platform = platform

    def detach(self) -> None:
        """No conversation on screen: put the draft away and show an empty composer."""
        self.save_draft()
        self.stop_typing()
        self.conversation_id = None
        self.ack_text = ""
        self._pending_dm = ""
        self.findings = []
        self.notice = ""
        self._load("")

    def start(self, mode: str, conversation_id: int, platform: str) -> None:
        """Open the composer in a mode for a conversation and give it the keyboard."""
        self.attach(conversation_id, platform)
        if mode == "move_ack" and self.mode == "move_dm" and self.ack_text:
            mode = "move_dm"  # come back to stage 2 of a move already under way
        if mode != self.mode and mode != "move_dm":
            self.ack_text = ""
        self.mode = mode
        self.focus_text()

    def focus_text(self) -> None:
        self.text_area.focus()

    def clear(self) -> None:
        self._load("")
        self.ack_text = ""
        self.findings = []
        self.awaiting_confirmation = False
        if self.mode == "move_dm":
            self.mode = "move_ack"

    def sent(self, conversation_id: int) -> None:
        """The backend took the text: the draft is gone."""
        console_of(self).drafts.drop(conversation_id)
        if conversation_id == self.conversation_id:
            self.clear()
            self.mode = "reply"
            self.notice = ""

    def insert(self, text: str) -> None:
        """Put text (a saved reply) at the cursor, as if typed; on a line of its own if the
        cursor is after other words."""
        area = self.text_area
        start, end = area.selection
        before = area.get_text_range((0, 0), start)
        if before and not before[-1].isspace():
            text = "\n" + text
        area.replace(text, start, end)
        self.focus_text()

    def action_send(self) -> None:
        text = self.text_area.text.strip()
        if self.conversation_id is None:
            tell(self, _("Open a conversation first."), severity="warning")
            return
        if not text:
            tell(self, _("Nothing to send: write the text first."), severity="warning")
            return
        if len(text) + len(self.added_address(text)) > self.limit:
            used = len(text) + len(self.added_address(text))
            tell(
                self,
                _(
                    "Too long for {platform}: {used} of {limit} characters "
                    "(with the customer's address)."
                ).format(
                    platform=self.platform, used=format_count(used), limit=format_count(self.limit)
                ),
                severity="error",
            )
            return
        if self.mode == "move_ack":
            # Stage 1 done: keep the acknowledgement, write the DM next.
            self.ack_text = text
            self._load(self._pending_dm)
            self._pending_dm = ""
            self.mode = "move_dm"
            self.save_draft()
            return
        self.stop_typing()
        self.post_message(
            self.Send(
                self.conversation_id,
                self.mode,
                text,
                self.ack_text,
                confirm=self.awaiting_confirmation,
            )
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
            dm = self.text_area.text
            self._load(self.ack_text)
            self.ack_text = ""
            self.mode = "move_ack"
            if dm.strip():
                self._pending_dm = dm
                self.notice = _("Your DM is kept: fix the acknowledgement, ctrl+s, and it is back.")

    def action_leave(self) -> None:
        self.stop_typing()
        self.save_draft()
        self.post_message(self.Leave())
