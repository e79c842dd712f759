"""The ? screen: every key, where it works, and why ctrl+s is safe in a terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    (
        "Queue",
        [
            ("j / k, ↓ / ↑", "move through the queue"),
            ("g / G, pgup / pgdn", "first / last, a screen"),
            ("enter", "open the conversation"),
            ("c", "claim it"),
            ("n", "claim the next in the queue"),
            ("u", "release it (or the selected ones)"),
            ("space", "select for bulk actions"),
            ("t", "tag it (or the selected ones)"),
            ("a", "assign the selected ones (leads: reassign)"),
            ("/", "search and saved filters: mine, unclaimed, breaching, P1, in DM"),
            ("esc", "close the thread / clear the selection"),
        ],
    ),
    (
        "Conversation",
        [
            ("r", "reply publicly"),
            ("d", "move to DM: public acknowledgement, then the DM"),
            ("R", "resolve with a public closing message"),
            ("m", "internal note"),
            ("e", "escalate to a lead"),
            ("v", "reveal / mask personal data"),
        ],
    ),
    (
        "Crisis",
        [
            ("x", "complaints grouped: size, topic, an example; enter selects a group"),
            (
                "C",
                "leads: holding statement with {name} and {topic} to the selected ones or a group;"
                " enter previews, ctrl+s sends",
            ),
        ],
    ),
    (
        "Composer",
        [
            ("ctrl+s", "send (again: send despite advisories)"),
            ("esc", "back to the queue, the draft stays"),
        ],
    ),
    (
        "Anywhere",
        [
            ("tab / 1 2 3", "next pane / queue, thread, composer"),
            ("H", "shift handover"),
            ("ctrl+p", "command palette: every action by name"),
            ("?", "this help"),
            ("q", "quit (outside the composer)"),
            ("ctrl+q, ctrl+c", "quit"),
        ],
    ),
]

TERMINAL_NOTE = (
    "ctrl+s is safe: the console puts the terminal in raw mode, which switches off "
    "XON/XOFF flow control (IXON), so ctrl+s reaches shiftdesk instead of freezing the "
    "screen. No key uses ctrl+b or ctrl+a, the tmux and screen prefixes."
)


def keys_table() -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for section, keys in KEYS:
        table.add_row(Text(section, style="bold"), "")
        for key, what in keys:
            table.add_row(key, what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding(
            "escape,q,question_mark", "close", "Close", id="help.close", tooltip="Close the help"
        )
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(keys_table())
            yield Static(TERMINAL_NOTE, id="help-terminal", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
