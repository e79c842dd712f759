"""The response composer: what will be posted, where, and how long it is."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static, TextArea

LIMITS = {"mastodon": 500, "bluesky": 300, "simulator": 500}


class Composer(Vertical):
    """Single letters type text here; ctrl+s sends, esc goes back to the queue."""

    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True, id="composer.send", tooltip="Send the reply"),
        Binding("escape", "leave", "Back", id="composer.leave", tooltip="Back to the queue; the draft stays"),
    ]

    channel: reactive[str] = reactive("public")
    platform: reactive[str] = reactive("simulator")

    @dataclass
    class Send(Message):
        text: str
        channel: str

    class Leave(Message):
        pass

    def compose(self) -> ComposeResult:
        yield Static(id="composer-status")
        yield TextArea(id="composer-text", soft_wrap=True, show_line_numbers=False)

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#composer-text", TextArea)

    def on_mount(self) -> None:
        self._update_status()

    def watch_channel(self, channel: str) -> None:
        self.set_class(channel == "dm", "-dm")
        self._update_status()

    def watch_platform(self, _: str) -> None:
        self._update_status()

    def on_text_area_changed(self, _: TextArea.Changed) -> None:
        self._update_status()

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        limit = LIMITS.get(self.platform, 500)
        used = len(self.text_area.text)
        self.set_class(used > limit, "-over-limit")
        status = Text()
        status.append("COMPOSER  ")
        status.append("DM" if self.channel == "dm" else "public", "bold")
        status.append(f" · {used}/{limit}")
        self.query_one("#composer-status", Static).update(status)

    def focus_text(self) -> None:
        self.text_area.focus()

    def clear(self) -> None:
        self.text_area.clear()

    def action_send(self) -> None:
        text = self.text_area.text.strip()
        if not text:
            self.notify("Nothing to send: write the reply first.", severity="warning")
            return
        limit = LIMITS.get(self.platform, 500)
        if len(text) > limit:
            self.notify(f"Too long for {self.platform}: {len(text)} of {limit} characters.", severity="error")
            return
        self.post_message(self.Send(text, self.channel))

    def action_leave(self) -> None:
        self.post_message(self.Leave())
