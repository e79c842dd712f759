"""The working screen: queue, thread and composer side by side."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from ..client import BackendError
from ..messages import ActionFailed, BackendEvent, ConnectionChanged, ConversationLoaded, OpenConversation, QueueLoaded
from ..widgets.composer import Composer
from ..widgets.queue_list import QueueList
from ..widgets.shift_header import ShiftHeader
from ..widgets.thread_view import ThreadView

if TYPE_CHECKING:
    from ..app import ShiftdeskApp

QUEUE_WINDOW = 200          # rows fetched per refresh; the server orders and pages
REFRESH_COALESCE = 0.15     # seconds: a burst of events becomes one refresh


class QueueScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "claim", "Claim", id="conv.claim", tooltip="Claim the selected conversation"),
        Binding("n", "claim_next", "Next", id="conv.next", tooltip="Claim the top of the queue"),
        Binding("r", "reply", "Reply", id="conv.reply", tooltip="Write a public reply"),
        Binding("u", "release", "Release", id="conv.release", tooltip="Give the conversation back to the queue"),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Every key"),
        Binding("q", "quit", "Quit", id="app.quit_q", tooltip="Quit shiftdesk"),
        Binding("1", "focus_pane('queue')", "Queue", show=False, id="pane.queue"),
        Binding("2", "focus_pane('thread')", "Thread", show=False, id="pane.thread"),
        Binding("3", "focus_pane('composer')", "Composer", show=False, id="pane.composer"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.open_conversation: dict[str, Any] | None = None
        self._refresh_timer: Timer | None = None
        self._heartbeat_timer: Timer | None = None

    @property
    def shift_app(self) -> "ShiftdeskApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ShiftHeader(id="header")
        with Horizontal(id="panes"):
            yield QueueList(id="queue", clock=self.shift_app.now)
            with Vertical(id="right"):
                yield ThreadView(id="thread")
                yield Composer(id="composer")
        yield Footer()

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
        self.queue.focus()
        self.load_queue()

    # -- loading -------------------------------------------------------------

    @work(exclusive=True, group="queue", exit_on_error=False)
    async def load_queue(self) -> None:
        client = self.shift_app.client
        page = await client.queue(limit=QUEUE_WINDOW)
        counts = await client.summary()
        self.post_message(QueueLoaded(page, counts))

    @work(exclusive=True, group="thread", exit_on_error=False)
    async def load_conversation(self, conversation_id: int) -> None:
        conv = await self.shift_app.client.conversation(conversation_id)
        self.post_message(ConversationLoaded(conv))

    def on_queue_loaded(self, message: QueueLoaded) -> None:
        self.queue.show_rows(message.page["rows"])
        self.header.brand = message.counts["brand"]["handle"]
        self.header.queue = message.counts["queue"]
        self.header.breaching = message.counts["breaching"]

    def on_conversation_loaded(self, message: ConversationLoaded) -> None:
        conv = message.conversation
        if self.open_conversation is not None and self.open_conversation["id"] != conv["id"]:
            self.composer.clear()   # a draft belongs to its conversation
        self.open_conversation = conv
        self.thread.show(conv)
        self.composer.platform = conv["platform"]
        self.composer.channel = "dm" if conv["state"] == "in_dm" else "public"
        self._schedule_heartbeat()
        self.refresh_bindings()

    @on(OpenConversation)
    def open(self, message: OpenConversation) -> None:
        self.load_conversation(message.conversation_id)

    # -- live ------------------------------------------------------------------

    def on_backend_event(self, message: BackendEvent) -> None:
        event = message.event
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(REFRESH_COALESCE, self._refresh_now)
        conv = self.open_conversation
        if conv is not None and event.get("conversation_id") == conv["id"]:
            self.load_conversation(conv["id"])
        if event["kind"] == "message.failed" and conv is not None and event.get("conversation_id") == conv["id"]:
            self.notify(f"A reply failed to publish: {event['data'].get('error', '')}", severity="error",
                        markup=False)

    def _refresh_now(self) -> None:
        self._refresh_timer = None
        self.load_queue()

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        self.header.connected = message.connected
        if message.connected:
            self.load_queue()

    # -- actions ---------------------------------------------------------------

    def _held_by_me(self) -> bool:
        conv = self.open_conversation
        holder = conv.get("holder") if conv else None
        return bool(holder and holder["id"] == self.shift_app.me.get("id"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("reply", "release"):
            return True if self._held_by_me() else None   # None: shown greyed out
        if action == "claim":
            return True if self.queue.selected_id is not None else None
        return True

    def action_claim(self) -> None:
        cid = self.queue.selected_id
        if cid is not None:
            self.run_action("claim", cid)

    def action_claim_next(self) -> None:
        self.run_action("claim_next", None)

    def action_release(self) -> None:
        if self.open_conversation:
            self.run_action("release", self.open_conversation["id"])

    def action_reply(self) -> None:
        self.composer.channel = "public"
        self.composer.focus_text()

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.app.action_quit()

    def action_focus_pane(self, pane: str) -> None:
        if pane == "composer":
            self.composer.focus_text()
        else:
            self.query_one(f"#{pane}").focus()

    @on(Composer.Send)
    def send(self, message: Composer.Send) -> None:
        if self.open_conversation is None:
            self.notify("Open a conversation first.", severity="warning")
            return
        self.run_action("reply", self.open_conversation["id"], message.text)

    @on(Composer.Leave)
    def leave_composer(self) -> None:
        self.queue.focus()

    @work(group="action", exit_on_error=False)
    async def run_action(self, action: str, conversation_id: int | None, text: str | None = None) -> None:
        client = self.shift_app.client
        try:
            if action == "claim":
                result = await client.claim(conversation_id)  # type: ignore[arg-type]
            elif action == "claim_next":
                result = await client.claim_next()
            elif action == "release":
                result = await client.release(conversation_id)  # type: ignore[arg-type]
            elif action == "reply":
                result = await client.reply(conversation_id, text or "")  # type: ignore[arg-type]
                self.composer.clear()
                self.queue.focus()
                self.notify("Reply queued for publishing.")
            else:
                raise ValueError(action)
        except BackendError as exc:
            self.post_message(ActionFailed(action, exc.message))
            return
        self.load_conversation(result["id"])
        self.load_queue()

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.message, title=f"Could not {message.action.replace('_', ' ')}", severity="error",
                    markup=False)

    # -- the claim lease -------------------------------------------------------

    def _schedule_heartbeat(self) -> None:
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.stop()
            self._heartbeat_timer = None
        conv = self.open_conversation
        if not self._held_by_me() or conv is None or not conv.get("claim_expires_at"):
            return
        left = (datetime.fromisoformat(conv["claim_expires_at"]) - datetime.now(timezone.utc)).total_seconds()
        self._heartbeat_timer = self.set_timer(max(left / 3, 1.0), self._heartbeat)

    @work(group="heartbeat", exclusive=True, exit_on_error=False)
    async def _heartbeat(self) -> None:
        conv = self.open_conversation
        if conv is None:
            return
        try:
            result = await self.shift_app.client.heartbeat(conv["id"])
        except BackendError as exc:
            self.post_message(ActionFailed("keep the claim", exc.message))
            self.load_conversation(conv["id"])
            return
        conv["claim_expires_at"] = result["claim_expires_at"]
        self._schedule_heartbeat()
