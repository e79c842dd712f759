"""Asked before leaving when something would be left behind: conversations the operator holds
(customers waiting on them) and unsent drafts (kept on this machine either way)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from ..i18n import N_, _, ngettext


class QuitScreen(ModalScreen[str]):
    """Answers 'release' (release my claims, then quit), 'keep' (quit, claims stay) or 'stay'."""

    BINDINGS = [
        Binding(
            "r",
            "answer('release')",
            N_("Release and quit"),
            id="quit.release",
            tooltip=N_("Give your conversations back to the queue, then quit"),
        ),
        Binding(
            "k",
            "answer('keep')",
            N_("Keep and quit"),
            id="quit.keep",
            tooltip=N_("Quit; your claims stay until their leases run out"),
        ),
        Binding(
            "q,enter",
            "confirm",
            N_("Quit"),
            id="quit.confirm",
            tooltip=N_("Quit (when you hold no conversations)"),
        ),
        Binding("escape", "answer('stay')", N_("Stay"), id="quit.stay", tooltip=N_("Do not quit")),
    ]

    def __init__(self, held: int, drafts: int) -> None:
        super().__init__()
        self.held = held
        self.drafts = drafts

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt", id="quit"):
            yield Label(_("Quit shiftdesk?"), classes="prompt-title")
            if self.held:
                yield Label(
                    ngettext(
                        "You hold {count} conversation: r releases it to the queue, "
                        "k keeps it until the lease runs out.",
                        "You hold {count} conversations: r releases them to the queue, "
                        "k keeps them until the lease runs out.",
                        self.held,
                    ).format(count=self.held),
                    classes="prompt-line",
                )
            if self.drafts:
                yield Label(
                    ngettext(
                        "{count} unsent draft is kept on this machine for when you come back.",
                        "{count} unsent drafts are kept on this machine for when you come back.",
                        self.drafts,
                    ).format(count=self.drafts),
                    classes="prompt-line",
                )
            hint = _("r release and quit · k keep and quit") if self.held else _("q quit")
            yield Label(
                hint + " · " + _("esc stay · ctrl+c again: quit now"), classes="prompt-hint"
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "answer" and parameters and parameters[0] == "release":
            return self.held > 0
        if action == "confirm":
            return self.held == 0
        return True

    def action_confirm(self) -> None:
        self.dismiss("keep")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)
