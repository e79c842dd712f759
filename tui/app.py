"""The shiftdesk operator console."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from .client import BackendClient, BackendError, Presence, StreamStatus
from .failures import report_worker_failure
from .messages import BackendEvent, ConnectionChanged, PresenceChanged
from .screens.prompts import SAVED_FILTERS
from .screens.queue import QueueScreen


class ShiftdeskApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "shiftdesk"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            priority=True,
            show=False,
            id="app.quit",
            tooltip="Quit shiftdesk",
        ),
        # Operators reach for ctrl+c to get out; in a terminal app it must quit, not copy.
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False, id="app.quit_ctrl_c"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            priority=True,
            show=False,
            id="app.palette_ctrl_p",
            tooltip="Every action by name",
        ),
        # ':' as in k9s; not a priority binding, so it types a colon in the composer.
        Binding(
            "colon",
            "command_palette",
            "Commands",
            show=False,
            id="app.palette",
            tooltip="Every action by name",
        ),
    ]

    def __init__(self, client: BackendClient, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.client = client
        self.now = now or (lambda: datetime.now(UTC))
        self.me: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.last_event_id = 0

    async def on_mount(self) -> None:
        try:
            self.me = await self.client.me()
            self.summary = await self.client.summary()
        except BackendError as exc:
            self.exit(message=f"shiftdesk: {exc.message}")
            return
        self.last_event_id = self.summary.get("last_event_id", 0)
        self.sub_title = self.me.get("display_name", "")
        await self.push_screen(QueueScreen())
        self.listen()
        self.start_shift()

    @work(exclusive=True, group="shift", exit_on_error=False)
    async def start_shift(self) -> None:
        """Signing in starts the shift; the last shift's handover is shown until dismissed."""
        from .screens.handover import LatestHandoverScreen

        try:
            answer = await self.client.shift_start()
        except BackendError:
            return  # an older backend without shifts: the console works without them
        if answer.get("latest_handover") and not answer.get("shift", {}).get("resumed"):
            await self.push_screen(LatestHandoverScreen(answer["latest_handover"]))

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def listen(self) -> None:
        """The one long-running worker: live events from the backend, resumed after drops."""
        async for item in self.client.stream(self.last_event_id):
            target = self._queue_screen()
            if isinstance(item, StreamStatus):
                if target is not None:
                    target.post_message(ConnectionChanged(item.connected, item.detail))
                continue
            if isinstance(item, Presence):
                if target is not None:
                    target.post_message(
                        PresenceChanged(
                            item.operator_id, item.operator_name, item.conversation_id, item.typing
                        )
                    )
                continue
            self.last_event_id = item["id"]
            if target is not None:
                target.post_message(BackendEvent(item))

    def _queue_screen(self) -> QueueScreen | None:
        # Events go to the working screen even while a prompt or the help is on top of it.
        for screen in reversed(self.screen_stack):
            if isinstance(screen, QueueScreen):
                return screen
        return None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists every key's action by name, plus the saved filters."""
        yield from super().get_system_commands(screen)
        queue = self._queue_screen()
        if queue is None or screen is not queue:
            return
        for binding in queue.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action in ("quit",) or binding.action.startswith("focus_pane"):
                continue
            if queue.check_action(binding.action.split("(")[0], ()) is not True:
                continue
            key = binding.key_display or binding.key
            yield SystemCommand(
                f"{binding.description} ({key})",
                binding.tooltip or binding.description,
                lambda action=binding.action: self.run_action(action, queue),
            )
        for name, label in SAVED_FILTERS:
            yield SystemCommand(
                f"Filter: {label}",
                f"Show the '{label}' queue",
                lambda name=name: queue.apply_filter(name),
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    async def on_unmount(self) -> None:
        await self.client.close()
