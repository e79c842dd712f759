"""The footer: the keys that work here and now, the most important first, as many as fit.

Textual's Footer gives every shown binding a column, so at 80 columns the last ones are cut
off wherever they happen to fall. This one is built from the same active bindings (so a
remapped key shows its new key) but orders them by what an operator needs most, leaves out
the ones that cannot run now, and always keeps room for the help key.
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Input, Static, TextArea

from ..i18n import _

# Binding ids, most important first; unlisted shown bindings follow in declaration order.
ORDER = [
    "composer.send",
    "composer.saved_reply",
    "composer.leave",
    "conv.reply",
    "conv.dm",
    "conv.resolve",
    "conv.claim",
    "queue.open",
    "conv.next",
    "conv.release",
    "conv.note",
    "conv.dismiss",
    "queue.filter",
    "queue.select",
    "app.back",
    "quit.release",
    "quit.keep",
    "quit.stay",
]
HELP_ID = "app.help"


_NAMED_KEYS = {
    "escape",
    "enter",
    "tab",
    "backspace",
    "delete",
    "insert",
    "home",
    "end",
    "pageup",
    "pagedown",
    "up",
    "down",
    "left",
    "right",
    *(f"f{n}" for n in range(1, 25)),
}


def _types_text(key: str) -> bool:
    """A key that puts a character in a text box (r, R, ?, /, space) rather than a ctrl+ or
    named key: in the composer it types, so the footer must not offer it as a command."""
    return "+" not in key and key not in _NAMED_KEYS


class KeyBar(Static):
    """One line of `key label` pairs for the screen it sits on."""

    COMPONENT_CLASSES = {"key-bar--key"}
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; color: $text; }
    KeyBar > .key-bar--key { background: $primary; color: $text; text-style: bold; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _: self.refresh())

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Binding ids the screen wants first for what is on it now (e.g. a flagged post's keys).
        self.first: tuple[str, ...] = ()

    def put_first(self, *binding_ids: str) -> None:
        if binding_ids != self.first:
            self.first = binding_ids
            self.refresh()

    def _typing(self) -> bool:
        """Keyboard focus is in a text box: single characters type, they are not commands."""
        return isinstance(self.screen.focused, (TextArea, Input))

    def shown(self) -> list[tuple[str, Binding]]:
        """(key, binding) to show, most important first; the key is the one in force (a keymap
        may have changed it). The help key is left for the end."""
        seen: set[str] = set()
        found: list[tuple[str, Binding]] = []
        typing = self._typing()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.show or not active.enabled or binding.action in seen:
                continue
            if binding.id == HELP_ID or (typing and _types_text(key)):
                continue
            seen.add(binding.action)
            found.append((key, binding))
        rank: dict[str, int] = {}
        for i, name in enumerate([*self.first, *ORDER]):
            rank.setdefault(name, i)  # the screen's choice wins over the usual order
        return sorted(found, key=lambda kb: rank.get(kb[1].id or "", len(ORDER)))

    def help_key(self) -> tuple[str, Binding] | None:
        for key, active in self.screen.active_bindings.items():
            if active.binding.id == HELP_ID and not (self._typing() and _types_text(key)):
                return key, active.binding
        return None

    def _display(self, key: str, binding: Binding) -> str:
        return self.app.get_key_display(replace(binding, key=key))

    def render(self) -> Text:
        width = self.size.width
        key_style = self.get_component_rich_style("key-bar--key")
        tail = Text()
        help_key = self.help_key()
        if help_key is not None:
            tail.append(f" {self._display(*help_key)} ", key_style)
            tail.append(" " + _("more") + " ")
        line = Text()
        for key, binding in self.shown():
            piece = Text()
            piece.append(f" {self._display(key, binding)} ", key_style)
            piece.append(f" {_(binding.description)} ")  # marked with N_ where declared
            if line.cell_len + piece.cell_len + tail.cell_len > width:
                break
            line.append_text(piece)
        line.append_text(tail)
        return line
