"""The conversation thread: what the customer wrote and what we answered, oldest first.

Public and DM are marked on every message; flags say why they were raised; our replies
show whether they are published. Personal data stays masked until the operator reveals it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from ..formats import age, clock_time, day, format_count
from ..i18n import N_, _
from ..literal import literal, one_line
from .queue_list import STATE_WORD

STATUS_WORDS = {
    "queued": N_("⧗ sending…"),
    "published": N_("✓ published"),
    "failed": N_("✖ FAILED"),
}
PURPOSE_WORDS = {
    "reply": N_("reply"),
    "dm_ack": N_("DM acknowledgement"),
    "dm": "DM",
    "closing": N_("closing message"),
    "house_rules": N_("house rules"),
}
EMPTY = N_("Open a conversation from the queue (enter).")


def item_time(at: str | None) -> str:
    return clock_time(datetime.fromisoformat(at)) if at else "--:--"


class ThreadView(VerticalScroll, can_focus=True):
    """Scrolls with j/k and arrows when focused; all platform text is shown literally."""

    COMPONENT_CLASSES = {
        "thread-view--title",
        "thread-view--customer",
        "thread-view--ours",
        "thread-view--dm",
        "thread-view--public",
        "thread-view--failed",
        "thread-view--muted",
        "thread-view--flag",
        "thread-view--note",
        "thread-view--typing",
        "thread-view--banner",
    }

    DEFAULT_CSS = """
    ThreadView > #thread-head { dock: top; height: auto; background: $surface; }
    ThreadView > .thread-view--title { text-style: bold; }
    ThreadView > .thread-view--customer { text-style: bold; }
    ThreadView > .thread-view--ours { color: $accent; text-style: bold; }
    ThreadView > .thread-view--dm { color: $warning; text-style: bold; }
    ThreadView > .thread-view--public { color: $success; }
    ThreadView > .thread-view--failed { color: $error; text-style: bold; }
    ThreadView > .thread-view--muted { color: $text-muted; }
    ThreadView > .thread-view--flag { color: $error; }
    ThreadView > .thread-view--note { color: $secondary; text-style: italic; }
    ThreadView > .thread-view--typing { color: $warning; text-style: italic; }
    ThreadView > .thread-view--banner { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding(
            "j",
            "scroll_down",
            N_("Scroll down"),
            show=False,
            id="thread.down",
            tooltip=N_("Scroll the thread down"),
        ),
        Binding(
            "k",
            "scroll_up",
            N_("Scroll up"),
            show=False,
            id="thread.up",
            tooltip=N_("Scroll the thread up"),
        ),
    ]

    revealed: reactive[bool] = reactive(False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.conversation: dict[str, Any] | None = None
        self.typing: dict[int, str] = {}  # operator id -> name, typing in this conversation
        self.banner = ""  # what the console offers for this conversation (e.g. the conduct keys)

    def compose(self):
        # The title (who, state, holder) and the banner stay put while the messages scroll.
        yield Static(id="thread-head")
        yield Static(Text(_(EMPTY), style="dim"), id="thread-body")

    @property
    def head(self) -> Static:
        return self.query_one("#thread-head", Static)

    @property
    def body(self) -> Static:
        return self.query_one("#thread-body", Static)

    def watch_revealed(self, revealed: bool) -> None:
        self.set_class(revealed, "-revealed")
        if self.conversation is not None:
            self._redraw()

    def show(self, conv: dict[str, Any]) -> None:
        if self.conversation is None or self.conversation["id"] != conv["id"]:
            self.revealed = False  # personal data is masked again for each new conversation
            self.typing = {}
        self.conversation = conv
        self._redraw()
        self.scroll_end(animate=False)

    def set_typing(self, operator_id: int, name: str, typing: bool) -> None:
        if typing:
            self.typing[operator_id] = name
        else:
            self.typing.pop(operator_id, None)
        if self.conversation is not None:
            self._redraw()

    def has_masked_text(self) -> bool:
        conv = self.conversation or {}
        return any(
            i.get("kind") == "inbound" and i.get("masked_text") not in (None, i.get("text"))
            for i in conv.get("thread", [])
        )

    def _redraw(self) -> None:
        conv = self.conversation
        assert conv is not None
        style = self.get_component_rich_style
        parts: list[Any] = []
        holder = conv.get("holder")
        title = Text()
        title.append(one_line("@" + conv["author"]["handle"], 30), style("thread-view--title"))
        title.append(
            " "
            + one_line(
                f"({conv['platform']}) P{conv['priority']} · "
                + _(STATE_WORD.get(conv["state"], conv["state"].replace("_", " ")))
            )
        )
        title.append(
            " · " + _("held by {name}").format(name=one_line(holder["name"]))
            if holder
            else " · " + _("unclaimed")
        )
        if conv.get("escalated"):
            title.append(" · " + _("ESCALATED"), style("thread-view--failed"))
        now = getattr(self.app, "now", None)
        if conv.get("last_inbound_at") and callable(now):
            # How long the customer has been waiting, as the operator's language says it.
            title.append(" · " + age(datetime.fromisoformat(conv["last_inbound_at"]), now()))
        head: list[Any] = [title]
        if self.banner:
            head.append(Text(self.banner, style("thread-view--banner")))
        self.head.update(Group(*head))
        if conv.get("priority_reasons"):
            parts.append(
                Text(
                    _("why P{priority}:").format(priority=conv["priority"])
                    + " "
                    + "; ".join(one_line(str(r)) for r in conv["priority_reasons"]),
                    style("thread-view--muted"),
                )
            )
        parts += self._customer(conv.get("customer") or {})
        if conv.get("tags"):
            parts.append(
                Text(
                    _("tags:") + " " + ", ".join(one_line(str(t)) for t in conv["tags"]),
                    style("thread-view--muted"),
                )
            )
        notes = sorted(conv.get("notes") or [], key=lambda n: not n.get("pinned"))
        for note in notes:
            label = _("pinned note") if note.get("pinned") else _("note")
            parts.append(
                Text(
                    f"✎ {label} ({one_line(note.get('operator') or '?')}): {literal(note['text'])}",
                    style("thread-view--note"),
                )
            )
        for item in conv.get("thread", []):
            parts.append(self._item(item))
        if self.has_masked_text():
            hint = (
                _("personal data shown — v to mask")
                if self.revealed
                else _("personal data masked — v to reveal")
            )
            parts.append(Text(hint, style("thread-view--muted")))
        for name in self.typing.values():
            parts.append(
                Text(
                    _("{name} is typing here…").format(name=one_line(name)),
                    style("thread-view--typing"),
                )
            )
        self.body.update(Group(*parts))

    def _customer(self, customer: dict[str, Any]) -> list[Text]:
        """Who the customer is, in two lines at most: profile facts, then earlier conversations."""
        muted = self.get_component_rich_style("thread-view--muted")
        facts = []
        if isinstance(customer.get("followers"), int):
            facts.append(_("{count} followers").format(count=format_count(customer["followers"])))
        if customer.get("account_since"):
            facts.append(_("since {date}").format(date=self._day(customer["account_since"])))
        if customer.get("bio"):
            facts.append(_("bio:") + " " + one_line(literal(str(customer["bio"])), 80))
        link = customer.get("first_post_url") or customer.get("profile_url")
        if link:
            facts.append(one_line(literal(str(link)), 60))
        lines = [Text(_("customer:") + " " + " · ".join(facts), muted)] if facts else []
        earlier = customer.get("earlier_conversations") or []
        if earlier:
            shown = "; ".join(
                f"#{e.get('id')} {one_line(str(e.get('state', '')).replace('_', ' '), 12)} "
                f"“{one_line(literal(str(e.get('text') or '')), 40)}”"
                for e in earlier[:2]
            )
            more = int(customer.get("earlier_total") or len(earlier)) - min(len(earlier), 2)
            more_text = " " + _("and {count} more").format(count=more) if more > 0 else ""
            lines.append(Text(_("before:") + f" {shown}" + more_text, muted))
        return lines

    @staticmethod
    def _day(value: object) -> str:
        """A date from the backend in the operator's language; shown as given if not a date."""
        try:
            return day(datetime.fromisoformat(str(value)).date())
        except ValueError:
            return one_line(str(value), 10)

    def _channel(self, channel: str) -> Text:
        if channel == "dm":
            return Text(" [DM]", self.get_component_rich_style("thread-view--dm"))
        return Text(" [" + _("public") + "]", self.get_component_rich_style("thread-view--public"))

    def _item(self, item: dict[str, Any]) -> Text:
        style = self.get_component_rich_style
        line = Text()
        line.append(item_time(item.get("at")) + " ", style("thread-view--muted"))
        if item["kind"] == "inbound":
            line.append(one_line("@" + item["author"]["handle"]), style("thread-view--customer"))
            line.append_text(self._channel(item.get("channel", "public")))
            text = item["text"] if self.revealed else item.get("masked_text", item["text"])
            line.append(": " + literal(text))
            media = [str(m) for m in item.get("media") or []]
            if media:
                counted = Counter(media)
                marks = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in counted.items())
                line.append(f" [{one_line(marks, 40)}]", style("thread-view--muted"))
            for flag in item.get("flags") or []:
                if isinstance(flag, dict):
                    why = flag.get("message") or flag.get("check") or ""
                    what = f"{flag.get('check', 'flag')}: {why}" if flag.get("check") else str(why)
                    reason = (flag.get("detail") or {}).get("reason")
                    if reason:  # why the check fired: the phrase, or the model's score
                        what += f" ({reason})"
                else:
                    what = str(flag)
                line.append("\n   ⚑ " + literal(what), style("thread-view--flag"))
        else:
            who = one_line(item.get("operator") or _("team"))
            purpose = item.get("purpose", "reply")
            what = _(PURPOSE_WORDS.get(purpose) or one_line(str(purpose)))
            line.append(
                _("us ({who}, {what})").format(who=who, what=what),
                style("thread-view--ours"),
            )
            line.append_text(self._channel(item.get("channel", "public")))
            line.append(": " + literal(item["text"]))
            failed = item.get("status") == "failed"
            status_style = style("thread-view--failed") if failed else style("thread-view--muted")
            status = item.get("status", "")
            line.append(
                "\n   " + _(STATUS_WORDS.get(status) or one_line(str(status))), status_style
            )
            if item.get("error"):
                line.append(": " + literal(str(item["error"])), status_style)
            if item.get("advisories"):
                sent_despite = "; ".join(
                    literal(str(a.get("message") or a.get("check") or a))
                    if isinstance(a, dict)
                    else literal(str(a))
                    for a in item["advisories"]
                )
                line.append(
                    "\n   " + _("sent despite:") + " " + sent_despite, style("thread-view--muted")
                )
        return line

    def clear(self) -> None:
        self.conversation = None
        self.typing = {}
        self.head.update("")
        self.body.update(Text(_(EMPTY), style="dim"))
