"""How an SLA clock reads on screen: one shared 1 Hz tick drives every visible countdown."""

from __future__ import annotations

from datetime import datetime

WARNING_SECONDS = 5 * 60  # without a warning time from the backend, the last five minutes warn


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def remaining_seconds(due: datetime | None, now: datetime) -> float | None:
    return None if due is None else (due - now).total_seconds()


def format_remaining(seconds: float | None) -> str:
    """'04:59' under an hour, '1h05' under a day, '3d' beyond; breached clocks count up with '-'."""
    if seconds is None:
        return "  --  "
    sign = "-" if seconds < 0 else " "
    s = int(abs(seconds))
    if s < 3600:
        body = f"{s // 60:02d}:{s % 60:02d}"
    elif s < 86400:
        body = f"{s // 3600}h{(s % 3600) // 60:02d}"
    else:
        body = f"{s // 86400}d"
    return f"{sign}{body:>5}"


def urgency(seconds: float | None, warn_seconds: float = WARNING_SECONDS) -> str:
    """'paused', 'breached', 'warning' or 'ok': the name of the style a countdown takes."""
    if seconds is None:
        return "paused"
    if seconds < 0:
        return "breached"
    if seconds <= warn_seconds:
        return "warning"
    return "ok"
