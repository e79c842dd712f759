"""JSON a client or a platform sent, made safe to store: what PostgreSQL cannot hold is refused.

PostgreSQL text and jsonb hold neither NUL nor a lone UTF-16 surrogate (a
`\\ud800` escape decodes to one), jsonb holds no NaN or Infinity, and deep
nesting exhausts the stack of whatever recursive code meets it first (the
JSON parser, json.dumps, PostgreSQL's jsonb input). Each of these used to
reach a query and come back as a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32  # no body we accept nests deeper than a handful of levels


class _Unstorable:
    """A number parsed from JSON that cannot be stored; the walk names where it is."""

    def __init__(self, text: str, why: str):
        self.text, self.why = text, why

    def __repr__(self) -> str:
        return f"{self.text[:20]}{'…' if len(self.text) > 20 else ''}"


def _constant(name: str) -> _Unstorable:
    return _Unstorable(name, "is not a JSON number")


def _float(text: str) -> float | _Unstorable:
    value = float(text)
    return value if math.isfinite(value) else _Unstorable(text, "is not a finite number")


def _int(text: str) -> int | _Unstorable:
    # Python refuses to parse integers past 4,300 digits (a ValueError for the whole body);
    # jsonb and the consoles have no use for more than a 64-bit integer's 20.
    return int(text) if len(text) <= 20 else _Unstorable(text, "has more than 20 digits")


def loads(text: str) -> Any:
    """json.loads that never raises anything but ValueError (JSONDecodeError is one).

    NaN, Infinity, 1e999 and integers of more than 20 digits parse to a marker
    that `unstorable` reports with its path, so one bad value in one post of a
    batch can be refused alone; nesting deep enough to exhaust the parser's stack
    is a ValueError rather than a RecursionError."""
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def has_surrogate(text: str) -> bool:
    """True when `text` holds a lone UTF-16 surrogate (it then has no UTF-8 form)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable(value: Any, path: str = "", depth_limit: int = MAX_DEPTH) -> str | None:
    """Why parsed JSON `value` cannot be stored as it is, naming where; None if it can.

    Walks iteratively, so the walk itself never runs out of stack."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        at = where or "body"
        if isinstance(item, str):
            if "\x00" in item:
                return f"{at}: contains a NUL character"
            if has_surrogate(item):
                return f"{at}: contains a lone UTF-16 surrogate (not valid Unicode)"
        elif isinstance(item, _Unstorable):
            return f"{at}: {item!r} {item.why}"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{at}: {item} is not a finite number"
        elif isinstance(item, dict | list):
            if depth >= depth_limit:
                return f"{at}: nested more than {depth_limit} levels deep"
            if isinstance(item, dict):
                for key, sub in item.items():
                    if "\x00" in key or has_surrogate(key):
                        return f"{at}: a key is not valid text ({key!r:.40})"
                    stack.append((sub, f"{where}.{key}" if where else key, depth + 1))
            else:
                stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))
    return None
