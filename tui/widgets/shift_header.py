"""The top line: brand, who is on shift, queue depth, breaches, crisis and connection banners."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from ..formats import format_count
from ..i18n import _
from ..literal import one_line


class ShiftHeader(Static):
    brand: reactive[str] = reactive("")
    operator: reactive[str] = reactive("")
    on_shift: reactive[tuple[str, ...]] = reactive(tuple)
    queue: reactive[int] = reactive(0)
    breaching: reactive[int] = reactive(0)
    breaching_exact: reactive[bool] = reactive(True)  # False: counted only that far ("1000+")
    crisis: reactive[bool] = reactive(False)
    connected: reactive[bool] = reactive(True)
    offline_detail: reactive[str] = reactive("")

    def render(self) -> Text:
        t = Text()
        if not self.connected:
            # The first thing an operator must know: what they see may be stale.
            t.append(" " + _("OFFLINE — reconnecting, nothing is lost") + " ", "bold reverse")
            t.append(" ")
        if self.crisis:
            t.append(" " + _("CRISIS") + " ", "bold reverse")
            t.append(" ")
        t.append("shiftdesk", "bold")
        if self.brand:
            t.append(f" · @{one_line(self.brand)}")
        names = list(self.on_shift) or ([self.operator] if self.operator else [])
        if names:
            t.append(" · " + _("shift:") + " " + ", ".join(one_line(n) for n in names))
        t.append(" · " + _("queue {count}").format(count=format_count(self.queue)))
        more = "" if self.breaching_exact else "+"  # counted up to a cap, then "1,000+"
        t.append(
            " · " + _("breaching {count}").format(count=format_count(self.breaching)) + more,
            "bold" if self.breaching else "",
        )
        t.truncate(max(self.size.width, 1), overflow="ellipsis")
        return t

    def watch_breaching(self, value: int) -> None:
        self.set_class(value > 0, "-breaching")

    def watch_crisis(self, value: bool) -> None:
        self.set_class(value, "-crisis")

    def watch_connected(self, value: bool) -> None:
        self.set_class(not value, "-offline")

    def show_summary(self, summary: dict) -> None:
        """Take the header figures from GET /api/summary."""
        self.brand = (summary.get("brand") or {}).get("handle", "")
        self.queue = summary.get("queue", 0)
        self.breaching = summary.get("breaching", 0)
        self.breaching_exact = summary.get("breaching_exact", True)
        self.crisis = bool((summary.get("crisis") or {}).get("active"))
        online = summary.get("online")
        if online is not None:
            self.on_shift = tuple(o.get("display_name") or o.get("name", "") for o in online)
