"""Notifications with text from outside the console (the backend's errors, names, reasons) made
literal, so a toast can never carry markup or an escape sequence onto the operator's terminal."""

from __future__ import annotations

from textual.dom import DOMNode
from textual.notifications import SeverityLevel

from .literal import literal


def tell(
    node: DOMNode,
    message: str,
    *,
    title: str = "",
    severity: SeverityLevel = "information",
    timeout: float | None = None,
) -> None:
    """Show a notification; message and title are drawn literally."""
    node.app.notify(
        literal(message),
        title=literal(title, keep_newlines=False),
        severity=severity,
        timeout=timeout,
        markup=False,
    )
