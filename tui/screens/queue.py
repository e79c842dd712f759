"""The working screen: queue, thread and composer.

Wide terminals show the queue beside the open conversation; narrow ones (80x24 over SSH) give
the queue and the conversation the whole width in turn, as mutt and aerc do: enter opens,
esc goes back. Either way, a key that acts on "the conversation" acts on the open one when
there is one, and on the queue row under the cursor only when the queue is what is on screen.

The screen renders and sends intents; the backend decides (who may act, what the state
becomes, whether a text may go out). Every call runs in a worker and comes back as a message.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker

from ..client import BackendError
from ..context import Console, console_of
from ..failures import report_worker_failure
from ..i18n import N_, _, ngettext
from ..literal import one_line
from ..messages import (
    ActionDone,
    ActionFailed,
    BackendEvent,
    ConnectionChanged,
    ConversationLoaded,
    OpenConversation,
    PresenceChanged,
    SummaryLoaded,
)
from ..notices import tell
from ..widgets.composer import Composer
from ..widgets.key_bar import KeyBar
from ..widgets.queue_list import STATE_WORD, QueueList
from ..widgets.shift_header import ShiftHeader
from ..widgets.thread_view import ThreadView
from .prompts import SAVED_FILTERS, ChoicePrompt, FilterPrompt, TextPrompt
from .saved_replies import fill_placeholders, template_choices

REFRESH_COALESCE = 0.15  # seconds: a burst of events becomes one refresh
# While events keep coming (a crisis: thousands of mentions a second) the window and the
# header are fetched again at most this often: refreshing every 0.15 s kept the console
# busy re-rendering and put keypress p99 at 257 ms while ingesting 200 mentions/s
# (bench/tui.py --ingest); the countdowns still tick every second in between.
REFRESH_AT_MOST_EVERY = 1.0
NARROW_WIDTH = 120  # below this many columns the queue and the conversation take turns
TYPING_STALE = (
    10.0  # seconds without a "still typing" from another operator before we stop showing it
)
SEND_ACTIONS = {"reply", "dm", "resolve", "move_dm"}
CLAIMABLE = {"new", "claimed", "awaiting_customer", "in_dm", "flagged_conduct"}
DISMISSABLE = {"new", "claimed", "flagged_conduct", "awaiting_customer"}
# What the backend's summary does not name (an older backend): the lifecycle's own three.
DISMISS_REASONS = [
    ("spam", N_("spam")),
    ("not_about_us", N_("not about us")),
    ("duplicate", N_("a duplicate of another conversation")),
]
FILTER_NAMES = {
    **dict(SAVED_FILTERS),
    "needs_us": N_("needs us"),
    "awaiting_customer": N_("awaiting"),
    "open": N_("open"),
}
NOTIFY_KINDS = {
    "crisis.started": (N_("Crisis: mention volume is surging."), "warning"),
    "crisis.ended": (N_("The crisis is over: volume is back to normal."), "information"),
    "rules.invalid": (
        N_("The rules files are invalid; the backend kept the last good ones."),
        "error",
    ),
}
# What each backend call is called in "Could not …" and "… : done." (verbs, as the action).
ACTION_WORDS = {
    "claim": N_("claim"),
    "claim next": N_("claim the next"),
    "release": N_("release"),
    "note": N_("add the note"),
    "tag": N_("tag"),
    "escalate": N_("escalate"),
    "assign": N_("assign"),
    "dismiss": N_("dismiss"),
    "house rules": N_("answer with the house rules"),
    "reply": N_("reply"),
    "dm": N_("reply in DM"),
    "resolve": N_("resolve"),
    "move_dm": N_("move to DM"),
    "keep the claim": N_("keep the claim"),
    "load the saved replies": N_("load the saved replies"),
}


def action_word(action: str) -> str:
    """The action as the operator reads it, in their language."""
    return _(ACTION_WORDS.get(action, action.replace("_", " ")))


def sentence(text: str) -> str:
    """Capitalised as a sentence (the action word may open it)."""
    return text[:1].upper() + text[1:]


class QueueScreen(Screen[None]):
    # Declared most important first: the help lists them in this order.
    BINDINGS = [
        Binding(
            "r",
            "compose('reply')",
            N_("Reply"),
            id="conv.reply",
            tooltip=N_("Write a public reply (claims the conversation first if nobody holds it)"),
        ),
        Binding(
            "d",
            "compose('dm')",
            N_("DM"),
            id="conv.dm",
            tooltip=N_("Move to DM (public acknowledgement, then the DM), or reply in DM"),
        ),
        Binding(
            "R",
            "compose('resolve')",
            N_("Resolve"),
            id="conv.resolve",
            tooltip=N_("Resolve with a public closing message"),
        ),
        Binding(
            "h",
            "house_rules",
            N_("House rules"),
            id="conv.house_rules",
            tooltip=N_("Answer a flagged abusive post once, publicly, with the house rules"),
        ),
        Binding(
            "D",
            "dismiss_conversation",
            N_("Dismiss"),
            id="conv.dismiss",
            tooltip=N_("Dismiss the conversation with a reason: spam, not about us, a duplicate"),
        ),
        Binding("c", "claim", N_("Claim"), id="conv.claim", tooltip=N_("Claim the conversation")),
        Binding(
            "n", "claim_next", N_("Next"), id="conv.next", tooltip=N_("Claim the top of the queue")
        ),
        Binding(
            "u",
            "release",
            N_("Release"),
            id="conv.release",
            tooltip=N_("Give the conversation (or the selected ones) back to the queue"),
        ),
        Binding("m", "note", N_("Note"), id="conv.note", tooltip=N_("Add an internal note")),
        Binding(
            "t",
            "tag",
            N_("Tag"),
            show=False,
            id="conv.tag",
            tooltip=N_("Tag the conversation (or the selected ones)"),
        ),
        Binding(
            "e",
            "escalate",
            N_("Escalate"),
            show=False,
            id="conv.escalate",
            tooltip=N_("Escalate to a lead, with a reason"),
        ),
        Binding(
            "a",
            "assign",
            N_("Assign"),
            show=False,
            id="conv.assign",
            tooltip=N_("Assign the selected conversations (or this one, leads) to an operator"),
        ),
        Binding(
            "v",
            "reveal",
            N_("Reveal"),
            show=False,
            id="conv.reveal",
            tooltip=N_("Show or mask personal data in the thread"),
        ),
        Binding(
            "slash",
            "filter",
            N_("Filter"),
            id="queue.filter",
            tooltip=N_("Search and saved filters"),
        ),
        # x and C: free letters, not ctrl+a/ctrl+b (tmux/screen) nor ctrl+s/ctrl+q (flow control).
        Binding(
            "x",
            "crisis_groups",
            N_("Groups"),
            show=False,
            id="crisis.groups",
            tooltip=N_("Near-identical complaints grouped; enter selects a group's conversations"),
        ),
        Binding(
            "C",
            "holding_statement",
            N_("Holding"),
            show=False,
            id="crisis.holding",
            tooltip=N_(
                "Lead: one personalised holding statement to the selected conversations or a group"
            ),
        ),
        Binding(
            "H",
            "handover",
            N_("Handover"),
            show=False,
            id="app.handover",
            tooltip=N_("The shift handover"),
        ),
        Binding(
            "E",
            "end_shift",
            N_("End shift"),
            show=False,
            id="app.end_shift",
            tooltip=N_("End your shift with a note for the next one; the handover is written"),
        ),
        Binding(
            "question_mark",
            "help",
            N_("Help"),
            id="app.help",
            tooltip=N_("Every key, and what the queue's columns and marks mean"),
        ),
        Binding(
            "q",
            "quit",
            N_("Quit"),
            show=False,
            id="app.quit_q",
            tooltip=N_("Quit shiftdesk (asks first if you hold conversations or have drafts)"),
        ),
        Binding(
            "escape",
            "back",
            N_("Back"),
            id="app.back",
            tooltip=N_("Close the conversation and go back to the queue, or clear the selection"),
        ),
        Binding(
            "1",
            "focus_pane('queue')",
            N_("Queue"),
            show=False,
            id="pane.queue",
            tooltip=N_("Go to the queue"),
        ),
        Binding(
            "2",
            "focus_pane('thread')",
            N_("Thread"),
            show=False,
            id="pane.thread",
            tooltip=N_("Go to the thread"),
        ),
        Binding(
            "3",
            "focus_pane('composer')",
            N_("Composer"),
            show=False,
            id="pane.composer",
            tooltip=N_("Go to the composer"),
        ),
    ]

    # The conversation on screen (its id at once, its data when loaded).
    open_id: reactive[int | None] = reactive(None)

    def __init__(self) -> None:
        super().__init__()
        self.open_conversation: dict[str, Any] | None = None
        self._refresh_timer: Timer | None = None
        self._refreshed_at = 0.0
        self._heartbeat_timer: Timer | None = None
        self._can_run: tuple[bool, bool] | None = None
        self._typing_seen: dict[int, tuple[int | None, str, float]] = {}

    @property
    def console(self) -> Console:
        return console_of(self)

    def compose(self) -> ComposeResult:
        yield ShiftHeader(id="header")
        with Horizontal(id="panes"):
            with Vertical(id="queue-pane"):
                yield Static(id="queue-title")
                yield QueueList(id="queue", clock=self.console.now, loader=self._load_page)
            with Vertical(id="right"):
                yield ThreadView(id="thread")
                yield Composer(id="composer")
        yield KeyBar(id="keys")

    async def _load_page(
        self, filter: str, search: str, offset: int, limit: int, **key: str
    ) -> dict[str, Any]:
        return await self.console.client.queue(
            filter=filter, q=search, offset=offset, limit=limit, **key
        )

    @property
    def queue(self) -> QueueList:
        return self.query_one(QueueList)

    @property
    def thread(self) -> ThreadView:
        return self.query_one(ThreadView)

    @property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    @property
    def keys(self) -> KeyBar:
        return self.query_one(KeyBar)

    @property
    def header(self) -> ShiftHeader:
        return self.query_one(ShiftHeader)

    @property
    def narrow(self) -> bool:
        return self.has_class("-narrow")

    def on_mount(self) -> None:
        me = self.console.me
        self.queue.operator_id = me.get("id")
        self.header.operator = me.get("display_name", "")
        if self.console.summary:
            self.header.show_summary(self.console.summary)
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")
        self.queue.focus()
        self.queue.reload()
        self.set_interval(2.0, self._expire_typing, name="typing-expiry")

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "-narrow")

    def watch_open_id(self, open_id: int | None) -> None:
        self.set_class(open_id is not None, "-reading")

    # -- loading ---------------------------------------------------------------------

    @work(exclusive=True, group="summary", exit_on_error=False)
    async def load_summary(self) -> None:
        self.post_message(SummaryLoaded(await self.console.client.summary()))

    @work(exclusive=True, group="thread", exit_on_error=False)
    async def load_conversation(self, conversation_id: int) -> None:
        conv = await self.console.client.conversation(conversation_id)
        self.post_message(ConversationLoaded(conv))

    def on_summary_loaded(self, message: SummaryLoaded) -> None:
        self.header.show_summary(message.summary)

    def on_conversation_loaded(self, message: ConversationLoaded) -> None:
        conv = message.conversation
        if conv["id"] != self.open_id:
            return  # the operator has moved on since this was asked for
        self.open_conversation = conv
        self.thread.banner = self._banner(conv)
        flagged = conv.get("state") == "flagged_conduct"
        self.keys.put_first(*(("conv.house_rules", "conv.dismiss") if flagged else ()))
        self.thread.show(conv)
        self.composer.attach(conv["id"], conv["platform"], str(conv.get("address") or ""))
        self.composer.notice = self._why_not_send(conv)
        self._schedule_heartbeat()
        self.refresh_bindings()

    def _open(self, conversation_id: int, focus_thread: bool = True) -> None:
        """Put a conversation on screen (the thread pane) and load it."""
        if self.open_id != conversation_id:
            self.open_conversation = None
            self.open_id = conversation_id
            self.thread.clear()
            self.composer.attach(conversation_id, self._row_platform(conversation_id))
            self._schedule_heartbeat()
        if focus_thread:
            self.thread.focus()
        self.load_conversation(conversation_id)
        self.refresh_bindings()

    def _row_platform(self, conversation_id: int) -> str:
        row = self.queue.rows_by_id.get(conversation_id) or {}
        return str(row.get("platform", "simulator"))

    @on(OpenConversation)
    def open(self, message: OpenConversation) -> None:
        self._open(message.conversation_id)

    @on(QueueList.Changed)
    def queue_changed(self, message: QueueList.Changed) -> None:
        q = message.queue
        title = _("QUEUE") + f" · {_(FILTER_NAMES.get(q.filter, q.filter))} · "
        title += f"{q.cursor + 1 if q.total else 0}/{q.total}{'' if q.total_exact else '+'}"
        if q.search:
            title += f" · “{one_line(q.search, 30)}”"
        if q.selected:
            title += " · " + _("{count} selected").format(count=len(q.selected))
        self.query_one("#queue-title", Static).update(
            title, layout=False
        )  # fixed size: no re-layout
        self.query_one("#queue-title").set_class(bool(q.selected), "-selecting")
        # Redrawing the footer costs more than the move itself: only when what can run changed.
        can_run = (bool(q.selected), q.selected_id is None)
        if can_run != self._can_run:
            self._can_run = can_run
            self.refresh_bindings()

    # -- live ------------------------------------------------------------------------

    def on_backend_event(self, message: BackendEvent) -> None:
        event = message.event
        if self._refresh_timer is None:
            since = time.monotonic() - self._refreshed_at
            wait = max(REFRESH_COALESCE, REFRESH_AT_MOST_EVERY - since)
            self._refresh_timer = self.set_timer(wait, self._refresh_now)
        mine = self.open_id is not None and event.get("conversation_id") == self.open_id
        if mine:
            self.load_conversation(self.open_id)
        kind = event["kind"]
        if kind == "message.failed" and mine:
            tell(
                self,
                _("A reply failed to publish: {error}").format(
                    error=event["data"].get("error", "")
                ),
                severity="error",
            )
        elif kind == "conversation.lease_expired" and mine and self._held_by_me():
            tell(
                self,
                _("Your claim on this conversation expired; it is back in the queue."),
                severity="warning",
            )
        elif kind in NOTIFY_KINDS:
            text, severity = NOTIFY_KINDS[kind]
            tell(self, _(text), severity=severity)  # type: ignore[arg-type]

    def _refresh_now(self) -> None:
        self._refresh_timer = None
        self._refreshed_at = time.monotonic()
        self.queue.reload()
        self.load_summary()

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        self.header.connected = message.connected
        self.header.offline_detail = message.detail
        if message.connected:
            # Back online: the stream replays what we missed; repaint from the server too.
            self._refresh_now()
            if self.open_id is not None:
                self.load_conversation(self.open_id)

    def on_presence_changed(self, message: PresenceChanged) -> None:
        if message.operator_id == self.console.me.get("id"):
            return
        self._show_typing(
            message.operator_id, message.operator_name, message.conversation_id, message.typing
        )

    def _show_typing(
        self, operator_id: int, name: str, conversation_id: int | None, typing: bool
    ) -> None:
        if typing:
            self._typing_seen[operator_id] = (conversation_id, name, time.monotonic())
        else:
            self._typing_seen.pop(operator_id, None)
        self.queue.set_typing(conversation_id, name, typing)
        shown_here = typing and conversation_id is not None and conversation_id == self.open_id
        self.thread.set_typing(operator_id, name, shown_here)

    def _expire_typing(self) -> None:
        """A console that went away without saying it stopped typing must not show as typing forever."""
        now = time.monotonic()
        for operator_id, (cid, name, seen) in list(self._typing_seen.items()):
            if now - seen > TYPING_STALE:
                self._show_typing(operator_id, name, cid, False)

    # -- what the keys act on ------------------------------------------------------------

    def _held_by_me(self) -> bool:
        conv = self.open_conversation
        holder = conv.get("holder") if conv else None
        return bool(holder and holder["id"] == self.console.me.get("id"))

    def _target(self) -> int | None:
        """The conversation a single action applies to: the open one, else the row under the
        cursor (then the queue is what is on screen)."""
        if self.open_id is not None:
            return self.open_id
        return self.queue.selected_id

    def _target_info(self) -> dict[str, Any] | None:
        """What we know of the target: the loaded conversation, else its queue row."""
        cid = self._target()
        if cid is None:
            return None
        if self.open_conversation is not None and self.open_conversation["id"] == cid:
            return self.open_conversation
        return self.queue.rows_by_id.get(cid)

    def _bulk_ids(self) -> list[int]:
        """The selection, when the queue (where it shows) is what the operator is working in."""
        if not self.queue.selected:
            return []
        if self.open_id is not None and (self.narrow or not self.queue.has_focus):
            return []
        return sorted(self.queue.selected)

    def _holder_id(self, info: dict[str, Any] | None) -> int | None:
        holder = (info or {}).get("holder")
        return holder["id"] if holder else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        info = self._target_info()
        me = self.console.me.get("id")
        lead = self.console.me.get("role") == "lead"
        state = (info or {}).get("state")
        available: bool
        if action == "compose":
            available = self._target() is not None
        elif action == "claim":
            available = info is not None and self._holder_id(info) != me and state in CLAIMABLE
        elif action == "release":
            available = bool(self._bulk_ids()) or (info is not None and self._holder_id(info) == me)
        elif action in ("note", "escalate"):
            available = self._target() is not None
        elif action == "tag":
            available = bool(self._bulk_ids()) or self._target() is not None
        elif action == "assign":
            available = bool(self._bulk_ids()) or (lead and self._target() is not None)
        elif action == "reveal":
            available = self.thread.has_masked_text()
        elif action == "holding_statement":
            available = lead
        elif action == "house_rules":
            # Only offered where it applies, so it does not crowd the footer elsewhere.
            return True if self.open_id is not None and state == "flagged_conduct" else False
        elif action == "dismiss_conversation":
            return True if self.open_id is not None and state in DISMISSABLE else False
        else:
            return True
        return True if available else None  # None: shown greyed out

    def _banner(self, conv: dict[str, Any]) -> str:
        if conv.get("state") != "flagged_conduct":
            return ""
        keys = self._key_for
        return "⚑ " + _(
            "Flagged as abusive: {rules_key} answers once with the house rules · "
            "{dismiss_key} dismisses it with a reason"
        ).format(rules_key=keys("conv.house_rules", "h"), dismiss_key=keys("conv.dismiss", "D"))

    def _key_for(self, binding_id: str, default: str) -> str:
        return self.console.keymap.get(binding_id, default).split(",")[0]

    def _why_not_send(self, conv: dict[str, Any]) -> str:
        """What stands between the operator and sending, in words, with the way round it."""
        holder = conv.get("holder")
        me = self.console.me.get("id")
        state = conv.get("state")
        if state not in CLAIMABLE:
            word = _(STATE_WORD.get(str(state), one_line(str(state)).replace("_", " ")))
            return _(
                "This conversation is {state}: it reopens when the customer writes again."
            ).format(state=word)
        if holder and holder["id"] != me:
            return _(
                "{name} holds this conversation: you can write, but only they can send. "
                "A lead can reassign it ({key})."
            ).format(name=one_line(holder["name"]), key=self._key_for("conv.assign", "a"))
        return ""

    # -- actions -----------------------------------------------------------------------

    def action_claim(self) -> None:
        cid = self._target()
        if cid is not None:
            self.act("claim", cid, lambda c: c.claim(cid))

    def action_claim_next(self) -> None:
        self.act("claim next", None, lambda c: c.claim_next())

    def action_compose(self, kind: str) -> None:
        """Open the composer on what is on screen; claim it on the way if nobody holds it.

        The composer takes the keyboard at once, before any answer from the backend, so the
        words typed next land in the text and never run as commands."""
        cid = self._target()
        info = self._target_info()
        if cid is None or info is None:
            tell(self, _("Nothing to write to: the queue is empty."), severity="warning")
            return
        mode = kind
        if kind == "dm":
            mode = "dm" if info.get("state") == "in_dm" else "move_ack"
        if self.open_id != cid:
            self._open(cid, focus_thread=False)
        self.composer.start(mode, cid, str(info.get("platform", "simulator")))
        me = self.console.me.get("id")
        if info.get("holder") is None and info.get("state") in CLAIMABLE:
            self.composer.notice = _("Claiming it for you…")
            self.act("claim", cid, lambda c: c.claim(cid), quiet=True)
        elif self._holder_id(info) != me:
            self.composer.notice = self._why_not_send(info)

    def action_release(self) -> None:
        ids = self._bulk_ids()
        if ids:
            self.act("release", None, lambda c: c.bulk("release", ids), bulk=True)
            return
        cid = self._target()
        if cid is not None:
            self.act("release", cid, lambda c: c.release(cid))

    @work(exit_on_error=False)
    async def action_note(self) -> None:
        cid = self._target()
        if cid is None:
            return
        text = await self.app.push_screen_wait(
            TextPrompt(
                _("Internal note (only the team sees it)"), _("what the next person should know")
            )
        )
        if text:
            self.act("note", cid, lambda c: c.add_note(cid, text))

    @work(exit_on_error=False)
    async def action_tag(self) -> None:
        ids = self._bulk_ids()
        cid = self._target()
        title = (
            ngettext(
                "Tag {count} selected conversation", "Tag {count} selected conversations", len(ids)
            ).format(count=len(ids))
            if ids
            else _("Tag this conversation")
        )
        tag = await self.app.push_screen_wait(TextPrompt(title, _("e.g. refund, outage, vip")))
        if not tag:
            return
        if ids:
            self.act("tag", None, lambda c: c.bulk("tag", ids, tag=tag), bulk=True)
        elif cid is not None:
            self.act("tag", cid, lambda c: c.add_tag(cid, tag))

    @work(exit_on_error=False)
    async def action_escalate(self) -> None:
        cid = self._target()
        if cid is None:
            return
        reason = await self.app.push_screen_wait(
            TextPrompt(_("Escalate to a lead: why?"), _("the reason, briefly"))
        )
        if reason:
            self.act("escalate", cid, lambda c: c.escalate(cid, reason))

    @work(exit_on_error=False)
    async def action_assign(self) -> None:
        ids = self._bulk_ids()
        cid = self._target()
        try:
            operators = await self.console.client.operators()
        except BackendError as exc:
            self.post_message(ActionFailed("assign", exc.message, exc.status, exc.body))
            return
        choices = [
            (str(o["id"]), o["display_name"] + ("  " + _("(online)") if o.get("online") else ""))
            for o in operators
        ]
        title = (
            ngettext(
                "Assign {count} selected conversation to",
                "Assign {count} selected conversations to",
                len(ids),
            ).format(count=len(ids))
            if ids
            else _("Reassign this conversation to")
        )
        chosen = await self.app.push_screen_wait(ChoicePrompt(title, choices))
        if chosen is None:
            return
        operator_id = int(chosen)
        if ids:
            self.act(
                "assign", None, lambda c: c.bulk("assign", ids, operator_id=operator_id), bulk=True
            )
        elif cid is not None:
            self.act("assign", cid, lambda c: c.reassign(cid, operator_id))

    @work(exit_on_error=False)
    async def action_house_rules(self) -> None:
        cid = self.open_id
        conv = self.open_conversation
        if cid is None or conv is None or conv.get("state") != "flagged_conduct":
            return
        handle = one_line("@" + conv["author"]["handle"], 30)
        try:
            statement = await self.console.client.house_rules_text(cid)
        except BackendError:
            statement = ""  # the backend still posts its statement; we just cannot show it first
        said = f"\n\n“{one_line(statement, 400)}”" if statement else ""
        chosen = await self.app.push_screen_wait(
            ChoicePrompt(
                _("Answer {handle} once, publicly, with the house rules?").format(handle=handle)
                + said,
                [("send", _("Yes: post the house-rules statement (it does not argue)"))],
            )
        )
        if chosen != "send":
            return
        claim = self._holder_id(conv) != self.console.me.get("id")

        async def call(client: Any) -> Any:
            if claim:
                await client.claim(cid)
            return await client.house_rules(cid)

        self.act("house rules", cid, call)

    def _dismiss_reasons(self) -> list[tuple[str, str]]:
        named = self.console.summary.get("dismiss_reasons") or []
        found = [(str(r["id"]), str(r.get("label") or r["id"])) for r in named if r.get("id")]
        # The backend's labels are the lifecycle's English words: the catalog has them too.
        return [(value, _(label)) for value, label in found or DISMISS_REASONS]

    @work(exit_on_error=False)
    async def action_dismiss_conversation(self) -> None:
        cid = self.open_id
        if cid is None:
            return
        reason = await self.app.push_screen_wait(
            ChoicePrompt(_("Dismiss this conversation: why?"), self._dismiss_reasons())
        )
        if reason:
            self.act("dismiss", cid, lambda c: c.dismiss(cid, reason))

    @work(exclusive=True, group="saved-replies", exit_on_error=False)
    async def action_saved_reply(self) -> None:
        """Pick a saved reply in the customer's language; it goes in with their name filled."""
        conv = self.open_conversation
        if conv is None or self.composer.conversation_id != conv["id"]:
            tell(self, _("Open a conversation and its composer first (r)."), severity="warning")
            return
        try:
            templates = await self.console.client.templates()
        except BackendError as exc:
            self.post_message(ActionFailed("load the saved replies", exc.message, exc.status))
            return
        if not templates:
            tell(self, _("There are no saved replies (rules/templates.yaml)."), severity="warning")
            return
        choices = template_choices(templates, conv.get("language"))
        index = await self.app.push_screen_wait(
            ChoicePrompt(_("Saved reply: a starting point, make it personal"), choices)
        )
        if index is None:
            self.composer.focus_text()
            return
        text = fill_placeholders(
            templates[int(index)]["text"],
            conv,
            brand=(self.console.summary.get("brand") or {}).get("handle", ""),
            operator=self.console.me.get("display_name", ""),
        )
        self.composer.insert(text)

    def action_reveal(self) -> None:
        self.thread.revealed = not self.thread.revealed

    @work(exit_on_error=False)
    async def action_filter(self) -> None:
        answer = await self.app.push_screen_wait(FilterPrompt(self.queue.filter, self.queue.search))
        if answer is None:
            return
        filter, search = answer
        self._show_queue()
        with self.app.batch_update():
            self.queue.search = search
            self.queue.filter = filter

    def apply_filter(self, filter: str) -> None:
        """Switch to a saved filter (from the command palette)."""
        self._show_queue()
        self.queue.filter = filter

    @work(exit_on_error=False)
    async def action_crisis_groups(self) -> None:
        from .crisis import CrisisGroupsScreen

        ids = await self.app.push_screen_wait(CrisisGroupsScreen())
        if ids:
            self._show_queue()
            self.queue.select_only(ids)
            lead = self.console.me.get("role") == "lead"
            tell(
                self,
                ngettext(
                    "{count} conversation selected: t tags, u releases, a assigns",
                    "{count} conversations selected: t tags, u releases, a assigns",
                    len(ids),
                ).format(count=len(ids))
                + (_(", C sends a holding statement.") if lead else "."),
            )

    @work(exit_on_error=False)
    async def action_holding_statement(self) -> None:
        from .crisis import CrisisGroupsScreen, HoldingStatementScreen

        if self.check_action("holding_statement", ()) is not True:
            return
        ids: list[int] | None = self._bulk_ids() or sorted(self.queue.selected)
        if not ids:  # nothing selected: the statement goes to a group
            ids = await self.app.push_screen_wait(
                CrisisGroupsScreen(_("write a holding statement to this group"))
            )
            if not ids:
                return
        answer = await self.app.push_screen_wait(HoldingStatementScreen(ids))
        if answer is not None:
            self.queue.clear_selection()
            self._refresh_now()
        self.queue.focus()

    @work(exclusive=True, group="end-shift", exit_on_error=False)
    async def action_end_shift(self) -> None:
        note = await self.app.push_screen_wait(
            TextPrompt(
                _("End your shift: a note for the next shift (enter with none: no note)"),
                placeholder=_("what the next shift should know"),
                allow_empty=True,
            )
        )
        if note is None:
            return
        try:
            found = await self.console.client.shift_end(note)
        except BackendError as exc:
            tell(self, _("Could not end the shift: {error}").format(error=exc), severity="error")
            return
        tell(self, _("Shift ended: the handover is written; q quits."))
        from .handover import LatestHandoverScreen

        await self.app.push_screen_wait(LatestHandoverScreen(found, title=_("YOUR HANDOVER")))

    def action_handover(self) -> None:
        from .handover import HandoverScreen

        self.app.push_screen(HandoverScreen())

    def help_sections(self) -> list[tuple[str, list[Any]]]:
        """The keys by where they work, straight from the bindings."""
        mine = [b for b in self.BINDINGS if isinstance(b, Binding)]

        def ids(prefix: str) -> list[Any]:
            return [b for b in mine if (b.id or "").startswith(prefix)]

        return [
            (_("Queue"), [*QueueList.BINDINGS, *ids("queue.")]),
            (_("Conversation"), [*ids("conv."), *ThreadView.BINDINGS]),
            (_("Composer"), list(Composer.BINDINGS)),
            (_("Crisis"), ids("crisis.")),
            (_("Anywhere"), [*ids("app."), *ids("pane."), *self.app.BINDINGS]),
        ]

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self.help_sections(), self.console.keymap))

    async def action_quit(self) -> None:
        await self.app.action_quit()

    def _show_queue(self) -> None:
        """Back to the queue: the conversation closes (its draft is kept) and the queue has the keys."""
        if self.open_id is not None:
            self.open_id = None
            self.open_conversation = None
            self.composer.detach()
            self.thread.clear()
            self.keys.put_first()
            self._schedule_heartbeat()
            self.refresh_bindings()
        self.queue.focus()

    def action_back(self) -> None:
        if self.queue.selected and (self.open_id is None or self.queue.has_focus):
            self.queue.clear_selection()
        else:
            self._show_queue()

    def action_focus_pane(self, pane: str) -> None:
        if pane == "composer":
            if self.open_id is None:
                self.action_compose("reply")
            else:
                self.composer.focus_text()
        elif pane == "queue":
            if self.narrow:
                self._show_queue()  # the queue takes the screen: nothing stays open unseen
            else:
                self.queue.focus()
        elif self.open_id is not None:
            self.thread.focus()

    @on(Composer.Send)
    def send(self, message: Composer.Send) -> None:
        if message.conversation_id != self.open_id:
            tell(self, _("Open the conversation first."), severity="warning")
            return
        cid, text, confirm = message.conversation_id, message.text, message.confirm
        calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "reply": lambda c: c.reply(cid, text, confirm),
            "dm": lambda c: c.dm(cid, text, confirm),
            "resolve": lambda c: c.resolve(cid, text, confirm),
            "move_dm": lambda c: c.move_to_dm(cid, message.ack_text, text, confirm),
        }
        self.act(message.mode, cid, calls[message.mode])

    @on(Composer.Leave)
    def leave_composer(self) -> None:
        if self.open_id is not None:
            self.thread.focus()
        else:
            self.queue.focus()

    @on(Composer.Typing)
    def typing(self, message: Composer.Typing) -> None:
        self.send_presence(message.conversation_id, message.typing)

    @work(group="presence", exclusive=True, exit_on_error=False)
    async def send_presence(self, conversation_id: int, typing: bool) -> None:
        try:
            await self.console.client.presence(conversation_id, typing)
        except BackendError:
            pass  # presence is a courtesy; a backend without it must not disturb the operator

    @work(group="action", exit_on_error=False)
    async def act(
        self,
        action: str,
        conversation_id: int | None,
        call: Callable[[Any], Awaitable[Any]],
        bulk: bool = False,
        quiet: bool = False,
    ) -> None:
        """Run one backend call; the answer comes back as ActionDone or ActionFailed."""
        try:
            result = await call(self.console.client)
        except BackendError as exc:
            self.post_message(ActionFailed(action, exc.message, exc.status, exc.body))
            return
        if bulk:
            result = {"results": result}
        elif conversation_id is None and isinstance(result, dict):
            conversation_id = result.get("id")
        self.post_message(ActionDone(action, conversation_id, result or {}, quiet=quiet))

    def on_action_done(self, message: ActionDone) -> None:
        cid = message.conversation_id
        if message.action in SEND_ACTIONS and cid is not None:
            self.composer.sent(cid)
            if self.composer.has_focus_within and self.open_id == cid:
                self.thread.focus()  # the conversation stays on screen to watch it publish
            tell(self, _("Queued for publishing."))
        if "results" in message.result:
            failed = [r for r in message.result["results"] if not r.get("ok")]
            done = len(message.result["results"]) - len(failed)
            tell(
                self,
                sentence(
                    _("{action}: {done} done").format(action=action_word(message.action), done=done)
                )
                + (
                    ", "
                    + _("{refused} refused:").format(refused=len(failed))
                    + " "
                    + "; ".join(f"#{r['id']} {r.get('error', '')}" for r in failed)
                    if failed
                    else ""
                ),
                severity="warning" if failed else "information",
            )
            self.queue.clear_selection()
        elif message.action in ("note", "tag", "escalate", "assign", "dismiss", "house rules"):
            tell(self, sentence(_("{action}: done.").format(action=action_word(message.action))))
        elif message.action == "claim" and message.quiet:
            self.composer.notice = ""
        if message.action == "claim next" and cid is not None:
            self._open(cid)
        elif cid is not None and cid == self.open_id:
            self.load_conversation(cid)
        self._refresh_now()

    def on_action_failed(self, message: ActionFailed) -> None:
        findings = message.body.get("findings") or []
        if (
            message.action in SEND_ACTIONS
            and message.status == 409
            and message.body.get("needs_confirmation")
        ):
            self.composer.needs_confirmation(findings)
            tell(
                self,
                _("Read the advisories; ctrl+s again sends anyway."),
                title=_("Check before sending"),
                severity="warning",
            )
            return
        if message.action in SEND_ACTIONS and message.status == 422:
            self.composer.refused(findings)
        if message.status == 409 and message.body.get("holder"):
            holder = message.body["holder"].get("name", "?")
            text = message.message + " " + _("(held by {name})").format(name=holder)
        else:
            text = message.message
        if message.action == "claim" and self.composer.has_focus_within:
            # The operator is writing: say it where they look, and keep their words.
            self.composer.notice = _("Could not claim it: {reason}").format(reason=one_line(text))
        tell(
            self,
            text,
            title=_("Could not {action}").format(action=action_word(message.action)),
            severity="error",
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    # -- the claim lease ---------------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.stop()
            self._heartbeat_timer = None
        conv = self.open_conversation
        if not self._held_by_me() or conv is None or not conv.get("claim_expires_at"):
            return
        left = (
            datetime.fromisoformat(conv["claim_expires_at"]) - self.console.now()
        ).total_seconds()
        self._heartbeat_timer = self.set_timer(min(max(left / 3, 1.0), 60.0), self._heartbeat)

    @work(group="heartbeat", exclusive=True, exit_on_error=False)
    async def _heartbeat(self) -> None:
        conv = self.open_conversation
        if conv is None:
            return
        try:
            result = await self.console.client.heartbeat(conv["id"])
        except BackendError as exc:
            self.post_message(ActionFailed("keep the claim", exc.message, exc.status, exc.body))
            self.load_conversation(conv["id"])
            return
        conv["claim_expires_at"] = result["claim_expires_at"]
        self._schedule_heartbeat()
