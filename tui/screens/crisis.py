"""Crisis tools in the console: the grouped view (x) and a lead's holding statement (C).

The backend groups the complaints, personalises each statement and runs the tone and
privacy checks; these screens only show what it answers and send what the lead confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker

from ..client import BackendError
from ..context import console_of
from ..failures import report_worker_failure
from ..i18n import N_, _, ngettext
from ..literal import literal, one_line
from .prompts import ChoicePrompt

EXAMPLE_WIDTH = 68  # fits the 76-column dialog at 80x24


def group_option(group: dict[str, Any]) -> Text:
    """One group as two lines: how many and about what, then an example complaint (literal)."""
    size = group.get("size", len(group.get("ids", [])))
    text = Text(f"{size:>4} × ", style="bold")
    text.append(one_line(str(group.get("topic") or _("(no common topic)"))), style="bold")
    text.append(
        "\n       “" + one_line(str(group.get("example") or ""), EXAMPLE_WIDTH - 9) + "”",
        style="dim",
    )
    return text


@dataclass
class GroupsLoaded(Message):
    groups: list[dict[str, Any]]


class CrisisGroupsScreen(ModalScreen[list[int] | None]):
    """GET /api/crisis/groups, biggest first; enter answers the chosen group's conversation ids."""

    BINDINGS = [
        Binding("escape,x", "close", N_("Back"), id="groups.close", tooltip=N_("Back to the queue"))
    ]

    def __init__(self, purpose: str = N_("select its conversations in the queue")) -> None:
        super().__init__()
        self.purpose = _(purpose)
        self.groups: list[dict[str, Any]] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="groups"):
            yield Static(
                _("CRISIS GROUPS · near-identical complaints waiting on us"), id="groups-title"
            )
            yield Static(_("loading…"), id="groups-status")
            yield OptionList(id="groups-list", markup=False)
            yield Label(
                _("enter: {purpose} · esc: back").format(purpose=self.purpose),
                classes="prompt-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        client = console_of(self).client
        self.post_message(GroupsLoaded(await client.crisis_groups()))

    def on_groups_loaded(self, message: GroupsLoaded) -> None:
        self.groups = message.groups
        total = sum(g.get("size", 0) for g in self.groups)
        status = (
            ngettext("{count} group", "{count} groups", len(self.groups)).format(
                count=len(self.groups)
            )
            + ", "
            + ngettext("{count} conversation", "{count} conversations", total).format(count=total)
            if self.groups
            else _("Nothing waiting on us to group.")
        )
        self.query_one("#groups-status", Static).update(status)
        options = self.query_one("#groups-list", OptionList)
        options.clear_options()
        options.add_options([Option(group_option(g), id=str(i)) for i, g in enumerate(self.groups)])
        if self.groups:
            options.highlighted = 0  # enter picks the biggest group straight away
        options.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        if self.groups is not None and event.option.id is not None:
            self.dismiss(list(self.groups[int(event.option.id)]["ids"]))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state.name == "ERROR" and isinstance(event.worker.error, BackendError):
            self.query_one("#groups-status", Static).update(
                _("Could not load the groups: {error}").format(error=event.worker.error.message)
            )
        report_worker_failure(self, event)

    def action_close(self) -> None:
        self.dismiss(None)


def _finding_lines(findings: list[dict[str, Any]]) -> list[Text]:
    return [
        Text(
            "      · "
            + literal(f"{f.get('check', '')}: {f.get('message', '')}")
            + (f" ({literal(str(f['suggestion']))})" if f.get("suggestion") else ""),
            style="dim",
        )
        for f in findings
    ]


def outcome_of(result: dict[str, Any]) -> str:
    """ready/sent, advised (goes out once the lead confirms) or skipped, for one conversation's result."""
    if result.get("ok"):
        return "ok"
    return "advised" if result.get("needs_confirmation") else "skipped"


def holding_summary(results: list[dict[str, Any]], sent: bool) -> str:
    """The counts a lead reads first: how many go out, how many need a look, how many are skipped."""
    counts = {"ok": 0, "advised": 0, "skipped": 0}
    for r in results:
        counts[outcome_of(r)] += 1
    if sent:
        return _("Sent {sent}, skipped {skipped}.").format(
            sent=counts["ok"], skipped=counts["skipped"] + counts["advised"]
        )
    return _(
        "Preview: {ready} ready, {advised} with advisories (sent when you confirm), "
        "{skipped} skipped."
    ).format(ready=counts["ok"], advised=counts["advised"], skipped=counts["skipped"])


def holding_results_text(results: list[dict[str, Any]], sent: bool) -> Group:
    """Each conversation's personalised text and what the backend said about it, all literal."""
    lines: list[Text] = []
    for r in results:
        outcome = outcome_of(r)
        if outcome == "ok":
            word = _("sent") if sent else _("ready")
            head = Text(f"#{r['id']}  {word}", style="bold green")
        elif outcome == "advised" and not sent:
            head = Text(
                f"#{r['id']}  " + _("check:") + " " + literal(str(r.get("error", ""))),
                style="bold yellow",
            )
        else:
            head = Text(
                f"#{r['id']}  " + _("skipped:") + " " + literal(str(r.get("error", ""))),
                style="bold red",
            )
        lines.append(head)
        if r.get("text"):
            lines.append(Text("    " + literal(str(r["text"]))))
        lines.extend(_finding_lines(r.get("findings") or r.get("advisories") or []))
    return Group(*lines)


@dataclass
class HoldingAnswered(Message):
    template: tuple[str, str]  # the statement, and its German text ("" for none)
    answer: dict[str, Any]
    sent: bool


class HoldingStatementScreen(ModalScreen[dict[str, Any] | None]):
    """Write a template, enter previews it per conversation, ctrl+s sends what the preview showed.

    Sending confirms the advisories the preview listed, so ctrl+s only runs for the template
    that was previewed; editing it greys ctrl+s out until the next preview.
    """

    BINDINGS = [
        Binding(
            "ctrl+s",
            "send",
            N_("Send"),
            priority=True,
            id="holding.send",
            tooltip=N_(
                "Send the previewed statement to each conversation (confirms its advisories)"
            ),
        ),
        Binding("escape", "close", N_("Back"), id="holding.close", tooltip=N_("Back to the queue")),
    ]

    stage: reactive[str] = reactive("write")  # write → previewed → sent

    def __init__(self, conversation_ids: list[int]) -> None:
        super().__init__()
        self.conversation_ids = list(conversation_ids)
        self.previewed: tuple[str, str] | None = None
        self.results: list[dict[str, Any]] = []
        self.answer: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="holding"):
            n = len(self.conversation_ids)
            yield Static(
                _("HOLDING STATEMENT")
                + " · "
                + ngettext("{count} conversation", "{count} conversations", n).format(count=n),
                id="holding-title",
            )
            yield Input(
                placeholder=_("Hi {name}, we know about the problem with {topic} and are on it."),
                id="holding-template",
            )
            yield Input(
                placeholder=_(
                    "German (optional): Hallo {name}, wir wissen vom Problem mit {topic}."
                ),
                id="holding-template-de",
            )
            yield Static(
                _("{name}: their first name · {topic}: what they wrote about"),
                id="holding-status",
            )
            with VerticalScroll(id="holding-results"):
                yield Static("", id="holding-body")
            yield Label(
                _("enter: preview · ctrl+s: send the preview · esc: back"), classes="prompt-hint"
            )

    @property
    def template(self) -> tuple[str, str]:
        """The statement, and its German text for conversations in German ("" for none)."""
        return (
            self.query_one("#holding-template", Input).value,
            self.query_one("#holding-template-de", Input).value,
        )

    def watch_stage(self, stage: str) -> None:
        for name in ("write", "previewed", "sent"):
            self.set_class(stage == name, f"-{name}")
        self.refresh_bindings()

    def _status(self, text: str, refused: bool = False) -> None:
        self.query_one("#holding-status", Static).update(text)
        self.set_class(refused, "-refused")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send":
            sendable = any(outcome_of(r) != "skipped" for r in self.results)
            ready = self.stage == "previewed" and self.previewed == self.template and sendable
            return True if ready else None
        return True

    @on(Input.Changed, "#holding-template")
    @on(Input.Changed, "#holding-template-de")
    def edited(self) -> None:
        if self.stage == "previewed" and self.template != self.previewed:
            self.stage = "write"
            self._status(_("The template changed: enter to preview again."))

    @on(Input.Submitted, "#holding-template")
    @on(Input.Submitted, "#holding-template-de")
    def preview(self) -> None:
        if self.stage != "sent" and self.template[0].strip():
            self._status(_("checking…"))
            self.call_backend(self.template, send=False)

    @work(exclusive=True, group="holding-confirm", exit_on_error=False)
    async def action_send(self) -> None:
        if self.check_action("send", ()) is not True or self.previewed is None:
            return
        going = sum(1 for r in self.results if outcome_of(r) in ("ok", "advised"))
        # Hundreds of customers hear this at once: the lead says yes to the number.
        chosen = await self.app.push_screen_wait(
            ChoicePrompt(
                ngettext(
                    "Send this holding statement to {n} customer?",
                    "Send this holding statement to {n} customers?",
                    going,
                ).format(n=going),
                [("send", _("Yes: send to {n}, as previewed").format(n=going))],
            )
        )
        if chosen != "send":
            self._status(_("Not sent."))
            return
        self._status(_("sending…"))
        self.call_backend(self.previewed, send=True)

    @work(exclusive=True, group="holding", exit_on_error=False)
    async def call_backend(self, template: tuple[str, str], send: bool) -> None:
        client = console_of(self).client
        try:
            answer = await client.holding_statement(
                template[0],
                self.conversation_ids,
                preview=not send,
                confirm=send,
                templates={"de": template[1]} if template[1].strip() else None,
            )
        except BackendError as exc:
            self._status(exc.message, refused=True)
            return
        self.post_message(HoldingAnswered(template, answer, send))

    def on_holding_answered(self, message: HoldingAnswered) -> None:
        self.results = list(message.answer.get("results") or [])
        self.query_one("#holding-body", Static).update(
            holding_results_text(self.results, message.sent)
        )
        self._status(holding_summary(self.results, message.sent))
        if message.sent:
            self.answer = message.answer
            self.query_one("#holding-template", Input).disabled = True
            self.query_one("#holding-template-de", Input).disabled = True
            self.stage = "sent"
        else:
            self.previewed = message.template
            self.stage = "previewed"
            self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    def action_close(self) -> None:
        self.dismiss(self.answer)
