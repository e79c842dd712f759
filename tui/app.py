"""The shiftdesk operator console."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from .client import BackendClient, BackendError, StreamStatus
from .messages import BackendEvent, ConnectionChanged
from .screens.queue import QueueScreen


class ShiftdeskApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "shiftdesk"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit", tooltip="Quit shiftdesk"),
        # Operators reach for ctrl+c to get out; in a terminal app it must quit, not copy.
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False, id="app.quit_ctrl_c"),
    ]

    def __init__(self, client: BackendClient, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.client = client
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.me: dict[str, Any] = {}
        self.last_event_id = 0

    async def on_mount(self) -> None:
        try:
            self.me = await self.client.me()
            summary = await self.client.summary()
        except BackendError as exc:
            self.exit(message=f"shiftdesk: {exc.message}")
            return
        self.last_event_id = summary.get("last_event_id", 0)
        self.sub_title = self.me.get("display_name", "")
        await self.push_screen(QueueScreen())
        self.listen()

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def listen(self) -> None:
        """The one long-running worker: live events from the backend, resumed after drops."""
        async for item in self.client.stream(self.last_event_id):
            if isinstance(item, StreamStatus):
                self.screen.post_message(ConnectionChanged(item.connected, item.detail))
                continue
            self.last_event_id = item["id"]
            self.screen.post_message(BackendEvent(item))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            text = error.message if isinstance(error, BackendError) else f"{type(error).__name__}: {error}"
            self.notify(text, title="Something went wrong", severity="error", markup=False)

    async def on_unmount(self) -> None:
        await self.client.close()
