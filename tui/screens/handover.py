"""The H screen: what the next shift needs to know.

Shows GET /api/handover when the backend has it; an older backend without it gets the
summary figures instead, with a line saying the full handover is not available.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker

from ..client import BackendError
from ..context import console_of
from ..failures import report_worker_failure
from ..formats import format_count
from ..i18n import N_, _
from ..literal import literal, literal_text, one_line


def _value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    return str(value)


def handover_text(report: dict[str, Any]) -> Group:
    """Each top-level section of the handover report as a heading and its lines, all literal."""
    parts: list[Text] = []
    for key, value in report.items():
        parts.append(Text(one_line(key.replace("_", " ").capitalize()), style="bold"))
        if isinstance(value, list) and value:
            parts.extend(Text("  • " + literal(_value(v))) for v in value)
        elif isinstance(value, list):
            parts.append(Text("  " + _("none"), style="dim"))
        else:
            parts.append(Text("  " + literal(_value(value))))
    return Group(*parts)


def summary_text(summary: dict[str, Any]) -> Group:
    brand = summary.get("brand") or {}
    crisis = summary.get("crisis") or {}
    online = ", ".join(o.get("display_name", "") for o in summary.get("online") or []) or "—"
    lines = [
        Text(_("The backend has no handover report yet; the figures it does give:"), style="dim"),
        Text(
            _("Brand:") + f" {literal(brand.get('name', ''))} @{literal(brand.get('handle', ''))}"
        ),
        Text(_("Open and needing us:") + " " + format_count(summary.get("queue", 0))),
        Text(_("Past their SLA:") + " " + format_count(summary.get("breaching", 0))),
        Text(
            _("Crisis:")
            + " "
            + (
                _("yes, since {time}").format(time=crisis.get("since"))
                if crisis.get("active")
                else _("no")
            )
        ),
        Text(_("On shift:") + " " + literal(online)),
    ]
    return Group(*lines)


class HandoverScreen(ModalScreen[None]):
    BINDINGS = [
        Binding(
            "escape,q,H", "close", N_("Close"), id="handover.close", tooltip=N_("Back to the queue")
        )
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="handover"):
            yield Static(_("SHIFT HANDOVER"), id="handover-title")
            yield Static(_("loading…"), id="handover-body")

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        client = console_of(self).client
        body = self.query_one("#handover-body", Static)
        try:
            # The backend's Markdown, shown as literal text: platform text inside stays inert.
            body.update(literal_text(await client.handover_markdown()))
        except BackendError as exc:
            if exc.status != 404:
                raise
            body.update(summary_text(await client.summary()))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    def action_close(self) -> None:
        self.dismiss(None)


def latest_handover_text(found: dict[str, Any]) -> Group:
    """The handover the last shift left: who, when, their note, then the stored summary."""
    period = found.get("period") or {}
    parts: list[RenderableType] = [
        Text(
            _("From {operator},").format(operator=literal(str(found.get("operator", ""))))
            + " "
            + literal(str(period.get("start", "")))
            + " – "
            + literal(str(period.get("end", ""))),
            style="bold",
        ),
        Text(_("Note"), style="bold"),
        literal_text(found.get("note") or _("(no note)")),
        Text(""),
        handover_text(found.get("summary") or {}),
    ]
    return Group(*parts)


class LatestHandoverScreen(ModalScreen[None]):
    """Shown once on sign-in when a previous shift handed over; the operator dismisses it."""

    BINDINGS = [
        Binding(
            "escape,enter,q",
            "close",
            N_("Got it"),
            id="latest_handover.close",
            tooltip=N_("Close the handover and go to the queue"),
        )
    ]

    def __init__(self, found: dict[str, Any]) -> None:
        super().__init__()
        self.found = found

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="handover"):
            yield Static(_("HANDOVER FROM THE LAST SHIFT"), id="handover-title")
            yield Static(latest_handover_text(self.found), id="handover-body")

    def action_close(self) -> None:
        self.dismiss(None)
