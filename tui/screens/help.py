"""The ? screen: every key, built from the bindings themselves (so it shows remapped keys and can
never disagree with them), then what the queue's columns and marks mean."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..i18n import N_, _
from ..widgets.queue_list import PLATFORM_MARK, STATE_MARK, STATE_WORD, WAITS, YOURS

TERMINAL_NOTE = N_(
    "ctrl+s is safe: the console puts the terminal in raw mode, which switches off "
    "XON/XOFF flow control (IXON), so ctrl+s reaches shiftdesk instead of freezing the "
    "screen. No key uses ctrl+b or ctrl+a, the tmux and screen prefixes."
)

# What the parts of a queue row mean, left to right (the marks come from the queue's own tables).
COLUMNS = [
    ("▌", N_("selected for a bulk action (space)")),
    ("P1…P4", N_("priority, P1 most urgent (why: in the thread's title)")),
    (
        "04:59",
        N_(
            "time left on the SLA clock; red and -00:12 once breached (it counts up), "
            "yellow when due soon"
        ),
    ),
    (WAITS, N_("in place of the time: waiting on the customer, our clock is paused")),
    ("M B S", N_("platform: {platforms}")),
    (N_("mark"), N_("the conversation's state (below); ✎ another operator is typing there")),
    ("@handle", N_("the customer")),
    (
        N_("holder"),
        N_("who holds it, when the queue is wide enough; '{yours}' when you do (they stand out)"),
    ),
    (N_("text"), N_("the latest message, without the @mentions it starts with")),
]
# Where the legend says more than the one word the thread's title uses.
MARK_MEANING = {"awaiting_customer": N_("waiting on the customer: we answered, it is their turn")}
PLATFORMS = ", ".join(f"{m} {name}" for name, m in PLATFORM_MARK.items())

Section = tuple[str, Sequence[BindingType]]


def keys_of(binding: Binding, keymap: dict[str, str], display: Callable[[Binding], str]) -> str:
    """The binding's keys as typed, the keymap's if it remaps them."""
    keys = keymap.get(binding.id or "", binding.key) if binding.id else binding.key
    return ", ".join(display(replace(binding, key=k.strip())) for k in keys.split(","))


def keys_table(
    sections: Sequence[Section], keymap: dict[str, str], display: Callable[[Binding], str]
) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for title, bindings in sections:
        table.add_row(Text(title, style="bold"), "")  # translated by the screen that made it
        seen: set[str] = set()
        for b in bindings:
            if not isinstance(b, Binding) or b.action in seen:
                continue
            seen.add(b.action)
            table.add_row(keys_of(b, keymap, display), _(b.tooltip or b.description))
    return table


def legend() -> Group:
    table = Table(show_header=False, box=None, padding=(0, 1), expand=True)
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    table.add_row(Text(_("Queue rows"), style="bold"), "")
    for what, meaning in COLUMNS:
        table.add_row(_(what), _(meaning).format(platforms=PLATFORMS, yours=_(YOURS)))
    table.add_row(Text(_("Marks"), style="bold"), "")
    for state, mark in STATE_MARK.items():
        meaning = MARK_MEANING.get(state) or STATE_WORD.get(state, state)
        table.add_row(mark if mark.strip() else _("(blank)"), _(meaning))
    return Group(table)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding(
            "escape,q,question_mark",
            "close",
            N_("Close"),
            id="help.close",
            tooltip=N_("Close the help"),
        ),
        Binding("j", "scroll('down')", N_("Down"), show=False, id="help.down"),
        Binding("k", "scroll('up')", N_("Up"), show=False, id="help.up"),
    ]

    def __init__(self, sections: Sequence[Section], keymap: dict[str, str]) -> None:
        super().__init__()
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(legend(), id="help-legend")
            yield Static(
                keys_table(self.sections, self.keymap, self.app.get_key_display), id="help-keys"
            )
            yield Static(_(TERMINAL_NOTE), id="help-terminal", markup=False)

    def on_mount(self) -> None:
        self.query_one("#help").focus()  # arrows, j/k and page keys scroll it at once

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#help", VerticalScroll)
        if direction == "down":
            scroll.scroll_down()
        else:
            scroll.scroll_up()

    def action_close(self) -> None:
        self.dismiss(None)
