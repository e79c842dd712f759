"""The queue: open conversations in SLA order, each with a live countdown."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from ..literal import one_line
from ..messages import OpenConversation
from .countdown import format_remaining, parse_time, remaining_seconds, urgency

PLATFORM_MARK = {"mastodon": "M", "bluesky": "B", "simulator": "S"}
STATE_MARK = {"new": "", "claimed": "●", "awaiting_customer": "…", "in_dm": "✉", "flagged_conduct": "⚑"}


class QueueList(DataTable):
    """Rows keyed by conversation id, so the cursor follows a conversation when the queue re-sorts."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="queue.down", tooltip="Next conversation"),
        Binding("k", "cursor_up", "Up", show=False, id="queue.up", tooltip="Previous conversation"),
        Binding("g", "scroll_top", "Top", show=False, id="queue.top", tooltip="First conversation"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="queue.bottom", tooltip="Last conversation"),
        Binding("enter", "open", "Open", id="queue.open", tooltip="Open the conversation under the cursor"),
    ]

    COMPONENT_CLASSES = {
        "queue-list--ok", "queue-list--warning", "queue-list--breached", "queue-list--paused",
        "queue-list--p1", "queue-list--mine",
    }

    DEFAULT_CSS = """
    QueueList > .queue-list--ok { color: $success; }
    QueueList > .queue-list--warning { color: $warning; text-style: bold; }
    QueueList > .queue-list--breached { color: $error; text-style: bold reverse; }
    QueueList > .queue-list--paused { color: $text-muted; }
    QueueList > .queue-list--p1 { color: $error; text-style: bold; }
    QueueList > .queue-list--mine { color: $accent; text-style: bold; }
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None, **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.rows_by_id: dict[int, dict[str, Any]] = {}
        self.operator_id: int | None = None

    def on_mount(self) -> None:
        self.add_column("P", key="priority", width=2)
        self.add_column("due", key="due", width=6)
        self.add_column("", key="mark", width=2)
        self.add_column("author", key="author", width=12)
        self.add_column("text", key="text", width=40)
        # One timer for every countdown on screen.
        self.set_interval(1.0, self.tick, name="countdown")

    @property
    def selected_id(self) -> int | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - empty or moving table
            return None
        return int(key.value) if key.value is not None else None

    def _due_cell(self, row: dict[str, Any], now: datetime) -> Text:
        seconds = remaining_seconds(parse_time(row["sla_due_at"]), now)
        warn_at = parse_time(row.get("sla_warn_at"))
        level = urgency(seconds) if warn_at is None or seconds is None else (
            "breached" if seconds < 0 else "warning" if now >= warn_at else "ok")
        return Text(format_remaining(seconds), style=self.get_component_rich_style(f"queue-list--{level}"))

    def _cells(self, row: dict[str, Any], now: datetime) -> list[Any]:
        prio = Text(f"P{row['priority']}",
                    style=self.get_component_rich_style("queue-list--p1") if row["priority"] == 1 else "")
        holder = row.get("holder")
        mark = STATE_MARK.get(row["state"], "")
        mark_style = ""
        if holder and holder["id"] == self.operator_id:
            mark_style = self.get_component_rich_style("queue-list--mine")
        platform = PLATFORM_MARK.get(row["platform"], row["platform"][:1].upper())
        author = Text(one_line("@" + row["author"]["handle"], 12))
        return [prio, self._due_cell(row, now), Text(platform + mark, style=mark_style), author,
                Text(one_line(row["latest_text"], 60))]

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        """Replace the rows, keeping the cursor on the same conversation."""
        selected = self.selected_id
        now = self.clock()
        with self.app.batch_update():
            self.clear()
            self.rows_by_id = {r["id"]: r for r in rows}
            for r in rows:
                self.add_row(*self._cells(r, now), key=str(r["id"]))
            if selected is not None and selected in self.rows_by_id:
                self.move_cursor(row=self.get_row_index(str(selected)), animate=False)

    def tick(self) -> None:
        """Update the countdown of each visible row only."""
        if not self.row_count:
            return
        now = self.clock()
        first = max(self.scroll_offset.y, 0)
        last = min(first + self.size.height, self.row_count)
        for index in range(first, last):
            key = self.coordinate_to_cell_key((index, 0)).row_key
            row = self.rows_by_id.get(int(key.value))  # type: ignore[arg-type]
            if row is not None:
                self.update_cell(key, "due", self._due_cell(row, now))

    def action_open(self) -> None:
        if self.selected_id is not None:
            self.post_message(OpenConversation(self.selected_id))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
