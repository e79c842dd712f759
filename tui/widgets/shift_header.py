"""The top line: brand, who is signed in, queue depth, breaches, connection."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ..literal import literal


class ShiftHeader(Static):
    brand: reactive[str] = reactive("")
    operator: reactive[str] = reactive("")
    queue: reactive[int] = reactive(0)
    breaching: reactive[int] = reactive(0)
    connected: reactive[bool] = reactive(True)

    def render(self) -> Text:
        t = Text()
        t.append("shiftdesk", "bold")
        if self.brand:
            t.append(f" · @{literal(self.brand)}")
        if self.operator:
            t.append(f" · {literal(self.operator)}")
        t.append(f" · queue {self.queue}")
        t.append(f" · breaching {self.breaching}", "bold" if self.breaching else "")
        if not self.connected:
            t.append(" · OFFLINE, reconnecting…", "bold reverse")
        return t

    def watch_breaching(self, value: int) -> None:
        self.set_class(value > 0, "-breaching")

    def watch_connected(self, value: bool) -> None:
        self.set_class(not value, "-offline")
