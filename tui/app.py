"""The docsight Textual app: screens, bindings, background workers, and the one place where
a failed worker becomes a notification.

The UI shows at once; the index opens, the watcher starts and the model loads in thread
workers. Workers never touch widgets: they post messages (tui/messages.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

from engine import FileIndexed, FileState, OwnerChanged, SyncFinished, TUISettings
from tui import messages as m
from tui.keys import APP_BINDINGS, binding_ids, help_sections, palette_commands
from tui.messages import one_line, poster
from tui.screens.conversations import ConversationsScreen
from tui.screens.folder import FolderScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.session.backend import Backend
from tui.session.index_events import SyncClock, file_changes, next_state
from tui.ui_state import UIStateFile
from tui.widgets.source_view import highlight

log = logging.getLogger(__name__)

ANSI_THEMES = {True: "ansi-dark", False: "ansi-light"}  # the terminal's own 16 colours
OPEN_TIMEOUT_S = 600.0  # how long a question waits for the index to open
WAIT_STEP_S = 0.2  # how often a waiting question checks whether it was stopped


class DocsightApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "docsight"
    BINDINGS = APP_BINDINGS
    index_state: reactive[m.IndexState] = reactive(m.IndexState())

    def __init__(
        self, backend: Backend, tui: TUISettings | None = None, data_dir: Path | None = None
    ) -> None:
        super().__init__()
        self.backend = backend
        self.tui_settings = tui or TUISettings()
        self.ui_state = UIStateFile(data_dir)  # theme and questions of earlier runs
        self._theme_shown = ""
        self.file_states: dict[str, FileState] = {}
        self.live = False
        self._clock = SyncClock()
        self._cancel: threading.Event | None = None
        self._quitting = False
        self.index_ready = threading.Event()  # set once the index opened, or failed to
        self.first_index = threading.Event()  # set once something is indexed, or cannot be
        self.set_reactive(DocsightApp.index_state, m.IndexState(folder=backend.folder.name))

    def get_default_screen(self) -> Screen[Any]:
        return MainScreen()

    def on_mount(self) -> None:
        self._apply_theme(self._starting_theme())
        self._theme_shown = self.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap(dict(self.tui_settings.keys))
        self.open_index()

    def _apply_theme(self, name: str) -> None:
        if name not in self.available_themes:
            self.notify(f"unknown theme {name!r} (tui.theme)", title="Settings", severity="warning")
            name = "textual-dark"
        if self.sixteen_colours() and name.startswith("textual-"):
            name = ANSI_THEMES[name != "textual-light"]  # 16 colours: the terminal's palette
        self.theme = name

    def _starting_theme(self) -> str:
        """The theme picked in the app last time, else the config's."""
        saved = self.ui_state.state.theme
        if saved is not None and saved not in self.available_themes:
            log.warning("the saved theme %r no longer exists: using tui.theme", saved)
            saved = None
        return saved or self.tui_settings.theme

    def _theme_changed(self, theme: Theme) -> None:
        """A theme picked in the app (not the one it started with) is kept for next time."""
        if theme.name != self._theme_shown:
            self._theme_shown = theme.name
            self.ui_state.remember_theme(theme.name)

    def sixteen_colours(self) -> bool:
        """A terminal of 16 colours (TERM=xterm): Textual's themes would come out in the
        nearest of them, so the ANSI themes stand in. Never in tests, whose TERM varies."""
        return self.console.color_system in ("standard", "windows") and not self.is_headless

    def _apply_keymap(self, keymap: dict[str, str]) -> None:
        unknown = sorted(set(keymap) - binding_ids())
        if unknown:
            names = ", ".join(unknown)
            self.notify(
                f"no such action in [tui.keys]: {names}", title="Settings", severity="warning"
            )
        self.set_keymap({name: key for name, key in keymap.items() if name not in unknown})

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Notifications carry file names and error text: never parsed as markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # actions ------------------------------------------------------------------------------
    async def action_new_chat(self) -> None:
        await self.switch_to_main().new_chat()

    def action_files(self) -> None:
        if not isinstance(self.screen, FolderScreen):
            self.push_screen(FolderScreen())

    def action_failures(self) -> None:
        """The folder browser showing only the files that could not be indexed."""
        if isinstance(self.screen, FolderScreen):
            self.screen.show_failed_only()
        else:
            self.push_screen(FolderScreen(failed_only=True))

    def action_conversations(self) -> None:
        if not isinstance(self.screen, ConversationsScreen):
            self.push_screen(ConversationsScreen(), self._resume)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_sections(), dict(self.tui_settings.keys)))

    def action_sync(self) -> None:
        busy = self.index_state.phase == "syncing"
        note = "A sync is running; a full sync follows it." if busy else "Syncing the folder..."
        self.notify(note, title="Sync")
        self.sync_now()

    async def action_quit(self) -> None:
        """Stop the work first, with the screen still up: an answer stops at once, a sync
        after the batch in flight (what it committed stays), the watcher and the owner
        socket close; then the app exits. A second ctrl+q meanwhile changes nothing."""
        if self._quitting:
            return
        self._quitting = True
        self._stop_questions()
        syncing = self.index_state.phase == "syncing"
        note = "stopping... (the sync ends after the batch in flight)" if syncing else "stopping..."
        self.notify(note, title="Quitting")
        self.close_backend()

    def _resume(self, conversation_id: str | None) -> None:
        if conversation_id:
            self.load_conversation(self.switch_to_main(), conversation_id)

    def switch_to_main(self) -> MainScreen:
        while not isinstance(self.screen, MainScreen):
            self.pop_screen()
        return self.screen

    def stop_answer(self) -> bool:
        """Esc: stop a generation in flight; False when none is running."""
        if self._cancel is None or self._cancel.is_set():
            return False
        self._cancel.set()
        return True

    def _stop_questions(self) -> None:
        """Stop the answer in flight, and a question still waiting for the index: its
        thread would hold the process's exit for as long as it waits."""
        self.stop_answer()
        self.index_ready.set()
        self.first_index.set()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from palette_commands(self, screen)

    # workers ------------------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, name="Opening the index")
    def open_index(self) -> None:
        self.post_message(m.EngineOpened(self.backend.open()))

    @work(thread=True, exit_on_error=False, name="Watching the folder")
    def watch_folder(self) -> None:
        live, reason = self.backend.watch(poster(self, m.IndexEvent))
        self.post_message(m.WatchStarted(live, reason))

    @work(thread=True, exit_on_error=False, name="Syncing", group="sync", exclusive=True)
    def sync_now(self) -> None:
        self.backend.sync(poster(self, m.IndexEvent))

    @work(thread=True, exit_on_error=False, name="Starting the model")
    def start_model(self) -> None:
        self.backend.start_model(poster(self, m.ModelState))

    @work(
        thread=True, exit_on_error=False, name="Reading the folder", group="files", exclusive=True
    )
    def load_files(self) -> None:
        self.post_message(m.FilesLoaded(self.backend.file_states()))
        self.post_message(m.StatusLoaded(self.backend.status()))

    @work(thread=True, exit_on_error=False, name="Answering", group="answer", exclusive=True)
    def ask(self, target: MessagePump, question: str, scope: list[str], chat: str | None) -> None:
        self._cancel = cancel = threading.Event()
        result = None
        try:
            if not self.index_ready.wait(OPEN_TIMEOUT_S) or cancel.is_set():
                return
            if not self._wait_for_first_index(target, cancel):
                return
            sources, tokens = poster(target, m.AnswerSources), poster(target, m.AnswerToken)
            quote = poster(target, m.AnswerQuote)
            result = self.backend.ask(question, scope, chat, sources, tokens, cancel, quote)
        finally:
            cancel.set()
            target.post_message(m.AnswerFinished(result))

    def _wait_for_first_index(self, target: MessagePump, cancel: threading.Event) -> bool:
        """A folder with nothing indexed yet waits for its first sync (a small folder takes
        seconds) rather than answer "nothing matches"; a folder with some of its files
        indexed is answered from those, and the answer says indexing is still running.
        False when the question was stopped meanwhile."""
        if self.first_index.is_set():
            return True
        target.post_message(m.AnswerNote("waiting for the first index of the folder..."))
        while not self.first_index.wait(WAIT_STEP_S):
            if cancel.is_set():
                return False
        return True

    @work(thread=True, exit_on_error=False, name="Opening the file", group="source", exclusive=True)
    def load_source(self, target: MessagePump, path: str) -> None:
        source = self.backend.read_source(path)
        target.post_message(m.SourceLoaded(source, highlight(source, self.current_theme.dark)))

    @work(thread=True, exit_on_error=False, name="Listing conversations", group="chats")
    def load_conversations(self, target: MessagePump) -> None:
        target.post_message(m.ConversationsLoaded(self.backend.conversations()))

    @work(thread=True, exit_on_error=False, name="Deleting the conversation", group="chats")
    def delete_conversation(self, target: MessagePump, conversation_id: str) -> None:
        self.backend.delete_conversation(conversation_id)
        target.post_message(m.ConversationsLoaded(self.backend.conversations()))

    @work(thread=True, exit_on_error=False, name="Opening the conversation", group="chats")
    def load_conversation(self, target: MessagePump, conversation_id: str) -> None:
        turns = self.backend.conversation(conversation_id)
        target.post_message(m.ConversationLoaded(conversation_id, turns))

    @work(thread=True, exit_on_error=False, name="Stopping", group="quit")
    def close_backend(self) -> None:
        try:
            self.backend.close()
        finally:
            self.call_from_thread(self.exit)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes a notification: title and one line."""
        if event.state != WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        log.error("%s failed", event.worker.name, exc_info=error)
        self.notify(one_line(error), title=f"{event.worker.name} failed", severity="error")
        if event.worker.name in ("Opening the index", "Watching the folder"):
            self.first_index.set()  # nothing more will come: questions must not wait
        if event.worker.name == "Opening the index":
            self.index_ready.set()
            self.index_state = self.index_state.but(phase="failed", error=one_line(error))

    # what the workers report --------------------------------------------------------------
    def on_engine_opened(self, message: m.EngineOpened) -> None:
        self.index_ready.set()
        if message.view.status.files or message.view.served_by:
            self.first_index.set()  # indexed before, or another docsight is indexing it
        self._show_status(message.view)
        self.index_state = self.index_state.but(phase="idle")
        self.watch_folder()
        self.start_model()
        self.load_files()

    def on_watch_started(self, message: m.WatchStarted) -> None:
        self.first_index.set()  # the first sweep is done (or could not run)
        self.live = message.live
        if self.index_state.phase != "syncing":
            self.index_state = self.index_state.but(phase="watching" if self.live else "idle")
        if message.reason:
            log.info("not watching: %s", message.reason)

    def on_index_event(self, message: m.IndexEvent) -> None:
        before = self.index_state
        if isinstance(message.event, (SyncFinished, FileIndexed)):
            self.first_index.set()  # something is searchable now
        self.index_state = next_state(before, message.event, self._clock, self.live)
        if self.index_state.degraded and not before.degraded:
            self.notify(self.index_state.degraded, title="Watcher degraded", severity="warning")
        for path, state in file_changes(message.event, self.file_states):
            if state is None:
                self.file_states.pop(path, None)
            else:
                self.file_states[path] = state
            for screen in self.screen_stack:
                if isinstance(screen, FolderScreen):
                    screen.apply(path, state)
        if isinstance(message.event, OwnerChanged) or (
            before.phase == "syncing" and self.index_state.phase != "syncing"
        ):
            self.load_files()  # after a sync, or a takeover: the states as they are now

    def on_files_loaded(self, message: m.FilesLoaded) -> None:
        self.file_states = message.states
        for screen in self.screen_stack:
            if isinstance(screen, FolderScreen):
                screen.reload()

    def on_status_loaded(self, message: m.StatusLoaded) -> None:
        self._show_status(message.view)

    def on_model_state(self, message: m.ModelState) -> None:
        was_down = self.index_state.model_ready is False
        self.index_state = self.index_state.but(model=message.text, model_ready=message.ready)
        if message.ready is False and not was_down:
            note = f"{message.text}. Questions still get the closest passages."
            self.notify(note, title="Model", severity="warning")

    def _show_status(self, view: m.IndexView) -> None:
        status = view.status
        self.index_state = self.index_state.but(
            files=status.files,
            chunks=status.chunks,
            embedding_model=status.embedding_model,
            served_by=view.served_by,
            failed=len(status.failed),
            last_sync=status.last_sync or self.index_state.last_sync,
        )

    async def on_unmount(self) -> None:
        self._stop_questions()
        self.backend.close()
