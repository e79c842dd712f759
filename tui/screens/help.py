"""The ? screen: every key, where it works."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("Queue", [("j / k, ↓ / ↑", "move through the queue"), ("g / G", "first / last"),
               ("enter", "open the conversation"), ("c", "claim it"), ("n", "claim the next in the queue"),
               ("u", "release it"), ("r", "reply publicly (opens the composer)")]),
    ("Composer", [("ctrl+s", "send"), ("esc", "back to the queue, the draft stays")]),
    ("Anywhere", [("tab / shift+tab", "next / previous pane"), ("?", "this help"),
                  ("q", "quit (outside the composer)"), ("ctrl+q, ctrl+c", "quit")]),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2))
        for section, keys in KEYS:
            table.add_row(f"[b]{section}[/b]", "")
            for key, what in keys:
                table.add_row(key, what)
        with VerticalScroll(id="help"):
            yield Static(table)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
