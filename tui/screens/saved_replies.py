"""Saved replies (GET /api/templates): offered in the customer's language first, inserted with
the placeholders filled. They are starting points: the backend flags one sent unedited as canned."""

from __future__ import annotations

import re
from typing import Any

from ..literal import one_line

LABEL = 56  # cells: one line in the 64-column picker
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def first_name(display_name: str, handle: str) -> str:
    """What a reply calls the customer: the first word of their name, else their handle
    (the same rule the backend's holding statements use)."""
    parts = (display_name or "").split()
    return parts[0] if parts else handle


def template_choices(
    templates: list[dict[str, Any]], language: str | None
) -> list[tuple[str, str]]:
    """(index, label) for the picker: the conversation's language first, then the others."""
    order = sorted(
        range(len(templates)),
        key=lambda i: (templates[i].get("language") != language, i),
    )
    return [
        (
            str(i),
            one_line(
                f"[{templates[i].get('language', '?')}] {templates[i].get('name', '')} — "
                f"{templates[i].get('text', '')}",
                LABEL,
            ),
        )
        for i in order
    ]


def fill_placeholders(
    text: str, conversation: dict[str, Any], *, brand: str = "", operator: str = ""
) -> str:
    """{name}, {handle}, {brand} and {operator} filled; any other placeholder stays for the
    operator to see and fill."""
    author = conversation.get("author") or {}
    handle = str(author.get("handle", ""))
    values = {
        "name": first_name(str(author.get("name") or ""), handle),
        "handle": "@" + handle if handle else "",
        "brand": brand,
        "operator": operator,
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or m.group(0), text)
