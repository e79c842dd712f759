"""The working screen: queue, thread and composer side by side.

The screen renders and sends intents; the backend decides (who may act, what the state
becomes, whether a text may go out). Every call runs in a worker and comes back as a message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker

from ..client import BackendError
from ..failures import report_worker_failure
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
from ..widgets.composer import Composer
from ..widgets.queue_list import QueueList
from ..widgets.shift_header import ShiftHeader
from ..widgets.thread_view import ThreadView
from .prompts import SAVED_FILTERS, ChoicePrompt, FilterPrompt, TextPrompt

if TYPE_CHECKING:
    from ..app import ShiftdeskApp

REFRESH_COALESCE = 0.15  # seconds: a burst of events becomes one refresh
SEND_ACTIONS = {"reply", "dm", "resolve", "move_dm"}
FILTER_NAMES = {
    **dict(SAVED_FILTERS),
    "needs_us": "needs us",
    "awaiting_customer": "awaiting",
    "open": "open",
}
NOTIFY_KINDS = {
    "crisis.started": ("Crisis: mention volume is surging.", "warning"),
    "crisis.ended": ("The crisis is over: volume is back to normal.", "information"),
    "rules.invalid": ("The rules files are invalid; the backend kept the last good ones.", "error"),
}


class QueueScreen(Screen[None]):
    BINDINGS = [
        Binding(
            "c",
            "claim",
            "Claim",
            id="conv.claim",
            tooltip="Claim the conversation under the cursor",
        ),
        Binding("n", "claim_next", "Next", id="conv.next", tooltip="Claim the top of the queue"),
        Binding("r", "compose('reply')", "Reply", id="conv.reply", tooltip="Write a public reply"),
        Binding(
            "d",
            "compose('dm')",
            "DM",
            id="conv.dm",
            tooltip="Move to DM (public acknowledgement, then the DM), or reply in DM",
        ),
        Binding(
            "R",
            "compose('resolve')",
            "Resolve",
            id="conv.resolve",
            tooltip="Resolve with a public closing message",
        ),
        Binding(
            "u",
            "release",
            "Release",
            id="conv.release",
            tooltip="Give the conversation (or the selected ones) back to the queue",
        ),
        Binding("m", "note", "Note", id="conv.note", tooltip="Add an internal note"),
        Binding(
            "t", "tag", "Tag", id="conv.tag", tooltip="Tag the conversation (or the selected ones)"
        ),
        Binding(
            "e",
            "escalate",
            "Escalate",
            id="conv.escalate",
            tooltip="Escalate to a lead, with a reason",
        ),
        Binding(
            "a",
            "assign",
            "Assign",
            id="conv.assign",
            tooltip="Assign the selected conversations (or this one, leads) to an operator",
        ),
        Binding(
            "v",
            "reveal",
            "Reveal",
            id="conv.reveal",
            tooltip="Show or mask personal data in the thread",
        ),
        Binding("slash", "filter", "Filter", id="queue.filter", tooltip="Search and saved filters"),
        # x and C: free letters, not ctrl+a/ctrl+b (tmux/screen) nor ctrl+s/ctrl+q (flow control).
        Binding(
            "x",
            "crisis_groups",
            "Groups",
            id="crisis.groups",
            tooltip="Near-identical complaints grouped; enter selects a group's conversations",
        ),
        Binding(
            "C",
            "holding_statement",
            "Holding",
            id="crisis.holding",
            tooltip="Lead: one personalised holding statement to the selected conversations or a group",
        ),
        Binding("H", "handover", "Handover", id="app.handover", tooltip="The shift handover"),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Every key"),
        Binding("q", "quit", "Quit", id="app.quit_q", tooltip="Quit shiftdesk"),
        Binding(
            "escape",
            "back",
            "Back",
            show=False,
            id="app.back",
            tooltip="Close the thread, or clear the selection",
        ),
        Binding(
            "1",
            "focus_pane('queue')",
            "Queue",
            show=False,
            id="pane.queue",
            tooltip="Go to the queue",
        ),
        Binding(
            "2",
            "focus_pane('thread')",
            "Thread",
            show=False,
            id="pane.thread",
            tooltip="Go to the thread",
        ),
        Binding(
            "3",
            "focus_pane('composer')",
            "Composer",
            show=False,
            id="pane.composer",
            tooltip="Go to the composer",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.open_conversation: dict[str, Any] | None = None
        self._refresh_timer: Timer | None = None
        self._heartbeat_timer: Timer | None = None
        self._can_run: tuple[bool, bool] | None = None

    @property
    def shift_app(self) -> ShiftdeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ShiftHeader(id="header")
        with Horizontal(id="panes"):
            with Vertical(id="queue-pane"):
                yield Static(id="queue-title")
                yield QueueList(id="queue", clock=self.shift_app.now, loader=self._load_page)
            with Vertical(id="right"):
                yield ThreadView(id="thread")
                yield Composer(id="composer")
        yield Footer(compact=True)

    async def _load_page(self, filter: str, search: str, offset: int, limit: int) -> dict[str, Any]:
        return await self.shift_app.client.queue(
            filter=filter, q=search, offset=offset, limit=limit
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
    def header(self) -> ShiftHeader:
        return self.query_one(ShiftHeader)

    def on_mount(self) -> None:
        me = self.shift_app.me
        self.queue.operator_id = me.get("id")
        self.header.operator = me.get("display_name", "")
        if self.shift_app.summary:
            self.header.show_summary(self.shift_app.summary)
        self.queue.focus()
        self.queue.reload()

    # -- loading ---------------------------------------------------------------------

    @work(exclusive=True, group="summary", exit_on_error=False)
    async def load_summary(self) -> None:
        self.post_message(SummaryLoaded(await self.shift_app.client.summary()))

    @work(exclusive=True, group="thread", exit_on_error=False)
    async def load_conversation(self, conversation_id: int) -> None:
        conv = await self.shift_app.client.conversation(conversation_id)
        self.post_message(ConversationLoaded(conv))

    def on_summary_loaded(self, message: SummaryLoaded) -> None:
        self.header.show_summary(message.summary)

    def on_conversation_loaded(self, message: ConversationLoaded) -> None:
        conv = message.conversation
        self.open_conversation = conv
        self.thread.show(conv)
        self.composer.attach(conv["id"], conv["platform"])
        self._schedule_heartbeat()
        self.refresh_bindings()

    @on(OpenConversation)
    def open(self, message: OpenConversation) -> None:
        self.load_conversation(message.conversation_id)

    @on(QueueList.Changed)
    def queue_changed(self, message: QueueList.Changed) -> None:
        q = message.queue
        title = f"QUEUE · {FILTER_NAMES.get(q.filter, q.filter)} · "
        title += f"{q.cursor + 1 if q.total else 0}/{q.total}"
        if q.search:
            title += f" · “{q.search}”"
        if q.selected:
            title += f" · {len(q.selected)} selected"
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
            self._refresh_timer = self.set_timer(REFRESH_COALESCE, self._refresh_now)
        conv = self.open_conversation
        mine = conv is not None and event.get("conversation_id") == conv["id"]
        if mine:
            self.load_conversation(conv["id"])  # type: ignore[index]
        kind = event["kind"]
        if kind == "message.failed" and mine:
            self.notify(
                f"A reply failed to publish: {event['data'].get('error', '')}",
                severity="error",
                markup=False,
            )
        elif kind == "conversation.lease_expired" and mine and self._held_by_me():
            self.notify(
                "Your claim on this conversation expired; it is back in the queue.",
                severity="warning",
            )
        elif kind in NOTIFY_KINDS:
            text, severity = NOTIFY_KINDS[kind]
            self.notify(text, severity=severity)  # type: ignore[arg-type]

    def _refresh_now(self) -> None:
        self._refresh_timer = None
        self.queue.reload()
        self.load_summary()

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        self.header.connected = message.connected
        self.header.offline_detail = message.detail
        if message.connected:
            # Back online: the stream replays what we missed; repaint from the server too.
            self._refresh_now()
            if self.open_conversation is not None:
                self.load_conversation(self.open_conversation["id"])

    def on_presence_changed(self, message: PresenceChanged) -> None:
        if message.operator_id == self.shift_app.me.get("id"):
            return
        self.queue.set_typing(message.conversation_id, message.operator_name, message.typing)
        conv = self.open_conversation
        typing = message.typing and conv is not None and message.conversation_id == conv["id"]
        self.thread.set_typing(message.operator_id, message.operator_name, typing)

    # -- what can run now --------------------------------------------------------------

    def _held_by_me(self) -> bool:
        conv = self.open_conversation
        holder = conv.get("holder") if conv else None
        return bool(holder and holder["id"] == self.shift_app.me.get("id"))

    def _target(self) -> int | None:
        """The conversation a single action applies to: the open one, else the one under the cursor."""
        if self.open_conversation is not None:
            return self.open_conversation["id"]
        return self.queue.selected_id

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        available: bool
        if action == "compose":
            available = self._held_by_me()
        elif action == "claim":
            available = self.queue.selected_id is not None
        elif action == "release":
            available = bool(self.queue.selected) or self._held_by_me()
        elif action in ("note", "escalate"):
            available = self._target() is not None
        elif action == "tag":
            available = bool(self.queue.selected) or self._target() is not None
        elif action == "assign":
            lead = self.shift_app.me.get("role") == "lead"
            available = bool(self.queue.selected) or (lead and self._target() is not None)
        elif action == "reveal":
            available = self.thread.has_masked_text()
        elif action == "holding_statement":
            available = self.shift_app.me.get("role") == "lead"
        else:
            return True
        return True if available else None  # None: shown greyed out in the footer

    # -- actions -----------------------------------------------------------------------

    def action_claim(self) -> None:
        cid = self.queue.selected_id
        if cid is not None:
            self.run_action("claim", cid, lambda c: c.claim(cid))

    def action_claim_next(self) -> None:
        self.run_action("claim next", None, lambda c: c.claim_next())

    def action_compose(self, kind: str) -> None:
        conv = self.open_conversation
        if conv is None:
            return
        mode = kind
        if kind == "dm":
            mode = "dm" if conv["state"] == "in_dm" else "move_ack"
        if (
            mode == "move_ack"
            and self.composer.mode == "move_dm"
            and self.composer.conversation_id == conv["id"]
        ):
            mode = "move_dm"  # come back to stage 2 of a move already under way
        self.composer.start(mode, conv["id"], conv["platform"])

    def action_release(self) -> None:
        ids = sorted(self.queue.selected)
        if ids:
            self.run_action("release", None, lambda c: c.bulk("release", ids), bulk=True)
        elif self.open_conversation:
            cid = self.open_conversation["id"]
            self.run_action("release", cid, lambda c: c.release(cid))

    @work(exit_on_error=False)
    async def action_note(self) -> None:
        cid = self._target()
        if cid is None:
            return
        text = await self.app.push_screen_wait(
            TextPrompt("Internal note (only the team sees it)", "what the next person should know")
        )
        if text:
            self.run_action("note", cid, lambda c: c.add_note(cid, text))

    @work(exit_on_error=False)
    async def action_tag(self) -> None:
        ids = sorted(self.queue.selected)
        cid = self._target()
        title = f"Tag {len(ids)} selected conversations" if ids else "Tag this conversation"
        tag = await self.app.push_screen_wait(TextPrompt(title, "e.g. refund, outage, vip"))
        if not tag:
            return
        if ids:
            self.run_action("tag", None, lambda c: c.bulk("tag", ids, tag=tag), bulk=True)
        elif cid is not None:
            self.run_action("tag", cid, lambda c: c.add_tag(cid, tag))

    @work(exit_on_error=False)
    async def action_escalate(self) -> None:
        cid = self._target()
        if cid is None:
            return
        reason = await self.app.push_screen_wait(
            TextPrompt("Escalate to a lead: why?", "the reason, briefly")
        )
        if reason:
            self.run_action("escalate", cid, lambda c: c.escalate(cid, reason))

    @work(exit_on_error=False)
    async def action_assign(self) -> None:
        ids = sorted(self.queue.selected)
        cid = self._target()
        try:
            operators = await self.shift_app.client.operators()
        except BackendError as exc:
            self.post_message(ActionFailed("assign", exc.message, exc.status, exc.body))
            return
        choices = [
            (str(o["id"]), f"{o['display_name']}{'  (online)' if o.get('online') else ''}")
            for o in operators
        ]
        title = (
            f"Assign {len(ids)} selected conversations to"
            if ids
            else "Reassign this conversation to"
        )
        chosen = await self.app.push_screen_wait(ChoicePrompt(title, choices))
        if chosen is None:
            return
        operator_id = int(chosen)
        if ids:
            self.run_action(
                "assign", None, lambda c: c.bulk("assign", ids, operator_id=operator_id), bulk=True
            )
        elif cid is not None:
            self.run_action("assign", cid, lambda c: c.reassign(cid, operator_id))

    def action_reveal(self) -> None:
        self.thread.revealed = not self.thread.revealed

    @work(exit_on_error=False)
    async def action_filter(self) -> None:
        answer = await self.app.push_screen_wait(FilterPrompt(self.queue.filter, self.queue.search))
        if answer is None:
            return
        filter, search = answer
        with self.app.batch_update():
            self.queue.search = search
            self.queue.filter = filter
        self.queue.focus()

    def apply_filter(self, filter: str) -> None:
        """Switch to a saved filter (from the command palette)."""
        self.queue.filter = filter
        self.queue.focus()

    @work(exit_on_error=False)
    async def action_crisis_groups(self) -> None:
        from .crisis import CrisisGroupsScreen

        ids = await self.app.push_screen_wait(CrisisGroupsScreen())
        if ids:
            self.queue.select_only(ids)
            self.queue.focus()
            lead = self.shift_app.me.get("role") == "lead"
            self.notify(
                f"{len(ids)} conversations selected: t tags, u releases, a assigns"
                + (", C sends a holding statement." if lead else ".")
            )

    @work(exit_on_error=False)
    async def action_holding_statement(self) -> None:
        from .crisis import CrisisGroupsScreen, HoldingStatementScreen

        if self.check_action("holding_statement", ()) is not True:
            return
        ids = sorted(self.queue.selected)
        if not ids:  # nothing selected: the statement goes to a group
            ids = await self.app.push_screen_wait(
                CrisisGroupsScreen("write a holding statement to this group")
            )
            if not ids:
                return
        answer = await self.app.push_screen_wait(HoldingStatementScreen(ids))
        if answer is not None:
            self.queue.clear_selection()
            self._refresh_now()
        self.queue.focus()

    def action_handover(self) -> None:
        from .handover import HandoverScreen

        self.app.push_screen(HandoverScreen())

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.app.action_quit()

    def action_back(self) -> None:
        if self.queue.selected:
            self.queue.clear_selection()
        elif self.open_conversation is not None:
            self.open_conversation = None
            self.thread.clear()
            self._schedule_heartbeat()
            self.refresh_bindings()
        self.queue.focus()

    def action_focus_pane(self, pane: str) -> None:
        if pane == "composer":
            self.composer.focus_text()
        else:
            self.query_one(f"#{pane}").focus()

    @on(Composer.Send)
    def send(self, message: Composer.Send) -> None:
        conv = self.open_conversation
        if conv is None or self.composer.conversation_id != conv["id"]:
            self.notify("Open a conversation first.", severity="warning")
            return
        cid, text, confirm = conv["id"], message.text, message.confirm
        calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "reply": lambda c: c.reply(cid, text, confirm),
            "dm": lambda c: c.dm(cid, text, confirm),
            "resolve": lambda c: c.resolve(cid, text, confirm),
            "move_dm": lambda c: c.move_to_dm(cid, message.ack_text, text, confirm),
        }
        self.run_action(message.mode, cid, calls[message.mode])

    @on(Composer.Leave)
    def leave_composer(self) -> None:
        self.queue.focus()

    @on(Composer.Typing)
    def typing(self, message: Composer.Typing) -> None:
        if self.open_conversation is not None:
            self.send_presence(self.open_conversation["id"], message.typing)

    @work(group="presence", exclusive=True, exit_on_error=False)
    async def send_presence(self, conversation_id: int, typing: bool) -> None:
        try:
            await self.shift_app.client.presence(conversation_id, typing)
        except BackendError:
            pass  # presence is a courtesy; a backend without it must not disturb the operator

    @work(group="action", exit_on_error=False)
    async def run_action(
        self,
        action: str,
        conversation_id: int | None,
        call: Callable[[Any], Awaitable[Any]],
        bulk: bool = False,
    ) -> None:
        try:
            result = await call(self.shift_app.client)
        except BackendError as exc:
            self.post_message(ActionFailed(action, exc.message, exc.status, exc.body))
            return
        if bulk:
            result = {"results": result}
        elif conversation_id is None and isinstance(result, dict):
            conversation_id = result.get("id")
        self.post_message(ActionDone(action, conversation_id, result or {}))

    def on_action_done(self, message: ActionDone) -> None:
        if message.action in SEND_ACTIONS:
            self.composer.clear()
            self.composer.mode = "reply"
            self.queue.focus()
            self.notify("Queued for publishing.")
        if "results" in message.result:
            failed = [r for r in message.result["results"] if not r.get("ok")]
            done = len(message.result["results"]) - len(failed)
            self.notify(
                f"{message.action}: {done} done"
                + (
                    f", {len(failed)} refused: "
                    + "; ".join(f"#{r['id']} {r.get('error', '')}" for r in failed)
                    if failed
                    else ""
                ),
                severity="warning" if failed else "information",
                markup=False,
            )
            self.queue.clear_selection()
        elif message.action in ("note", "tag", "escalate", "assign"):
            self.notify(f"{message.action.capitalize()} saved.")
        if message.conversation_id is not None and not (
            message.action == "release" and self.open_conversation is None
        ):
            self.load_conversation(message.conversation_id)
        self._refresh_now()

    def on_action_failed(self, message: ActionFailed) -> None:
        findings = message.body.get("findings") or []
        if (
            message.action in SEND_ACTIONS
            and message.status == 409
            and message.body.get("needs_confirmation")
        ):
            self.composer.needs_confirmation(findings)
            self.notify(
                "Read the advisories; ctrl+s again sends anyway.",
                title="Check before sending",
                severity="warning",
            )
            return
        if message.action in SEND_ACTIONS and message.status == 422:
            self.composer.refused(findings)
        if message.status == 409 and message.body.get("holder"):
            message_text = f"{message.message} (held by {message.body['holder'].get('name', '?')})"
        else:
            message_text = message.message
        self.notify(
            message_text,
            title=f"Could not {message.action.replace('_', ' ')}",
            severity="error",
            markup=False,
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
        from datetime import datetime

        left = (
            datetime.fromisoformat(conv["claim_expires_at"]) - self.shift_app.now()
        ).total_seconds()
        self._heartbeat_timer = self.set_timer(min(max(left / 3, 1.0), 60.0), self._heartbeat)

    @work(group="heartbeat", exclusive=True, exit_on_error=False)
    async def _heartbeat(self) -> None:
        conv = self.open_conversation
        if conv is None:
            return
        try:
            result = await self.shift_app.client.heartbeat(conv["id"])
        except BackendError as exc:
            self.post_message(ActionFailed("keep the claim", exc.message, exc.status, exc.body))
            self.load_conversation(conv["id"])
            return
        conv["claim_expires_at"] = result["claim_expires_at"]
        self._schedule_heartbeat()
