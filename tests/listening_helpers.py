"""Shared builders for the listening tests."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from backend.listening import Rules, load_rules
from backend.model import Author, InboundPost

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@cache
def project_rules() -> Rules:
    """The rules shipped in rules/, loaded once per test run."""
    return load_rules(RULES_DIR)


def post(
    text: str, *, platform: str = "mastodon", handle: str = "jo_k", followers: int = 120, **fields
) -> InboundPost:
    """A post as a connector would hand it over."""
    return InboundPost(
        platform=platform,
        post_id="1",
        author=Author("a1", handle, followers=followers),
        text=text,
        created_at=AT,
        **fields,
    )


def english(reasons: tuple[object, ...]) -> tuple[str, ...]:
    """Priority reasons as the English an operator without a language reads."""
    return tuple(str(r) for r in reasons)
