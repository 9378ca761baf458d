"""What a user expects to stay put and to be asked: the theme and the questions outlive a
restart, a conversation is deleted only once confirmed, `e` in the sources opens the editor,
long code lines scroll, the palette fits 80 columns (the placeholder of a scoped question:
tests/test_tui_app.py). Against the deterministic stand-in backend (tests/tui_standin.py),
with the app's real state file."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import OptionList
from textual.widgets._markdown import MarkdownParagraph
from textual.widgets.markdown import MarkdownFence

from tests.test_tui_app import ask, settle, until
from tests.tui_standin import LongCodeBackend, PatientApp, StandInBackend
from tui.screens.conversations import ConfirmDelete, ConversationsScreen
from tui.screens.main import MainScreen
from tui.ui_state import STATE_FILE
from tui.widgets.chat import AnswerBlock
from tui.widgets.question import QuestionInput
from tui.widgets.sources_pane import SourcesPane

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def palette_pick(pilot: Pilot[None], query: str) -> None:
    """Type `query` into the open palette and run the first command it finds."""
    await until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), "the palette")
    await pilot.press(*query)
    found = pilot.app.screen.query_one(CommandList)
    await until(pilot, lambda: found.option_count > 0, f"a command for {query!r}")
    await pilot.press("down", "enter")


# (a) the theme and the questions outlive a restart --------------------------------------------
async def test_the_theme_and_the_questions_outlive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = PatientApp(StandInBackend(), data_dir=data_dir)
    async with first.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert first.theme == "textual-dark"
        await pilot.press("ctrl+p")
        await palette_pick(pilot, "theme")
        await palette_pick(pilot, "nord")
        await until(pilot, lambda: first.theme == "nord", "the theme picked")
        await until(pilot, lambda: isinstance(first.screen, MainScreen), "back to the chat")
        await ask(pilot, "how do I rotate the signing key?")
        await ask(pilot, "and revoke it?")

    state = data_dir / STATE_FILE
    assert stat.S_IMODE(state.stat().st_mode) == 0o600  # questions say what a folder holds
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700

    second = PatientApp(StandInBackend(), data_dir=data_dir)
    async with second.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert second.theme == "nord"
        field = second.screen.query_one(QuestionInput)
        await pilot.press("up")
        assert field.value == "and revoke it?"
        await pilot.press("up")
        assert field.value == "how do I rotate the signing key?"


async def test_the_config_theme_applies_until_one_is_picked(tmp_path: Path) -> None:
    from engine.config import TUISettings

    app = PatientApp(StandInBackend(), TUISettings(theme="gruvbox"), data_dir=tmp_path)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.theme == "gruvbox"
        await ask(pilot, "a question")
    saved = json.loads((tmp_path / STATE_FILE).read_text())
    assert saved == {"theme": None, "questions": ["a question"]}  # the start is no choice


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe\x00 not utf-8", b'["a list"]', b'{"questions": [1, 2]}', None],
    ids=["not-json", "not-utf8", "not-an-object", "not-strings", "a-directory"],
)
async def test_a_broken_state_file_is_ignored_with_a_log_line(
    tmp_path: Path, content: bytes | None, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / STATE_FILE
    if content is None:
        state.mkdir()  # unreadable as a file, and cannot be replaced either
    else:
        state.write_bytes(content)
    app = PatientApp(StandInBackend(), data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="tui.ui_state"):
        async with app.run_test() as pilot:
            await settle(pilot)
            assert app.theme == "textual-dark"
            assert app.screen.query_one(QuestionInput).history == []
            await ask(pilot, "still works?")
    assert any(str(state) in record.getMessage() for record in caplog.records)
    if content is not None:  # replaced by a good one at the first save
        assert json.loads(state.read_text())["questions"] == ["still works?"]
    assert not list(tmp_path.glob(".ui-state-*")), "no temporary file left behind"


# (b) deleting a conversation asks once ----------------------------------------------------------
async def test_deleting_a_conversation_asks_first() -> None:
    backend = StandInBackend()
    app = PatientApp(backend)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDelete)
        assert "How do I rotate" in app.screen.title_shown
        await pilot.press("n")  # kept
        await settle(pilot)
        assert isinstance(app.screen, ConversationsScreen)
        await pilot.press("d", "escape")  # kept again
        await settle(pilot)
        assert [c.id for c in backend.conversation_list] == ["c2", "c1"]
        await pilot.press("d", "y")
        await settle(pilot)
        assert [c.id for c in backend.conversation_list] == ["c1"]
        assert isinstance(app.screen, ConversationsScreen)
        assert [c.id for c in app.screen.conversations] == ["c1"]
        await until(pilot, lambda: any("deleted" in n.message for n in app._notifications), "")


# (c) e in the sources list opens the editor ----------------------------------------------------
async def test_e_in_the_sources_hands_the_highlighted_source_to_the_editor() -> None:
    """Headless there is no terminal to hand over, so the hand-over says so; a real
    terminal runs the editor at the line (tests/test_tui_tmux.py)."""
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await ask(pilot, "rotate?")
        await pilot.press("ctrl+g")
        assert isinstance(app.focused, SourcesPane)
        await pilot.press("e")
        await until(pilot, lambda: any(n.title == "Edit" for n in app._notifications), "a note")
        assert isinstance(app.screen, MainScreen)  # still in the chat, not the viewer


# (d) code blocks scroll ------------------------------------------------------------------------
async def test_a_long_code_line_scrolls_instead_of_being_cut() -> None:
    app = PatientApp(LongCodeBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+r", "enter")
        await settle(pilot)
        fence = app.screen.query_one(MarkdownFence)
        assert fence.max_scroll_x > 0 and fence.scrollbar_size_horizontal == 1  # it shows
        await pilot.press("ctrl+up")
        assert isinstance(app.focused, AnswerBlock)
        for _ in range(fence.max_scroll_x // 8 + 1):
            await pilot.press("right")
        await until(pilot, lambda: fence.scroll_x == fence.max_scroll_x, "the end of the line")
        await pilot.press("left")
        await until(pilot, lambda: fence.scroll_x < fence.max_scroll_x, "a step back")


async def test_the_checked_answer_keeps_its_code_block() -> None:
    """Streamed text is replaced by the checked sentences when the answer ends: a code line
    among them is still shown in a code block, not joined into the prose."""
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await ask(pilot, "how do I rotate the signing key?")
        block = app.screen.query(AnswerBlock).last()
        code = [fence.code.strip() for fence in block.query(MarkdownFence)]
        assert code == ["keyctl rotate --key signing --grace 7d"]
        assert "keyctl" not in " ".join(p.source or "" for p in block.query(MarkdownParagraph))


# (f) the palette fits 80 columns and offers Sync ----------------------------------------------
async def test_the_palette_entries_take_one_line_each_at_80_columns() -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        found = app.screen.query_one(CommandList)  # nothing typed: every command
        await until(pilot, lambda: found.option_count >= 16, "every command")
        await settle(pilot)
        prompts = [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]
        assert any(p.startswith("Sync now\nctrl+s") for p in prompts), prompts
        assert any(p.startswith("Answers\nctrl+up") for p in prompts), prompts
        assert found.virtual_size.height == 2 * found.option_count  # title + help, no wrap
        assert isinstance(found, OptionList)
