"""Text from the platforms is shown as visible, inert text: no markup, escapes or hidden characters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from textual.app import App, ComposeResult

from tui.literal import literal
from tui.widgets.queue_list import QueueList
from tui.widgets.thread_view import ThreadView

HOSTILE = (
    "[bold red]boom[/] [link=http://evil.example]click[/link] \x1b[2J\x1b]8;;http://evil.example\x07hi"
    "\x1b]8;;\x07 a\u200bb \u202eevil \x9b31m"
)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(**kw: Any) -> dict[str, Any]:
    base = {
        "id": 1,
        "platform": "mastodon",
        "state": "new",
        "priority": 1,
        "priority_reasons": [],
        "is_direct": False,
        "escalated": False,
        "sla_kind": "first_response",
        "sla_due_at": "2026-03-02T09:10:00+00:00",
        "sla_warn_at": "2026-03-02T09:05:00+00:00",
        "claim_expires_at": None,
        "last_inbound_at": "2026-03-02T08:55:00+00:00",
        "flags": [],
        "language": "en",
        "sentiment": -0.5,
        "author": {"handle": "x[i]y\x1b[5m", "name": "X", "followers": 1},
        "holder": None,
        "latest_text": HOSTILE,
        "tags": [],
    }
    base.update(kw)
    return base


class Harness(App[None]):
    def compose(self) -> ComposeResult:
        async def loader(filter: str, search: str, offset: int, limit: int) -> dict[str, Any]:
            return {
                "filter": filter,
                "offset": offset,
                "total": 1,
                "rows": [row()] if offset == 0 else [],
            }

        yield QueueList(loader=loader, clock=lambda: NOW)
        yield ThreadView()


def test_literal_replaces_every_control_and_invisible_character():
    shown = literal(HOSTILE)
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "^[[2J" in shown and "^[]8;;http://evil.example^G" in shown
    assert "<U+200B>" in shown and "<U+202E>" in shown and "<U+009B>" in shown
    assert "[bold red]boom[/]" in shown


async def test_queue_and_thread_draw_hostile_text_as_plain_characters():
    app = Harness()
    async with app.run_test(size=(120, 20)) as pilot:
        queue = app.query_one(QueueList)
        queue.reload()
        while not queue.loaded:
            await pilot.pause(0.01)
        thread = app.query_one(ThreadView)
        thread.show(
            {
                **row(),
                "thread": [
                    {
                        "kind": "inbound",
                        "id": 1,
                        "post_id": "p",
                        "at": "2026-03-02T08:55:00+00:00",
                        "channel": "public",
                        "ours": False,
                        "author": {"handle": "x", "name": "X"},
                        "text": HOSTILE,
                        "masked_text": HOSTILE,
                        "url": None,
                        "match_how": [],
                        "priority": 1,
                        "priority_reasons": [],
                        "flags": [
                            {"check": "abuse", "kind": "flag", "message": "[blink]insult[/blink]"}
                        ],
                        "language": "en",
                        "sentiment": -0.5,
                    }
                ],
                "notes": [
                    {
                        "id": 1,
                        "text": "\x1b[8mhidden",
                        "pinned": False,
                        "at": None,
                        "operator": "Ben",
                    }
                ],
            }
        )
        await pilot.pause()
        queue_strip = queue.render_line(0)
        thread_lines = thread.body.render_lines(thread.body.region.reset_offset)
        for strip in [queue_strip, *thread_lines]:
            for seg in strip:
                assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in seg.text), repr(
                    seg.text
                )
                assert (
                    seg.style is None or seg.style.link is None
                )  # no clickable hyperlinks smuggled in
        text = "\n".join(s.text for s in thread_lines)
        assert "[bold red]boom[/]" in text and "[link=http://evil.example]click[/link]" in text
        assert (
            "<U+202E>" in text
            and "^[[2J" in text
            and "[blink]insult[/blink]" in text
            and "^[[8mhidden" in text
        )
        assert "[bold red]boom[/]" in queue_strip.text and "@x[i]y^[[5m" in queue_strip.text
