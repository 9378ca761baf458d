"""App behaviour that needs no index or model: keys and the keymap, question history, asking
about a selection, conversations, the palette, the status line, the editor hand-over.
These run against the deterministic stand-in (tests/tui_standin.py), which speaks the same
protocol as the real backend; tests/test_tui.py covers the same app on the real engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Label

from engine import events as ev
from engine.config import TUISettings
from engine.events import SyncReport
from tests.tui_standin import MODEL_DOWN, PatientApp, StandInBackend
from tui.keys import binding_ids, help_sections
from tui.messages import IndexState, one_line
from tui.screens.conversations import ConversationsScreen
from tui.screens.folder import FolderScreen
from tui.screens.help import HelpScreen, key_rows
from tui.screens.main import MainScreen
from tui.screens.viewer import ViewerScreen, editor_command
from tui.session.index_events import SyncClock, next_state
from tui.widgets.chat import AnswerBlock
from tui.widgets.folder_tree import FolderTree
from tui.widgets.question import QuestionInput
from tui.widgets.source_view import SourceView
from tui.widgets.status_line import duration_text, index_text

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def until(pilot: Pilot[None], condition: Callable[[], object], what: str) -> None:
    """Wait for a state the app reaches through messages (a toast is one), with a deadline."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def ask(pilot: Pilot[None], question: str) -> None:
    pilot.app.screen.query_one(QuestionInput).value = question
    await pilot.press("enter")
    await settle(pilot)
    main = pilot.app.screen
    assert isinstance(main, MainScreen)
    assert main.query(AnswerBlock).last().done


async def test_up_and_down_recall_earlier_questions() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test() as pilot:
        await settle(pilot)
        await ask(pilot, "first question")
        await ask(pilot, "second question")
        field = app.screen.query_one(QuestionInput)
        field.value = "a draft"
        await pilot.press("up")
        assert field.value == "second question"
        await pilot.press("up", "up")
        assert field.value == "first question"
        await pilot.press("down")
        assert field.value == "second question"
        await pilot.press("down")
        assert field.value == "a draft"


async def test_asking_about_a_selected_folder_scopes_the_question() -> None:
    backend = StandInBackend()
    app = PatientApp(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert isinstance(app.screen, FolderScreen)
        await pilot.press("down", "a")  # the first entry under the root: guide/
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        field = app.screen.query_one(QuestionInput)
        assert field.placeholder == "Ask about guide/ only (Esc: the whole folder)"
        await ask(pilot, "what is in here?")
        assert backend.asked[-1] == ("what is in here?", ["guide/"], None)
        await pilot.press("escape")  # back to the whole folder
        assert field.placeholder == "Ask a question about this folder"
        await ask(pilot, "and everywhere?")
        assert backend.asked[-1][1] == []
        assert backend.asked[-1][2] == "c3"  # the same conversation goes on


async def test_conversations_resume_and_delete() -> None:
    backend = StandInBackend()
    app = PatientApp(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert isinstance(app.screen, ConversationsScreen)
        await pilot.press("down", "d", "y")  # y: the confirmation
        await settle(pilot)
        assert [c.id for c in backend.conversation_list] == ["c2"]
        assert [c.id for c in app.screen.conversations] == ["c2"]
        await pilot.press("enter")
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen) and main.conversation_id == "c2"
        assert main.query(AnswerBlock).last().text.startswith("Rotate the signing key")
        await ask(pilot, "and then?")
        assert backend.asked[-1] == ("and then?", [], "c2")


async def test_keys_come_from_the_config_and_bad_names_are_reported() -> None:
    settings = TUISettings(keys={"files": "ctrl+t", "no_such_action": "ctrl+x"})
    app = PatientApp(StandInBackend(), settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await until(
            pilot, lambda: any("no_such_action" in n.message for n in app._notifications), "it"
        )
        await pilot.press("ctrl+t")
        await settle(pilot)
        assert isinstance(app.screen, FolderScreen)
        await pilot.press("escape", "f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        rows = dict(key_rows(help_sections(), dict(settings.keys))[0][1])
        assert rows["ctrl+t"].startswith("Browse the folder")


def test_help_lists_every_named_key_and_the_palette_every_app_action() -> None:
    listed = {key for _, entries in key_rows(help_sections(), {}) for key, _ in entries}
    assert {"ctrl+n", "ctrl+o", "ctrl+r", "f1", "ctrl+s", "ctrl+q", "ctrl+p"} <= listed
    assert {"escape", "ctrl+g", "up", "down", "n", "p", "slash", "e", "a", "1 ... 9"} <= listed
    assert {"new_chat", "files", "edit", "find", "ask_here", "delete_conversation"} <= binding_ids()


async def test_the_palette_offers_the_app_and_screen_actions() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await ask(pilot, "rotate?")
        await pilot.press("ctrl+g", "1")
        await settle(pilot)
        assert isinstance(app.screen, ViewerScreen)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"New chat", "Files", "Chats", "Help", "Sync now"} <= titles
        assert {"Next cite", "Prev cite", "Find", "Edit", "Back"} <= titles


async def test_the_viewer_walks_citations_and_finds_text() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await ask(pilot, "rotate?")
        await pilot.press("ctrl+g", "enter")
        await settle(pilot)
        viewer = app.screen
        assert isinstance(viewer, ViewerScreen)
        view = viewer.query_one(SourceView)
        assert view.cited == (6, 14)  # [1] guide/keys.md:7-15
        await pilot.press("n")
        await settle(pilot)
        assert view.cited == (16, 19)  # [2] guide/keys.md:17-20
        await pilot.press("slash", *"grace", "enter")
        await settle(pilot)
        assert view.cursor == 9 and view.match == (9, 30, 35)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, MainScreen)


async def test_editing_needs_a_terminal_and_says_so_without_one() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await ask(pilot, "rotate?")
        await pilot.press("ctrl+g", "enter")
        await settle(pilot)
        await pilot.press("e")  # headless: nothing to hand the terminal to
        await until(pilot, lambda: any(n.title == "Edit" for n in app._notifications), "a note")


def test_the_editor_command_opens_the_line() -> None:
    path = Path("/srv/notes/guide/keys.md")
    assert editor_command(path, 7, {"EDITOR": "vim"}) == ["vim", "+7", str(path)]
    assert editor_command(path, 7, {"VISUAL": "nano -w", "EDITOR": "vim"})[:3] == [
        "nano",
        "-w",
        "+7",
    ]
    code = editor_command(path, 7, {"EDITOR": "code"})
    assert code == ["code", "--wait", "--goto", f"{path}:7"]
    assert editor_command(path, 1, {}) == ["vi", "+1", str(path)]


def test_the_status_line_follows_a_sync() -> None:
    clock = SyncClock()
    state = IndexState(folder="notes", phase="watching", files=3, chunks=8)
    state = next_state(state, ev.SyncStarted("full"), clock, live=True)
    state = next_state(state, ev.SyncProgress("index", 0, 900), clock, live=True)
    clock.started -= 10  # ten seconds later
    progress = ev.SyncProgress("index", 120, 900, 300, 2000, 1900)
    state = next_state(state, progress, clock, live=True)
    syncing = "notes  syncing 120/900 files · 1 min left · 1,900 reused · 300 embedded · 12 files/s"
    assert index_text(state).plain == syncing
    state = next_state(state, ev.SyncProgress("write", 3, 3), clock, live=True)
    assert index_text(state).plain == syncing  # a batch committing is not files loaded
    state = next_state(state, ev.WatcherDegraded("polling instead"), clock, live=True)
    assert "watcher degraded: polling instead" in index_text(state).plain
    report = SyncReport(files_added=1, files_changed=1, chunks_total=950)
    state = next_state(state, ev.SyncFinished(report), clock, live=True)
    assert state.last_sync is not None
    when = time.strftime("%H:%M:%S", time.localtime(state.last_sync))
    settled = f"notes  3 files · 950 chunks · synced {when}, 2 files changed · watching"
    assert index_text(state).plain.startswith(settled)


def test_the_time_left_reads_as_a_person_says_it() -> None:
    assert [duration_text(s) for s in (0.2, 40, 65, 2210, 7500)] == [
        "1 s",
        "40 s",
        "1 min",
        "37 min",
        "2 h 05 min",
    ]


def test_failures_become_one_line() -> None:
    from engine.errors import IndexLockedError

    assert one_line(IndexLockedError("/srv/notes", 42)).count("\n") == 0
    assert one_line(ValueError("bad\nTraceback ...")) == "ValueError: bad"


async def test_the_folder_filter_and_enter_open_a_file() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o", "slash", *"keys", "enter")
        await settle(pilot)
        folder = app.screen
        assert isinstance(folder, FolderScreen)
        tree = folder.query_one(FolderTree)
        assert [p for p in tree._by_path if "." in p] == ["guide/keys.md"]
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        viewer = app.screen
        assert isinstance(viewer, ViewerScreen) and viewer.ref.path == "guide/keys.md"
        view = viewer.query_one(SourceView)
        assert view.cited is None and view.cursor == 0 and len(view.lines) == 21


@pytest.mark.parametrize("ready", [True, False], ids=["ready", "down"])
async def test_at_80_columns_the_model_state_and_reason_outlast_its_file_name(
    ready: bool,
) -> None:
    state = ": ready" if ready else "✕ unavailable: no model server"
    app = PatientApp(StandInBackend(model_ready=ready))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        model = app.screen.query_one("#status-model", Label)
        await until(pilot, lambda: state in str(model.render()), f"{state!r} shown")
        shown = str(model.render())
        assert shown.endswith(": ready") if ready else "…" in shown
        if ready:
            assert "…" in shown and "gguf" in shown  # the name, shortened in the middle
        index = str(app.screen.query_one("#status-index", Label).render())
        assert "1 failed" in index  # the reason's first words outrank the sync's time
        assert ("synced 14:05:09" in index) is ready
        whole = "SmolLM2-135M-Instruct.Q4_1.gguf: ready" if ready else MODEL_DOWN
        assert whole in str(model.tooltip)  # the whole line, on hover
        if not ready:  # and the whole reason as news, once
            await until(pilot, lambda: app._notifications, "the model's notification")
            assert MODEL_DOWN in list(app._notifications)[0].message


async def test_ctrl_f_opens_the_browser_on_failures_only() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+f")
        await settle(pilot)
        folder = app.screen
        assert isinstance(folder, FolderScreen)
        tree = folder.query_one(FolderTree)
        assert [p for p in tree._by_path if "." in p] == ["notes/scan.pdf"]
        await pilot.press("escape", "ctrl+o")  # the browser on its own shows everything
        await settle(pilot)
        assert len([p for p in app.screen.query_one(FolderTree)._by_path if "." in p]) == 5


async def test_ctrl_s_during_a_sync_says_another_follows() -> None:
    app = PatientApp(StandInBackend(syncing=True))
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.index_state.phase == "syncing"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app._notifications, "the note")
        note = list(app._notifications)[-1]
        assert (note.title, note.message) == ("Sync", "A sync is running; a full sync follows it.")
