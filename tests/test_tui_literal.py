"""Text from the platforms is shown as visible, inert text: no markup, escapes or hidden characters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len
from textual.app import App, ComposeResult

from tui.literal import fit, literal, one_line
from tui.notices import tell
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


ATTACKS = {
    "OSC 52 clipboard": "\x1b]52;c;aGFja2Vk\x07",
    "OSC 0 title": "\x1b]0;pwned\x07",
    "OSC 2 title": "\x1b]2;pwned\x1b\\",
    "OSC 8 hyperlink": "\x1b]8;;http://evil.example\x1b\\x\x1b]8;;\x1b\\",
    "CSI clear": "\x1b[2J\x1b[H",
    "DCS": "\x1bPq#0;2;0;0;0\x1b\\",
    "C1 CSI": "\x9b31m",
    "C1 OSC": "\x9d0;pwned\x9c",
    "bidi override": "\u202eevil\u202c",
    "bidi embedding": "\u202a\u202b\u202d",
    "bidi isolate": "\u2066\u2067\u2068\u2069",
    "line separator": "a\u2028b",
    "paragraph separator": "a\u2029b",
    "grapheme joiner": "a\u034fb",
    "hangul filler": "\u3164\u115f\u1160\uffa0",
    "zero width": "\u200b\u200c\u200d\u2060\ufeff",
    "bidi marks": "\u200e\u200f\u061c",
    "carriage return": "over\rwrite",
    "backspace": "x\x08y",
}


def test_each_attack_is_drawn_as_visible_inert_text():
    import unicodedata

    for name, attack in ATTACKS.items():
        for shown in (literal(attack), one_line(attack), fit(attack, 40)):
            for ch in shown:
                assert ch.isprintable() and unicodedata.category(ch) not in ("Zl", "Zp"), (
                    name,
                    repr(shown),
                )
                assert ch not in "\u034f\u3164\u115f\u1160\uffa0", (name, repr(shown))
        assert "\n" not in one_line(attack), name


def test_one_line_keeps_a_queue_row_one_line_and_within_its_width():
    row = one_line("hello\u2029world\nand more \u3164 text", 20)
    assert "\n" not in row and cell_len(row) <= 20
    assert fit("日本語テキスト", 7) == "日本語…" and cell_len(fit("ab", 5)) == 5


async def test_notifications_with_outside_text_are_literal():
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        tell(app, "reply failed: [b]x[/b] \x1b]52;c;aGk=\x07", title="Could not \x1b[2Jclaim")
        await pilot.pause()
        (note,) = app._notifications
        assert "\x1b" not in note.message and "\x1b" not in note.title
        assert "[b]x[/b]" in note.message and not note.markup
