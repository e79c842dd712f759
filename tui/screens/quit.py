"""Asked before leaving when something would be left behind: conversations the operator holds
(customers waiting on them) and unsent drafts (kept on this machine either way)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class QuitScreen(ModalScreen[str]):
    """Answers 'release' (release my claims, then quit), 'keep' (quit, claims stay) or 'stay'."""

    BINDINGS = [
        Binding(
            "r",
            "answer('release')",
            "Release and quit",
            id="quit.release",
            tooltip="Give your conversations back to the queue, then quit",
        ),
        Binding(
            "k",
            "answer('keep')",
            "Keep and quit",
            id="quit.keep",
            tooltip="Quit; your claims stay until their leases run out",
        ),
        Binding(
            "q,enter",
            "confirm",
            "Quit",
            id="quit.confirm",
            tooltip="Quit (when you hold no conversations)",
        ),
        Binding("escape", "answer('stay')", "Stay", id="quit.stay", tooltip="Do not quit"),
    ]

    def __init__(self, held: int, drafts: int) -> None:
        super().__init__()
        self.held = held
        self.drafts = drafts

    def compose(self) -> ComposeResult:
        with Vertical(classes="prompt", id="quit"):
            yield Label("Quit shiftdesk?", classes="prompt-title")
            if self.held:
                them = "them" if self.held != 1 else "it"
                yield Label(
                    f"You hold {self.held} conversation{'s' if self.held != 1 else ''}: "
                    f"r releases {them} to the queue, k keeps {them} until the lease runs out.",
                    classes="prompt-line",
                )
            if self.drafts:
                yield Label(
                    f"{self.drafts} unsent draft{'s are' if self.drafts != 1 else ' is'} kept on "
                    "this machine for when you come back.",
                    classes="prompt-line",
                )
            hint = "r release and quit · k keep and quit" if self.held else "q quit"
            yield Label(f"{hint} · esc stay · ctrl+c again: quit now", classes="prompt-hint")

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
