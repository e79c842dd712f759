"""The conversation thread: what the customer wrote and what we answered, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..literal import literal, one_line

STATUS_WORDS = {"queued": "sending…", "published": "published", "failed": "FAILED"}


def _clock(at: str | None) -> str:
    return datetime.fromisoformat(at).astimezone().strftime("%H:%M") if at else "--:--"


class ThreadView(VerticalScroll, can_focus=True):
    """Scrolls with j/k and arrows when focused; all platform text is shown literally."""

    COMPONENT_CLASSES = {"thread-view--title", "thread-view--customer", "thread-view--ours",
                         "thread-view--dm", "thread-view--failed", "thread-view--muted"}

    DEFAULT_CSS = """
    ThreadView > .thread-view--title { text-style: bold; }
    ThreadView > .thread-view--customer { text-style: bold; }
    ThreadView > .thread-view--ours { color: $accent; text-style: bold; }
    ThreadView > .thread-view--dm { color: $warning; }
    ThreadView > .thread-view--failed { color: $error; text-style: bold; }
    ThreadView > .thread-view--muted { color: $text-muted; }
    """

    BINDINGS = [
        ("j", "scroll_down", "Scroll down"),
        ("k", "scroll_up", "Scroll up"),
    ]

    def compose(self):
        yield Static(Text("Open a conversation from the queue (enter).", style="dim"), id="thread-body")

    @property
    def body(self) -> Static:
        return self.query_one("#thread-body", Static)

    def show(self, conv: dict[str, Any]) -> None:
        style = self.get_component_rich_style
        parts: list[Any] = []
        holder = conv.get("holder")
        title = Text()
        title.append(one_line("@" + conv["author"]["handle"], 30), style("thread-view--title"))
        title.append(f" ({conv['platform']}) P{conv['priority']} · {conv['state'].replace('_', ' ')}")
        if holder:
            title.append(f" · held by {literal(holder['name'])}")
        parts.append(title)
        if conv.get("priority_reasons"):
            parts.append(Text("why P%d: %s" % (conv["priority"], literal("; ".join(conv["priority_reasons"]))),
                              style("thread-view--muted")))
        for item in conv["thread"]:
            line = Text()
            line.append(_clock(item["at"]) + " ", style("thread-view--muted"))
            channel = "DM" if item["channel"] == "dm" else "public"
            if item["kind"] == "inbound":
                line.append(literal(item["author"]["handle"]), style("thread-view--customer"))
                if item["channel"] == "dm":
                    line.append(" [DM]", style("thread-view--dm"))
                line.append(": " + literal(item["text"]))
                for flag in item.get("flags") or []:
                    line.append(f"\n   ⚑ {literal(str(flag.get('check', flag)))}", style("thread-view--failed"))
            else:
                who = literal(item.get("operator") or "team")
                line.append(f"us ({who}, {channel})", style("thread-view--ours"))
                line.append(": " + literal(item["text"]))
                status = STATUS_WORDS.get(item["status"], item["status"])
                status_style = style("thread-view--failed") if item["status"] == "failed" else style("thread-view--muted")
                line.append(f"\n   {status}", status_style)
                if item.get("error"):
                    line.append(": " + literal(item["error"]), status_style)
            parts.append(line)
        for note in conv.get("notes") or []:
            parts.append(Text(f"note ({literal(note['operator'])}): {literal(note['text'])}", style("thread-view--muted")))
        self.body.update(Group(*parts))
        self.scroll_end(animate=False)

    def clear(self) -> None:
        self.body.update(Text("Open a conversation from the queue (enter).", style="dim"))
