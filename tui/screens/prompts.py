"""Small modal prompts: a line of text (note, tag, escalation reason) or one choice from a list."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from ..i18n import N_, _
from ..literal import one_line


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line; enter answers, esc backs out with None."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            N_("Back"),
            id="prompt.cancel",
            tooltip=N_("Close without doing anything"),
        )
    ]

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        value: str = "",
        *,
        id: str | None = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__(id=id)
        self.allow_empty = allow_empty  # enter on nothing answers "" (esc still backs out)
        self.title_text = title
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt"):
            yield Label(one_line(self.title_text), classes="prompt-title", markup=False)
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label(_("enter to confirm · esc to go back"), classes="prompt-hint")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(text if text or self.allow_empty else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoicePrompt(ModalScreen[str | None]):
    """Pick one of several (value, label) choices; enter picks, esc backs out with None."""

    BINDINGS = [
        Binding(
            "escape", "cancel", N_("Back"), id="choice.cancel", tooltip=N_("Close without choosing")
        )
    ]

    def __init__(
        self, title: str, choices: Sequence[tuple[str, str]], *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.choices = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt"):
            yield Label(one_line(self.title_text), classes="prompt-title", markup=False)
            yield OptionList(
                *[Option(one_line(label), id=value) for value, label in self.choices],
                id="choice-list",
                markup=False,
            )
            yield Label(_("enter to choose · esc to go back"), classes="prompt-hint")

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


SAVED_FILTERS = [
    ("needs_us", N_("needs us (default)")),
    ("mine", N_("mine")),
    ("unclaimed", N_("unclaimed")),
    ("breaching", N_("breaching")),
    ("p1", "P1"),
    ("in_dm", N_("in DM")),
    ("awaiting_customer", N_("awaiting the customer")),
    ("escalated", N_("escalated to a lead")),
    ("open", N_("everything open")),
]


class FilterPrompt(ModalScreen[tuple[str, str] | None]):
    """Search text and a saved filter together: enter in the search box keeps the filter, picking a
    saved filter keeps the search. Answers (filter, search)."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            N_("Back"),
            id="filter.cancel",
            tooltip=N_("Keep the current filter"),
        )
    ]

    def __init__(self, current_filter: str, current_search: str) -> None:
        super().__init__()
        self.current_filter = current_filter
        self.current_search = current_search

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt"):
            yield Label(_("Filter and search the queue"), classes="prompt-title")
            yield Input(
                value=self.current_search,
                placeholder=_("search author or text, enter to apply"),
                id="filter-search",
            )
            yield OptionList(
                *[
                    Option(("● " if v == self.current_filter else "  ") + _(label), id=v)
                    for v, label in SAVED_FILTERS
                ],
                id="filter-list",
            )
            yield Label(
                _("tab to the saved filters · enter to apply · esc to go back"),
                classes="prompt-hint",
            )

    @on(Input.Submitted)
    def searched(self, event: Input.Submitted) -> None:
        self.dismiss((self.current_filter, event.value.strip()))

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        search = self.query_one("#filter-search", Input).value.strip()
        self.dismiss((event.option.id or "needs_us", search))

    def action_cancel(self) -> None:
        self.dismiss(None)
