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


LIST_CAP = 5  # rows shown per list; the rest is counted ("and 12 more")


def _n(value: Any) -> str:
    return format_count(value) if isinstance(value, int) else literal(str(value))


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    minutes = round(seconds / 60)
    if minutes < 60:
        return _("{m} min").format(m=minutes)
    return _("{h} h {m:02d} min").format(h=minutes // 60, m=minutes % 60)


def _hhmm(stamp: Any) -> str:
    text = str(stamp or "")
    return text[11:16] if len(text) >= 16 else one_line(text, 16)


def _period(period: dict[str, Any]) -> str:
    """'2026-11-25 08:00 – 16:00 UTC' (the end's date only when it differs)."""
    start, end = str(period.get("start", "")), str(period.get("end", ""))
    end_day = "" if start[:10] == end[:10] else one_line(end[:10], 10) + " "
    return f"{one_line(start[:10], 10)} {_hhmm(start)} – {end_day}{_hhmm(end)} UTC"


def _sentiments() -> dict[str, str]:
    return {"negative": _("negative"), "neutral": _("neutral"), "positive": _("positive")}


def _counts(counts: Any, labels: dict[str, str] | None = None) -> str:
    if not isinstance(counts, dict) or not counts:
        return _("none")
    labels = labels or {}
    return " · ".join(
        f"{one_line(labels.get(str(k), str(k).replace('_', ' ')), 24)} {_n(v)}"
        for k, v in counts.items()
    )


def _capped(rows: list[Any], total: Any, line: Any) -> list[Text]:
    out = [Text("   " + line(r)) for r in rows[:LIST_CAP] if isinstance(r, dict)]
    total = total if isinstance(total, int) else len(rows)
    shown = min(len(rows), LIST_CAP)
    if total > shown:
        out.append(Text("   … " + _("and {n} more").format(n=_n(total - shown)), style="dim"))
    return out


def handover_text(report: dict[str, Any]) -> Group:
    """The handover as a person reads it: the numbers first, each list capped with
    "and N more", every piece of platform or operator text literal."""
    if "mentions" not in report or not isinstance(report.get("mentions"), dict):
        return _raw_sections(report)  # an older or unknown shape: show it as it came
    head = lambda label: Text(label, style="bold")  # noqa: E731
    parts: list[Text] = []
    period = report.get("period") or {}
    parts.append(Text(_period(period)))
    if report.get("operators"):
        names = one_line(", ".join(map(str, report["operators"])), 200)
        parts.append(Text(_("On shift:") + " " + names))
    m = report["mentions"]
    parts += [
        head(_("Mentions")),
        Text(f"   {_n(m.get('total', 0))} — " + _counts(m.get("by_sentiment"), _sentiments())),
    ]
    parts.append(Text("   " + _("by platform:") + " " + _counts(m.get("by_platform")), style="dim"))
    out = report.get("replies_out") or {}
    first = report.get("first_response_seconds") or {}
    nobody, unclaimed = _("nobody"), _("unclaimed")
    parts += [
        head(_("Our answers")),
        Text(
            "   "
            + _("{public} public replies · {dms} DMs").format(
                public=_n(out.get("public", 0)), dms=_n(out.get("dm", 0))
            )
        ),
        Text(
            "   "
            + _("first response: median {median} · p90 {p90} ({n} conversations)").format(
                median=_duration(first.get("median")),
                p90=_duration(first.get("p90")),
                n=_n(first.get("count", 0)),
            )
        ),
    ]
    breaches = report.get("breaches") or {}
    parts.append(head(_("SLA breaches: {n}").format(n=_n(breaches.get("total", 0)))))
    if breaches.get("total"):
        by_who = _counts(breaches.get("by_operator"), {"unclaimed": nobody})
        parts.append(Text("   " + _("by who held it:") + " " + by_who))
        parts += _capped(
            breaches.get("conversations") or [],
            breaches.get("total"),
            lambda b: (
                f"{one_line(str(b.get('priority', '')), 3)} @{one_line(str(b.get('handle', '')), 24)} "
                f"({one_line(str(b.get('platform', '')), 12)}) "
                + _("due {time}").format(time=_hhmm(b.get("due_at")))
                + f" — {one_line(str(b.get('operator') or nobody), 24)}"
            ),
        )
    still = report.get("open") or {}
    parts.append(head(_("Still open: {n}").format(n=_n(still.get("total", 0)))))
    if still.get("total"):
        parts.append(Text("   " + _counts(still.get("by_state"))))
        held = _counts(still.get("by_holder"), {"unclaimed": unclaimed})
        parts.append(Text("   " + _("held by:") + " " + held, style="dim"))
        parts += _capped(
            still.get("conversations") or [],
            still.get("total"),
            lambda c: (
                f"{one_line(str(c.get('priority', '')), 3)} @{one_line(str(c.get('handle', '')), 24)} "
                f"{one_line(str(c.get('state', '')).replace('_', ' '), 18)}, "
                + _("due {time}").format(time=_hhmm(c.get("due_at")))
                + f" — {one_line(str(c.get('holder') or unclaimed), 24)}"
            ),
        )
    owed = report.get("owing_public_close") or []
    if owed:
        parts.append(head(_("In DM, owing a public close: {n}").format(n=_n(len(owed)))))
        parts += _capped(
            owed,
            len(owed),
            lambda c: (
                f"@{one_line(str(c.get('handle', '')), 24)} "
                + _("since {time}").format(time=_hhmm(c.get("in_dm_since")))
                + f" — {one_line(str(c.get('holder') or unclaimed), 24)}"
            ),
        )
    notes = report.get("pinned_notes") or []
    if notes:
        parts.append(head(_("Pinned notes")))
        parts += _capped(
            notes,
            len(notes),
            lambda n: (
                f"{one_line(str(n.get('author', '')), 20)}: {one_line(str(n.get('text', '')), 120)}"
            ),
        )
    crises = report.get("crises") or []
    if crises:
        parts.append(head(_("Crises")))
        parts += _capped(
            crises,
            len(crises),
            lambda c: (
                f"{_hhmm(c.get('started_at'))}–"
                + (_hhmm(c.get("ended_at")) if c.get("ended_at") else _("ongoing"))
                + ", "
                + _("peak {n} negative mentions/min").format(
                    n=_n(round(c.get("peak_per_minute") or 0))
                )
            ),
        )
    themes = report.get("themes") or []
    if themes:
        parts.append(head(_("What people complain about")))
        parts.append(
            Text(
                "   "
                + " · ".join(
                    f"{one_line(str(t.get('term', '')), 30)} {_n(t.get('count', 0))}"
                    for t in themes[:8]
                    if isinstance(t, dict)
                )
            )
        )
    return Group(*parts)


def _raw_sections(report: dict[str, Any]) -> Group:
    """Each top-level section as a heading and its lines, all literal (unknown shapes)."""
    parts: list[Text] = []
    for key, value in report.items():
        parts.append(Text(one_line(key.replace("_", " ").capitalize()), style="bold"))
        if isinstance(value, list) and value:
            parts.extend(Text("  • " + literal(_value(v))) for v in value[:LIST_CAP])
            if len(value) > LIST_CAP:
                parts.append(Text(f"  … and {len(value) - LIST_CAP:,} more", style="dim"))
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

    shown: RenderableType = ""  # what the body shows (tests read it as text)

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
            # The report's data, laid out here: capped lists, platform text literal.
            self.shown = handover_text(await client.handover())
            body.update(self.shown)
        except BackendError as exc:
            if exc.status != 404:
                raise
            self.shown = summary_text(await client.summary())
            body.update(self.shown)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    def action_close(self) -> None:
        self.dismiss(None)


def latest_handover_text(found: dict[str, Any]) -> Group:
    """The handover the last shift left: who, when, their note, then the stored summary."""
    period = found.get("period") or {}
    parts: list[RenderableType] = [
        Text(
            _("From {operator},").format(operator=one_line(str(found.get("operator", "")), 40))
            + " "
            + _period(period),
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

    def __init__(self, found: dict[str, Any], title: str = "") -> None:
        super().__init__()
        self.found = found
        self.title_text = title or _("HANDOVER FROM THE LAST SHIFT")
        self.shown: RenderableType = latest_handover_text(found)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="handover"):
            yield Static(self.title_text, id="handover-title")
            yield Static(self.shown, id="handover-body")

    def action_close(self) -> None:
        self.dismiss(None)
