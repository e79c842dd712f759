"""The queue: a window onto the server's SLA-ordered, filtered list, however long it is.

Only the rows on screen (and the page they sit in) are ever fetched: the widget is a
ScrollView whose virtual height is the queue's `total`, rendering line by line from a
cache of pages. The cursor follows a conversation id, not a row index, when the queue
re-sorts; one 1 Hz tick repaints only the visible lines.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import Worker

from ..failures import report_worker_failure
from ..i18n import N_, _
from ..literal import fit, one_line
from ..messages import OpenConversation
from .countdown import format_remaining, parse_time, remaining_seconds, urgency

PAGE = 100  # rows per request; a screen never shows more than two pages
PLATFORM_MARK = {"mastodon": "M", "bluesky": "B", "simulator": "S"}
STATE_MARK = {
    "new": " ",
    "claimed": "●",
    # Not "…": next to the platform letter that read as text cut short (issue 14).
    "awaiting_customer": "◷",
    "in_dm": "✉",
    "flagged_conduct": "⚑",
    "resolved": "✓",
    "dismissed": "×",
}
STATE_WORD = {
    "new": N_("new"),
    "claimed": N_("claimed"),
    "awaiting_customer": N_("waiting"),
    "in_dm": N_("in DM"),
    "flagged_conduct": N_("conduct"),
    "resolved": N_("resolved"),
    "dismissed": N_("dismissed"),
}

# The time column of a conversation waiting on the customer: our clock is paused, so the column
# says whose turn it is instead of "--" (at most 6 cells, German "wartet" included).
WAITS = N_("waits")
# The holder column for the operator's own conversations: what they look for, not their name.
YOURS = N_("yours")

_LEADING_MENTIONS = re.compile(r"^(?:\s*@[\w.@-]+[,:]?)+\s*")


def preview(text: str) -> str:
    """The latest message as a row shows it: the @mentions it opens with say nothing new."""
    rest = _LEADING_MENTIONS.sub("", text)
    return rest if rest.strip() else text


# loader(filter, search, offset, limit, **key): key is after=<row key> or before=<row key | "end">.
PageLoader = Callable[..., Awaitable[dict[str, Any]]]


def urgency_of(row: dict[str, Any], now: datetime) -> tuple[float | None, str]:
    """Seconds left on the row's SLA clock and the style name it shows in."""
    seconds = remaining_seconds(parse_time(row.get("sla_due_at")), now)
    if row.get("state") == "awaiting_customer":
        return seconds, "paused"  # the customer's turn: our clock is not running
    warn_at = parse_time(row.get("sla_warn_at"))
    if warn_at is None or seconds is None:
        return seconds, urgency(seconds)
    return seconds, "breached" if seconds < 0 else "warning" if now >= warn_at else "ok"


class QueueList(ScrollView, can_focus=True):
    """Keys: j/k and arrows move, g/G jump, enter opens, space selects for bulk actions."""

    BINDINGS = [
        Binding(
            "j,down",
            "cursor_down",
            N_("Down"),
            show=False,
            id="queue.down",
            tooltip=N_("Next conversation"),
        ),
        Binding(
            "k,up",
            "cursor_up",
            N_("Up"),
            show=False,
            id="queue.up",
            tooltip=N_("Previous conversation"),
        ),
        Binding(
            "g,home",
            "first",
            N_("Top"),
            show=False,
            id="queue.top",
            tooltip=N_("First conversation"),
        ),
        Binding(
            "G,end",
            "last",
            N_("Bottom"),
            show=False,
            id="queue.bottom",
            tooltip=N_("Last conversation"),
        ),
        Binding(
            "pagedown",
            "page(1)",
            N_("Page down"),
            show=False,
            id="queue.page_down",
            tooltip=N_("One screen down"),
        ),
        Binding(
            "pageup",
            "page(-1)",
            N_("Page up"),
            show=False,
            id="queue.page_up",
            tooltip=N_("One screen up"),
        ),
        Binding(
            "enter",
            "open",
            N_("Open"),
            id="queue.open",
            tooltip=N_("Open the conversation under the cursor"),
        ),
        Binding(
            "space",
            "toggle_select",
            N_("Select"),
            id="queue.select",
            tooltip=N_("Select for a bulk tag, release or assign"),
        ),
    ]

    COMPONENT_CLASSES = {
        "queue-list--ok",
        "queue-list--warning",
        "queue-list--breached",
        "queue-list--paused",
        "queue-list--p1",
        "queue-list--mine",
        "queue-list--other",
        "queue-list--cursor",
        "queue-list--selected",
        "queue-list--muted",
    }

    DEFAULT_CSS = """
    QueueList { background: $surface; }
    QueueList > .queue-list--ok { color: $success; }
    QueueList > .queue-list--warning { color: $warning; text-style: bold; }
    QueueList > .queue-list--breached { color: $error; text-style: bold reverse; }
    QueueList > .queue-list--paused { color: $text-muted; }
    QueueList > .queue-list--p1 { color: $error; text-style: bold; }
    QueueList > .queue-list--mine { color: $accent; text-style: bold; }
    QueueList > .queue-list--other { color: $text-muted; }
    QueueList > .queue-list--cursor { background: $boost; text-style: bold; }
    QueueList:focus > .queue-list--cursor { background: $accent 40%; }
    QueueList > .queue-list--selected { color: $warning; text-style: bold; }
    QueueList > .queue-list--muted { color: $text-muted; }
    """

    filter: reactive[str] = reactive("needs_us")
    search: reactive[str] = reactive("")
    total: reactive[int] = reactive(0)
    total_exact: reactive[bool] = reactive(True)  # False: the backend counted only that far

    @dataclass
    class Loaded(Message):
        """A fresh window arrived: pages by number and the total they are a window of."""

        generation: int
        pages: dict[int, list[dict[str, Any]]]
        total: int
        filter: str
        total_exact: bool = True

    @dataclass
    class Changed(Message):
        """The list's contents, length, cursor or selection changed (for the title line)."""

        queue: QueueList

    def __init__(
        self,
        *,
        loader: PageLoader | None = None,
        clock: Callable[[], datetime] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.loader = loader
        self.clock = clock or (lambda: datetime.now(UTC))
        self.pages: dict[int, list[dict[str, Any]]] = {}
        self.cursor = 0
        self.cursor_id: int | None = None
        self.selected: set[int] = set()
        self.typing: dict[int, set[str]] = {}  # conversation id -> operators typing there now
        self.operator_id: int | None = None
        self.loaded = False  # the first window has arrived
        self._generation = 0
        self._pending: set[int] = set()

    def on_mount(self) -> None:
        # One timer for every countdown on screen.
        self.set_interval(1.0, self.tick, name="countdown")

    # -- data ------------------------------------------------------------------------

    def row_at(self, index: int) -> dict[str, Any] | None:
        page = self.pages.get(index // PAGE)
        if page is None or index % PAGE >= len(page):
            return None
        return page[index % PAGE]

    def index_of(self, conversation_id: int) -> int | None:
        for number, rows in self.pages.items():
            for i, row in enumerate(rows):
                if row["id"] == conversation_id:
                    return number * PAGE + i
        return None

    @property
    def rows_by_id(self) -> dict[int, dict[str, Any]]:
        return {row["id"]: row for rows in self.pages.values() for row in rows}

    @property
    def row_count(self) -> int:
        return self.total

    @property
    def selected_id(self) -> int | None:
        row = self.row_at(self.cursor)
        return row["id"] if row else None

    def visible_rows(self) -> list[dict[str, Any]]:
        first = int(self.scroll_offset.y)
        return [
            r
            for i in range(first, min(first + self.size.height, self.total))
            if (r := self.row_at(i)) is not None
        ]

    def _wanted_pages(self) -> set[int]:
        first = int(self.scroll_offset.y)
        last = first + max(self.size.height, 1)
        return {p for p in range(first // PAGE, last // PAGE + 1)} | {self.cursor // PAGE}

    def reload(self) -> None:
        """Fetch the window on screen again (after events, a filter change or a reconnect)."""
        self._generation += 1
        self._fetch(self._generation, sorted(self._wanted_pages()), self.filter, self.search)

    def _ask(
        self, number: int, known: dict[int, list[dict[str, Any]]]
    ) -> tuple[int, int, dict[str, str]]:
        """How to ask for page `number`: (offset, limit, key). By key from a neighbour we
        hold, or from either end; an offset only for a jump into the middle (a scrollbar
        drag), which the backend pays for by the rows it skips. At a million open
        conversations an offset page cost 0.4-0.5 s, a key page a few milliseconds."""
        if number == 0:
            return 0, PAGE, {}
        before, after = known.get(number + 1), known.get(number - 1)
        if after is not None and len(after) == PAGE:
            return number * PAGE, PAGE, {"after": after[-1]["key"]}
        if before:
            return number * PAGE, PAGE, {"before": before[0]["key"]}
        if number == (self.total - 1) // PAGE:
            # G: the last page, read backwards from the far end of the index.
            return number * PAGE, max(self.total - number * PAGE, 1), {"before": "end"}
        return number * PAGE, PAGE, {}

    async def _load(
        self, filter: str, search: str, number: int, known: dict[int, list[dict[str, Any]]]
    ) -> dict[str, Any]:
        assert self.loader is not None
        offset, limit, key = self._ask(number, known)
        return await self.loader(filter, search, offset, limit, **key)

    @work(group="queue-window", exclusive=True, exit_on_error=False)
    async def _fetch(self, generation: int, numbers: list[int], filter: str, search: str) -> None:
        pages: dict[int, list[dict[str, Any]]] = {}
        total, exact = 0, True
        old = self.pages if filter == self.filter and search == self.search else {}
        for number in numbers:
            result = await self._load(filter, search, number, {**old, **pages})
            pages[number] = result["rows"]
            total, exact = result["total"], result.get("total_exact", True)
        self.post_message(self.Loaded(generation, pages, total, filter, exact))

    @work(group="queue-page", exit_on_error=False)
    async def _fetch_page(self, generation: int, number: int) -> None:
        try:
            result = await self._load(self.filter, self.search, number, self.pages)
        finally:
            self._pending.discard(number)
        self.post_message(
            self.Loaded(
                generation,
                {number: result["rows"]},
                result["total"],
                self.filter,
                result.get("total_exact", True),
            )
        )

    def on_queue_list_loaded(self, message: Loaded) -> None:
        message.stop()
        if message.generation < self._generation or message.filter != self.filter:
            return  # an answer to an older question
        if len(message.pages) > 1 or message.generation > getattr(self, "_shown_generation", -1):
            self.pages = dict(message.pages)  # a new generation replaces what was cached
        else:
            self.pages.update(message.pages)
        self._shown_generation = message.generation
        self.loaded = True
        self.total = message.total
        self.total_exact = message.total_exact
        self.virtual_size = Size(self.size.width, self.total)
        if self.cursor_id is not None:
            found = self.index_of(self.cursor_id)
            if found is not None:
                self.cursor = found  # follow the conversation across re-sorts
        self.cursor = max(0, min(self.cursor, self.total - 1))
        self._remember_cursor()
        self.scroll_to_cursor()
        self.refresh()
        self.post_message(self.Changed(self))

    def _remember_cursor(self) -> None:
        row = self.row_at(self.cursor)
        if row is not None:
            self.cursor_id = row["id"]

    def watch_filter(self) -> None:
        self.cursor, self.cursor_id = 0, None
        self.pages = {}
        self.scroll_to(y=0, animate=False)
        if self.loader is not None and self.is_mounted:
            self.reload()

    def watch_search(self) -> None:
        self.watch_filter()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    # -- rendering -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.size.width
        if index >= self.total:
            if index == 0 and self.loaded:
                text = " " + _("Nothing here (filter: {filter})").format(
                    filter=one_line(self.filter.replace("_", " "))
                )
                return Strip(
                    [Segment(text[:width], self.get_component_rich_style("queue-list--muted"))]
                ).extend_cell_length(width, self.rich_style)
            return Strip.blank(width, self.rich_style)
        row = self.row_at(index)
        if row is None and (index // PAGE) in self.pages:
            # The page came back shorter than the total promised (the queue shrank meanwhile):
            # the next reload brings both in step; asking again now would only loop.
            return Strip.blank(width, self.rich_style)
        if row is None:
            self._request_page(index // PAGE)
            return Strip(
                [Segment(" " + _("loading…"), self.get_component_rich_style("queue-list--muted"))]
            ).extend_cell_length(width, self.rich_style)
        return self._row_strip(row, index == self.cursor, width)

    def _request_page(self, number: int) -> None:
        if number in self._pending or self.loader is None:
            return
        self._pending.add(number)
        self._fetch_page(self._generation, number)

    def _row_strip(self, row: dict[str, Any], is_cursor: bool, width: int) -> Strip:
        style = self.get_component_rich_style
        base = self.rich_style + (style("queue-list--cursor") if is_cursor else Style())
        now = self.clock()
        seconds, level = urgency_of(row, now)
        holder = row.get("holder")
        mine = bool(holder and holder["id"] == self.operator_id)
        segs: list[Segment] = []
        add = segs.append
        add(
            Segment(
                "▌" if row["id"] in self.selected else " ", base + style("queue-list--selected")
            )
        )
        add(
            Segment(
                f"P{row['priority']}",
                base + (style("queue-list--p1") if row["priority"] == 1 else Style()),
            )
        )
        add(Segment(" ", base))
        if row.get("state") == "awaiting_customer":
            clock = f"{one_line(_(WAITS), 6):>6}"
        else:
            clock = format_remaining(seconds)
        add(Segment(clock, base + style(f"queue-list--{level}")))
        add(Segment(" " + PLATFORM_MARK.get(row["platform"], one_line(row["platform"], 1)), base))
        holder_style = style("queue-list--mine") if mine else style("queue-list--other")
        if self.typing.get(row["id"]):
            add(Segment("✎", base + style("queue-list--selected")))  # someone is writing an answer
        else:
            add(
                Segment(
                    STATE_MARK.get(row["state"], "?"), base + (holder_style if holder else Style())
                )
            )
        # The mark already says the state (? explains it): the width goes to the message.
        author_w = 9 if width < 45 else 11 if width < 60 else 14
        add(Segment(" " + fit("@" + row["author"]["handle"], author_w), base))
        used = 1 + 2 + 1 + 6 + 2 + 1 + 1 + author_w
        if width >= 60:
            # Wide enough to say who holds it ("yours" for the operator's own).
            name = fit(_(YOURS) if mine else holder["name"], 9) if holder else " " * 9
            add(Segment(" " + name, base + (holder_style if holder else Style())))
            used += 10
        text_w = max(width - used - 1, 0)
        add(Segment(" " + one_line(preview(row.get("latest_text") or ""), text_w), base))
        return Strip(segs).adjust_cell_length(width, base)

    def row_text(self, index: int) -> str:
        """The row as plain text, the way it is drawn now (for tests and the tmux check)."""
        row = self.row_at(index)
        return "" if row is None else self._row_strip(row, False, self.size.width or 80).text

    def scroll_to_cursor(self) -> None:
        top = int(self.scroll_offset.y)
        height = max(self.size.height, 1)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def tick(self) -> None:
        """Repaint the visible lines so their countdowns move; nothing off screen is touched."""
        if self.total:
            self.refresh()

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.total)

    # -- keys ------------------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        if not self.total:
            return
        old = self.cursor
        self.cursor = max(0, min(index, self.total - 1))
        self.cursor_id = (
            None  # until its page arrives, the cursor is a position, not a conversation
        )
        self._remember_cursor()
        self.scroll_to_cursor()
        # Repaint only the two lines that changed (a scroll repaints the rest itself).
        self.refresh_line(old)
        self.refresh_line(self.cursor)
        self.post_message(self.Changed(self))

    def action_cursor_down(self) -> None:
        self._move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self._move_to(self.cursor - 1)

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        self._move_to(self.total - 1)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * max(self.size.height - 1, 1))

    def action_open(self) -> None:
        if self.selected_id is not None:
            self.post_message(OpenConversation(self.selected_id))

    def action_toggle_select(self) -> None:
        cid = self.selected_id
        if cid is None:
            return
        self.selected ^= {cid}
        self.refresh_line(self.cursor)
        self.post_message(self.Changed(self))

    def set_typing(self, conversation_id: int | None, operator: str, typing: bool) -> None:
        """Mark (or unmark) the row another operator is typing in; an operator types in one place at a time."""
        for names in self.typing.values():
            names.discard(operator)
        if typing and conversation_id is not None:
            self.typing.setdefault(conversation_id, set()).add(operator)
        self.typing = {cid: names for cid, names in self.typing.items() if names}
        self.refresh()

    def select_only(self, ids: list[int]) -> None:
        """Make these conversations the selection (a crisis group), for the bulk actions and the holding statement."""
        self.selected = set(ids)
        self.refresh()
        self.post_message(self.Changed(self))

    def clear_selection(self) -> None:
        self.selected.clear()
        self.refresh()
        self.post_message(self.Changed(self))

    def on_click(self, event: Any) -> None:
        self._move_to(int(self.scroll_offset.y) + event.y)
