"""The shiftdesk operator console."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from .client import BackendClient, BackendError, Presence, StreamStatus
from .drafts import DraftStore, default_path
from .failures import report_worker_failure
from .i18n import N_, _, available_languages, choose_language, use_language
from .keymap import KeymapError, Scopes, check_keymap
from .literal import one_line
from .messages import BackendEvent, ConnectionChanged, PresenceChanged
from .screens.prompts import SAVED_FILTERS
from .screens.queue import QueueScreen
from .screens.quit import QuitScreen
from .widgets.composer import Composer
from .widgets.queue_list import QueueList
from .widgets.thread_view import ThreadView


class ShiftdeskApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "shiftdesk"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding(
            "ctrl+q",
            "quit",
            N_("Quit"),
            priority=True,
            show=False,
            id="app.quit",
            tooltip=N_("Quit shiftdesk (asks first if you hold conversations or have drafts)"),
        ),
        # Operators reach for ctrl+c to get out; in a terminal app it must quit, not copy.
        Binding(
            "ctrl+c",
            "quit",
            N_("Quit"),
            priority=True,
            show=False,
            id="app.quit_ctrl_c",
            tooltip=N_("Quit; pressed again while asked, quits at once"),
        ),
        Binding(
            "ctrl+p",
            "command_palette",
            N_("Commands"),
            priority=True,
            show=False,
            id="app.palette_ctrl_p",
            tooltip=N_("Every action by name"),
        ),
        # ':' as in k9s; not a priority binding, so it types a colon in the composer.
        Binding(
            "colon",
            "command_palette",
            N_("Commands"),
            show=False,
            id="app.palette",
            tooltip=N_("Every action by name"),
        ),
    ]

    def __init__(
        self,
        client: BackendClient,
        *,
        now: Callable[[], datetime] | None = None,
        drafts: DraftStore | None = None,
        keymap: Mapping[str, str] | None = None,
        language: str | None = "en",
    ) -> None:
        super().__init__()
        # The operator's language, chosen before anything is drawn (the bindings' descriptions
        # are translated where shown). None: the operator's profile, else the locale, else English.
        self.language_asked = language
        self._startup_error = ""
        try:
            use_language(choose_language(language), chosen_by_operator=language is not None)
        except ValueError as exc:
            self._startup_error = str(exc)
        self.client = client
        self.now = now or (lambda: datetime.now(UTC))
        self.drafts = drafts if drafts is not None else DraftStore(default_path())
        self.me: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.last_event_id = 0
        self.keymap: dict[str, str] = {}
        self.exit_reason = ""  # the one line printed when the console cannot start
        try:
            self.keymap = check_keymap(keymap or {}, self.binding_scopes())
        except KeymapError as exc:
            self._startup_error = self._startup_error or str(exc)

    @classmethod
    def binding_scopes(cls) -> Scopes:
        """The bindings live together (the focused widget's, its screen's, the app's), by place:
        what a keymap is checked against (tui/keymap.py)."""
        from .screens.crisis import CrisisGroupsScreen, HoldingStatementScreen
        from .screens.handover import HandoverScreen, LatestHandoverScreen
        from .screens.help import HelpScreen
        from .screens.prompts import ChoicePrompt, FilterPrompt, TextPrompt

        def of(*owners: Any) -> list[Binding]:
            return [b for owner in (cls, *owners) for b in owner.BINDINGS if isinstance(b, Binding)]

        return {
            "queue": of(QueueScreen, QueueList),
            "thread": of(QueueScreen, ThreadView),
            "composer": of(QueueScreen, Composer),
            "help": of(HelpScreen),
            "handover": of(HandoverScreen),
            "sign-in handover": of(LatestHandoverScreen),
            "crisis groups": of(CrisisGroupsScreen),
            "holding statement": of(HoldingStatementScreen),
            "text prompt": of(TextPrompt),
            "choice list": of(ChoicePrompt),
            "filter prompt": of(FilterPrompt),
            "quit question": of(QuitScreen),
        }

    def fail(self, reason: str) -> None:
        """Leave with exit status 1 and the reason on one line (never markup, never escapes)."""
        self.exit_reason = "shiftdesk: " + one_line(reason)
        # no_wrap: one line even where the terminal is narrower (a script may read it).
        self.exit(return_code=1, message=Text(self.exit_reason, no_wrap=True, overflow="ignore"))

    async def on_mount(self) -> None:
        if self._startup_error:
            self.fail(self._startup_error)
            return
        if self.keymap:
            self.set_keymap(self.keymap)
        try:
            self.me = await self.client.me()
            self.summary = await self.client.summary()
        except BackendError as exc:
            self.fail(exc.message)
            return
        self.drafts.use(self.client.base_url, self.me.get("id", 0))
        kept = self.me.get("language")
        if self.language_asked is None and kept in available_languages():
            use_language(kept)  # the operator's profile setting wins over the terminal's locale
        self.last_event_id = self.summary.get("last_event_id", 0)
        self.sub_title = one_line(self.me.get("display_name", ""))
        await self.push_screen(QueueScreen())
        self.listen()
        self.start_shift()

    @work(exclusive=True, group="shift", exit_on_error=False)
    async def start_shift(self) -> None:
        """Signing in starts the shift; the last shift's handover is shown until dismissed."""
        from .screens.handover import LatestHandoverScreen

        try:
            answer = await self.client.shift_start()
        except BackendError:
            return  # an older backend without shifts: the console works without them
        if answer.get("latest_handover") and not answer.get("shift", {}).get("resumed"):
            await self.push_screen(LatestHandoverScreen(answer["latest_handover"]))

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def listen(self) -> None:
        """The one long-running worker: live events from the backend, resumed after drops."""
        async for item in self.client.stream(self.last_event_id):
            target = self._queue_screen()
            if isinstance(item, StreamStatus):
                if target is not None:
                    target.post_message(ConnectionChanged(item.connected, item.detail))
                continue
            if isinstance(item, Presence):
                if target is not None:
                    target.post_message(
                        PresenceChanged(
                            item.operator_id, item.operator_name, item.conversation_id, item.typing
                        )
                    )
                continue
            self.last_event_id = item["id"]
            if target is not None:
                target.post_message(BackendEvent(item))

    def _queue_screen(self) -> QueueScreen | None:
        # Events go to the working screen even while a prompt or the help is on top of it.
        for screen in reversed(self.screen_stack):
            if isinstance(screen, QueueScreen):
                return screen
        return None

    # -- leaving -------------------------------------------------------------------------

    async def action_quit(self) -> None:
        if isinstance(self.screen, QuitScreen):
            self.exit()  # asked already and pressed again: the operator needs out now
            return
        self.request_quit()

    @work(exclusive=True, group="quit", exit_on_error=False)
    async def request_quit(self) -> None:
        """Quit; first ask if customers wait on this operator's claims or drafts are unsent."""
        queue = self._queue_screen()
        if queue is not None:
            queue.composer.save_draft()
        held = await self._held_claims()
        drafts = len(self.drafts.conversations()) if self.me else 0
        if held or drafts:
            answer = await self.push_screen_wait(QuitScreen(len(held), drafts))
            if answer == "stay":
                return
            keep = answer != "release"
        else:
            keep = False
        try:
            await self.client.sign_out(keep_claims=keep)
        except BackendError:
            pass  # leaving anyway: the leases run out and the reaper frees them
        self.exit()

    async def _held_claims(self) -> list[int]:
        if not self.me:
            return []
        try:
            page = await self.client.queue(filter="mine", limit=500)
        except BackendError:
            return []  # cannot ask: the leases run out by themselves
        me = self.me.get("id")
        return [r["id"] for r in page.get("rows", []) if (r.get("holder") or {}).get("id") == me]

    # -- the palette -----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists every key's action by name, plus the saved filters."""
        yield from super().get_system_commands(screen)
        queue = self._queue_screen()
        if queue is None or screen is not queue:
            return
        for binding in [*queue.BINDINGS, *Composer.BINDINGS]:
            assert isinstance(binding, Binding)
            action = binding.action
            if action in ("quit", "send", "leave") or action.startswith("focus_pane"):
                continue
            if action.startswith("screen."):
                action = action.removeprefix("screen.")
            if queue.check_action(action.split("(")[0], ()) is not True:
                continue
            key = self.keymap.get(binding.id or "", binding.key_display or binding.key)
            yield SystemCommand(
                f"{_(binding.description)} ({key.split(',')[0]})",
                _(binding.tooltip or binding.description),
                lambda action=action: self.run_action(action, queue),
            )
        for name, label in SAVED_FILTERS:
            yield SystemCommand(
                _("Filter: {label}").format(label=_(label)),
                _("Show the '{label}' queue").format(label=_(label)),
                lambda name=name: queue.apply_filter(name),
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    async def on_unmount(self) -> None:
        await self.client.close()
