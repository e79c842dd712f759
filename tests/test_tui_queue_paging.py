"""The console asks for queue pages by key (the queue's own order), never by a deep offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from textual.app import App, ComposeResult

from backend.conversations.queue import key_of
from tui.widgets.queue_list import PAGE, QueueList

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
TOTAL = 350
ROWS = [
    {
        "id": i + 1,
        "platform": "simulator",
        "state": "new",
        "priority": 2,
        "sla_due_at": None if i >= 300 else f"2026-11-25T09:{i // 60:02d}:{i % 60:02d}+00:00",
        "sla_warn_at": None,
        "author": {"handle": f"c{i}", "name": "C"},
        "holder": None,
        "latest_text": f"post {i}",
    }
    for i in range(TOTAL)
]
for _row in ROWS:  # as the backend gives each row its key
    _row["key"] = key_of(_row)


class Harness(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.asked: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        async def loader(
            filter: str, search: str, offset: int, limit: int, **key: str
        ) -> dict[str, Any]:
            self.asked.append({"offset": offset, "limit": limit, **key})
            keys = [r["key"] for r in ROWS]
            if "after" in key:
                start = keys.index(key["after"]) + 1
            elif key.get("before") == "end":
                start = TOTAL - limit
            elif "before" in key:
                start = keys.index(key["before"]) - limit
            else:
                start = offset
            return {"filter": filter, "total": TOTAL, "rows": ROWS[start : start + limit]}

        yield QueueList(loader=loader, clock=lambda: NOW)


async def test_g_reads_the_last_page_backwards_and_moving_on_asks_by_key():
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        queue = app.query_one(QueueList)
        queue.focus()
        queue.reload()
        while not queue.loaded:
            await pilot.pause()
        assert app.asked == [{"offset": 0, "limit": PAGE}]
        await pilot.press("G")
        await pilot.pause()
        while queue.selected_id is None:
            await pilot.pause()
        assert queue.selected_id == TOTAL
        assert app.asked[-1] == {"offset": 300, "limit": 50, "before": "end"}
        for _ in range(60):
            await pilot.press("k")
        await pilot.pause()
        while queue.selected_id is None:
            await pilot.pause()
        assert queue.selected_id == TOTAL - 60
        assert app.asked[-1]["before"] == key_of(ROWS[300])
        await pilot.press("g")
        for _ in range(PAGE):
            await pilot.press("j")
        await pilot.pause()
        while queue.selected_id is None:
            await pilot.pause()
        assert queue.selected_id == PAGE + 1
        assert all("after" in a or "before" in a or a["offset"] == 0 for a in app.asked)
