"""Snapshots of every console screen at 80x24 and 200x50, with a frozen clock and no cursor blink.

The backend is replaced by recorded answers in the contract's shapes, so every run draws the
same picture; the keys and their effects are tested against the real backend in test_tui_keys.py.
Update after an intended change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tui.app import ShiftdeskApp
from tui.client import BackendClient, BackendError, StreamStatus
from tui.drafts import DraftStore

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ME = {"id": 1, "name": "anna", "display_name": "Anna", "role": "lead"}


def _row(i: int, handle: str, text: str, due: str, warn: str, **kw: Any) -> dict[str, Any]:
    row = {
        "id": i,
        "platform": "mastodon",
        "state": "new",
        "priority": 2,
        "priority_reasons": [],
        "is_direct": False,
        "escalated": False,
        "sla_kind": "first_response",
        "sla_due_at": f"2026-11-25T{due}+00:00",
        "sla_warn_at": f"2026-11-25T{warn}+00:00",
        "claim_expires_at": None,
        "last_inbound_at": "2026-11-25T08:40:00+00:00",
        "flags": [],
        "language": "en",
        "sentiment": 0.0,
        "author": {"handle": handle, "name": handle.title(), "followers": 10},
        "holder": None,
        "latest_text": text,
        "tags": [],
    }
    row.update(kw)
    return row


ROWS = [
    _row(
        1,
        "jo_k",
        "@acme your app ate my order AGAIN, third time this week",
        "08:58:30",
        "08:55:00",
        priority=1,
        state="claimed",
        holder={"id": 1, "name": "Anna"},
        priority_reasons=["angry", "repeat"],
        claim_expires_at="2026-11-25T09:10:00+00:00",
    ),
    _row(
        2,
        "lena",
        "#acmefail [bold]still[/bold] down \x1b[31m for me",
        "09:03:10",
        "08:59:00",
        priority=1,
    ),
    _row(
        3,
        "max",
        "where is my parcel? ordered last monday",
        "09:11:02",
        "09:06:00",
        platform="bluesky",
        state="claimed",
        holder={"id": 2, "name": "Ben"},
    ),
    _row(
        4,
        "sam",
        "thanks for the quick help yesterday!",
        "10:40:00",
        "10:30:00",
        priority=3,
        state="in_dm",
    ),
    # Answered publicly by Anna (who is signed in): it waits on the customer and stays hers.
    _row(
        5,
        "kate",
        "@acme ok, the order number is 4471, can you check?",
        "12:40:00",
        "12:30:00",
        priority=2,
        state="awaiting_customer",
        holder={"id": 1, "name": "Anna"},
    ),
]

CONVERSATION = {
    **ROWS[0],
    "tags": ["outage"],
    "thread": [
        {
            "kind": "inbound",
            "id": 11,
            "post_id": "m1",
            "at": "2026-11-25T08:40:00+00:00",
            "channel": "public",
            "ours": False,
            "author": {"handle": "jo_k", "name": "Jo K"},
            "url": None,
            "match_how": ["handle"],
            "text": "@acme your app ate my order AGAIN. Refund to DE89 3704 0044 0532 0130 00 now, idiots",
            "masked_text": "@acme your app ate my order AGAIN. Refund to DE89 •••• •••• •••• •••• 00 now, idiots",
            "priority": 1,
            "priority_reasons": ["angry"],
            "language": "en",
            "sentiment": -0.8,
            "flags": [
                {
                    "check": "personal_data",
                    "kind": "advisory",
                    "message": "an IBAN in a public post",
                    "suggestion": None,
                    "start": 0,
                    "end": 0,
                    "detail": {},
                },
                {
                    "check": "abusive",
                    "kind": "advisory",
                    "message": "insult: 'idiots'",
                    "suggestion": "answer with the house rules",
                    "start": 0,
                    "end": 0,
                    "detail": {},
                },
            ],
        },
        {
            "kind": "outbound",
            "id": 21,
            "at": "2026-11-25T08:45:00+00:00",
            "channel": "public",
            "purpose": "reply",
            "text": "Sorry Jo, we're looking into it right now.",
            "status": "published",
            "operator": "Ben",
            "platform_post_id": "x",
            "url": None,
            "error": None,
            "published_at": "2026-11-25T08:45:02+00:00",
            "advisories": [],
        },
        {
            "kind": "outbound",
            "id": 22,
            "at": "2026-11-25T08:50:00+00:00",
            "channel": "dm",
            "purpose": "dm",
            "text": "Could you send me the order number?",
            "status": "failed",
            "operator": "Ben",
            "platform_post_id": None,
            "url": None,
            "error": "the platform said 503",
            "published_at": None,
            "advisories": [],
        },
    ],
    "notes": [
        {
            "id": 1,
            "text": "Third outage complaint from Jo this week",
            "pinned": True,
            "at": "2026-11-25T08:46:00+00:00",
            "operator": "Ben",
        }
    ],
}

SUMMARY = {
    "brand": {"name": "Acme", "handle": "acme"},
    "queue": 412,
    "breaching": 7,
    "last_event_id": 99,
    "crisis": {"active": True, "since": "2026-11-25T08:30:00+00:00"},
    "online": [
        {"id": 1, "display_name": "Anna", "role": "lead"},
        {"id": 2, "display_name": "Ben", "role": "operator"},
    ],
}


GROUPS = [
    {
        "ids": [2, 5, 6, 7, 8, 9, 10],
        "size": 7,
        "topic": "app down",
        "example": "#acmefail [bold]still[/bold] down \x1b[31m for me, third time today and nobody answers",
    },
    {
        "ids": [3, 11, 12],
        "size": 3,
        "topic": "parcel",
        "example": "where is my parcel? ordered last monday",
    },
    {"ids": [13], "size": 1, "topic": "refund", "example": "still waiting for my refund"},
]

HOLDING_TEMPLATE = "Hi {name}, we know about the problem with {topic} and are on it."
HOLDING_PREVIEW = {
    "preview": True,
    "sent": 0,
    "results": [
        {
            "id": 2,
            "ok": True,
            "text": "Hi Lena, we know about the problem with app down and are on it.",
            "advisories": [],
        },
        {
            "id": 5,
            "ok": False,
            "needs_confirmation": True,
            "error": "Check the advisories before sending.",
            "text": "Hi Sam, we know about the problem with app down and are on it.",
            "findings": [
                {
                    "check": "tone",
                    "kind": "advisory",
                    "message": "no apology",
                    "suggestion": "say sorry",
                    "start": 0,
                    "end": 0,
                    "detail": {},
                }
            ],
        },
        {"id": 6, "ok": False, "error": "Ben holds it; they answer it."},
    ],
}


TEMPLATES = [
    {
        "name": "delay",
        "language": "en",
        "text": "Hi {name}, we're sorry your order is taking longer than it should.",
    },
    {"name": "outage", "language": "en", "text": "Hi {name}, sorry about this: the app is down."},
    {"name": "stoerung", "language": "de", "text": "Hallo {name}, sorry für den Ärger."},
]


# A crisis shift's handover as GET /api/handover answers: long lists, a hostile handle.
HANDOVER_REPORT: dict[str, Any] = {
    "period": {"start": "2026-11-25T08:00:00+00:00", "end": "2026-11-25T16:00:00+00:00"},
    "operators": ["Anna K.", "Ben"],
    "mentions": {
        "total": 4731,
        "by_platform": {"mastodon": 3200, "bluesky": 1531},
        "by_sentiment": {"negative": 4162, "neutral": 500, "positive": 69},
        "by_platform_and_sentiment": {},
    },
    "replies_out": {"public": 212, "dm": 38},
    "first_response_seconds": {"count": 250, "median": 252.0, "p90": 1330.0},
    "breaches": {
        "total": 7,
        "by_operator": {"unclaimed": 4, "Anna K.": 2, "Ben": 1},
        "conversations": [
            {"conversation_id": i, "handle": f"cust{i}", "platform": "mastodon", "priority": "P1",
             "kind": "first", "due_at": f"2026-11-25T1{i % 6}:0{i % 10}:00+00:00",
             "operator": None if i % 2 else "Anna K."}
            for i in range(1, 8)
        ],
    },
    "open": {
        "total": 412,
        "by_state": {"new": 330, "claimed": 42, "in_dm": 40},
        "by_holder": {"unclaimed": 330, "Anna K.": 50, "Ben": 32},
        "conversations": [
            {"conversation_id": i, "handle": "jo\x1b]52;c;aGk=\x07" if i == 1 else f"open{i}",
             "platform": "bluesky", "state": "new", "priority": "P1",
             "holder": None, "due_at": "2026-11-25T16:05:00+00:00"}
            for i in range(1, 21)
        ],
    },
    "owing_public_close": [],
    "pinned_notes": [
        {"author": "Ben", "text": "Refunds for double charges are approved, link in templates.",
         "at": "2026-11-25T12:00:00+00:00", "conversation_id": None}
    ],
    "crises": [
        {"started_at": "2026-11-25T09:05:00+00:00", "ended_at": "2026-11-25T10:40:00+00:00",
         "peak_per_minute": 4162.0}
    ],
    "themes": [{"term": "double charge", "count": 2100}, {"term": "app crash", "count": 900}],
}  # fmt: skip


class RecordedBackend(BackendClient):
    """Answers from the recorded data above; the stream says 'live' (or 'lost') and then stays quiet."""

    def __init__(self, connected: bool = True, flagged: bool = False) -> None:
        super().__init__("http://recorded.invalid", "token")
        self.connected = connected
        self.flagged = flagged

    async def templates(self) -> list[dict[str, Any]]:
        return TEMPLATES

    async def me(self) -> dict[str, Any]:
        return ME

    async def summary(self) -> dict[str, Any]:
        return SUMMARY

    async def queue(
        self, filter: str = "needs_us", offset: int = 0, limit: int = 100, q: str = ""
    ) -> dict[str, Any]:
        return {
            "filter": filter,
            "offset": offset,
            "total": 412,
            "rows": ROWS if offset == 0 else [],
        }

    async def conversation(self, conversation_id: int) -> dict[str, Any]:
        if self.flagged:
            return {**CONVERSATION, "state": "flagged_conduct", "holder": None}
        return CONVERSATION

    async def advise(
        self, text: str, channel: str, conversation_id: int | None = None
    ) -> list[dict[str, Any]]:
        return [
            {
                "check": "defensive",
                "kind": "advisory",
                "message": "sounds defensive",
                "suggestion": "say sorry instead",
                "start": 0,
                "end": 9,
                "detail": {},
            }
        ]

    async def presence(self, conversation_id: int | None, typing: bool) -> None:
        return None

    async def heartbeat(self, conversation_id: int) -> dict[str, Any]:
        return {
            "id": conversation_id,
            "state": "claimed",
            "holder_id": 1,
            "claim_expires_at": "2026-11-25T09:10:00+00:00",
        }

    async def handover(self, since: str | None = None) -> dict[str, Any]:
        return HANDOVER_REPORT

    async def handover_markdown(self, since: str | None = None) -> str:
        raise BackendError("not found", 404)

    async def shift_start(self) -> dict[str, Any]:
        return {"shift": {"id": 1, "resumed": False}, "latest_handover": None}

    async def crisis_groups(self) -> list[dict[str, Any]]:
        return GROUPS

    async def holding_statement(
        self,
        template: str,
        conversation_ids: list[int],
        *,
        preview: bool = False,
        confirm: bool = False,
        templates: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return HOLDING_PREVIEW

    async def stream(self, after: int) -> AsyncIterator[Any]:
        yield StreamStatus(
            self.connected, "" if self.connected else "lost the backend (ClientOSError)"
        )
        await asyncio.Event().wait()


def make_app(connected: bool = True, flagged: bool = False, language: str = "en") -> ShiftdeskApp:
    return ShiftdeskApp(
        RecordedBackend(connected, flagged),
        now=lambda: NOW,
        drafts=DraftStore(None),
        keymap={},
        language=language,
    )


async def settle(pilot) -> None:
    app = pilot.app
    while not (
        app.screen.__class__.__name__ == "QueueScreen" and app.screen.query_one("#queue").loaded
    ):
        await pilot.pause(0.01)
    for ta in app.screen.query("TextArea"):
        ta.cursor_blink = False


async def open_and_compose(pilot) -> None:
    await settle(pilot)
    await pilot.press("enter")
    while pilot.app.screen.open_conversation is None:
        await pilot.pause(0.01)
    await pilot.press("r")
    composer = pilot.app.screen.query_one("#composer")
    composer.text_area.insert("As we said, it's not our fault.")
    while not composer.findings:
        await pilot.pause(0.01)
    await pilot.wait_for_scheduled_animations()


def no_blink(pilot) -> None:
    for widget in pilot.app.screen.query("Input"):
        widget.cursor_blink = False


SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((200, 50), id="200x50")]


@pytest.mark.parametrize("size", SIZES)
def test_queue_thread_and_composer(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=open_and_compose)


@pytest.mark.parametrize("size", SIZES)
def test_offline_banner(snap_compare, size):
    assert snap_compare(make_app(connected=False), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_handover_screen(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("H")
        while "loading" in str(pilot.app.screen.query_one("#handover-body").render()):
            await pilot.pause(0.01)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_filter_prompt(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("slash")
        await pilot.pause()
        no_blink(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_note_prompt(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("enter")
        while pilot.app.screen.open_conversation is None:
            await pilot.pause(0.01)
        await pilot.press("m")
        await pilot.pause()
        no_blink(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_crisis_groups(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("x")
        while (
            pilot.app.screen.__class__.__name__ != "CrisisGroupsScreen"
            or pilot.app.screen.groups is None
        ):
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_holding_statement_preview(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("space")
        await pilot.press("C")
        while pilot.app.screen.__class__.__name__ != "HoldingStatementScreen":
            await pilot.pause(0.01)
        pilot.app.screen.query_one("#holding-template").value = HOLDING_TEMPLATE
        await pilot.press("enter")
        while pilot.app.screen.stage != "previewed":
            await pilot.pause(0.01)
        no_blink(pilot)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_quit_question(snap_compare, size):
    async def before(pilot):
        await open_and_compose(pilot)
        await pilot.press("ctrl+q")
        while pilot.app.screen.__class__.__name__ != "QuitScreen":
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_saved_reply_picker(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("enter")
        while pilot.app.screen.open_conversation is None:
            await pilot.pause(0.01)
        await pilot.press("r", "ctrl+t")
        while pilot.app.screen.__class__.__name__ != "ChoicePrompt":
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_flagged_conversation_offers_house_rules_and_dismiss(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("enter")
        while pilot.app.screen.open_conversation is None:
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(make_app(flagged=True), terminal_size=size, run_before=before)


# -- the same screens in German: longer words must not break the layout -----------------------


@pytest.mark.parametrize("size", SIZES)
def test_german_queue_thread_and_composer(snap_compare, size):
    assert snap_compare(make_app(language="de"), terminal_size=size, run_before=open_and_compose)


@pytest.mark.parametrize("size", SIZES)
def test_german_offline_banner(snap_compare, size):
    app = make_app(connected=False, language="de")
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_german_help_screen(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("question_mark")

    assert snap_compare(make_app(language="de"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_german_filter_prompt(snap_compare, size):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("slash")
        await pilot.pause()
        no_blink(pilot)

    assert snap_compare(make_app(language="de"), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_german_quit_question(snap_compare, size):
    async def before(pilot):
        await open_and_compose(pilot)
        await pilot.press("ctrl+q")
        while pilot.app.screen.__class__.__name__ != "QuitScreen":
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(make_app(language="de"), terminal_size=size, run_before=before)
