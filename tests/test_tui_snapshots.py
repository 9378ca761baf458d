"""Snapshots of every screen at 80x24 and 120x40, with the deterministic stand-in backend
(tests/tui_standin.py), so they compare byte for byte. Update them after a deliberate
change with `pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

import pytest
from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter
from textual.pilot import Pilot
from textual.widgets import Input

from engine.config import TUISettings
from tests.tui_standin import LongCodeBackend, PatientApp, StandInBackend
from tui.app import DocsightApp
from tui.messages import AnswerResult, SourceRef
from tui.screens.main import MainScreen
from tui.widgets.chat import AnswerBlock
from tui.widgets.question import QuestionInput

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
Compare = Callable[..., bool]
Steps = Callable[[Pilot[Any]], Awaitable[None]]


def app_with(
    model_ready: bool = True, theme: str = "textual-dark", syncing: bool = False
) -> DocsightApp:
    backend = StandInBackend(model_ready=model_ready, syncing=syncing)
    return PatientApp(backend, TUISettings(theme=theme))


async def settle(pilot: Pilot[Any]) -> None:
    """Let every worker finish and every message it posted be handled. The cursor of an
    input stops blinking (it stays shown): a blink every 0.5 s would make a snapshot depend
    on how long the steps took."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()


async def opened(pilot: Pilot[Any]) -> None:
    await settle(pilot)


async def answered(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    pilot.app.screen.query_one(QuestionInput).value = "How do I rotate the signing key?"
    await pilot.press("enter")
    main = pilot.app.screen
    assert isinstance(main, MainScreen)
    for _ in range(200):
        blocks = main.query(AnswerBlock)
        if blocks and blocks.last().done:
            break
        await settle(pilot)
    await settle(pilot)


def then(*keys: str, first: Steps = answered) -> Steps:
    async def steps(pilot: Pilot[Any]) -> None:
        await first(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return steps


@SIZES
def test_main_screen_on_opening(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_with(), terminal_size=size, run_before=opened)


@SIZES
def test_main_screen_while_syncing(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_with(syncing=True), terminal_size=size, run_before=opened)


@SIZES
def test_main_screen_with_an_answer(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_with(), terminal_size=size, run_before=answered)


@SIZES
def test_main_screen_model_down(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_with(model_ready=False), terminal_size=size, run_before=answered)


@SIZES
def test_source_viewer_on_a_citation(snap_compare: Compare, size: tuple[int, int]) -> None:
    steps = then("ctrl+g", "2")
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_source_viewer_search(snap_compare: Compare, size: tuple[int, int]) -> None:
    steps = then("ctrl+g", "1", "slash", *"revoke", "enter")
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_folder_browser_on_a_failed_file(snap_compare: Compare, size: tuple[int, int]) -> None:
    steps = then("ctrl+o", "down", "down", "down", "down", "down", first=opened)
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_folder_browser_on_failures_only(snap_compare: Compare, size: tuple[int, int]) -> None:
    """ctrl+f, as a click on the status line's failed count: only what failed, and why."""
    steps = then("ctrl+f", "down", "down", first=opened)
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_main_screen_after_a_requested_sync(snap_compare: Compare, size: tuple[int, int]) -> None:
    """ctrl+s says so at once (a toast, cleared here); the status line then shows when the
    sync ended and what it changed."""

    async def steps(pilot: Pilot[Any]) -> None:
        await then("ctrl+s", first=opened)(pilot)
        app = pilot.app
        assert isinstance(app, DocsightApp)
        assert app.index_state.changed == 0
        app.clear_notifications()
        await settle(pilot)

    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_conversations(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_with(), terminal_size=size, run_before=then("ctrl+r", first=opened))


@SIZES
def test_help(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(app_with(), terminal_size=size, run_before=then("f1", first=opened))


@SIZES
def test_command_palette(snap_compare: Compare, size: tuple[int, int]) -> None:
    steps = then("ctrl+p", *"chat", first=opened)
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_command_palette_every_entry_on_one_line(
    snap_compare: Compare, size: tuple[int, int]
) -> None:
    steps = then("ctrl+p", first=opened)
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_placeholder_of_a_scoped_question(snap_compare: Compare, size: tuple[int, int]) -> None:
    steps = then("ctrl+o", "down", "a", first=opened)  # ask about guide/
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


@SIZES
def test_a_long_code_line_in_an_answer(snap_compare: Compare, size: tuple[int, int]) -> None:
    app = PatientApp(LongCodeBackend(), TUISettings())
    steps = then("ctrl+r", "enter", first=opened)  # a saved answer with a long code line
    assert snap_compare(app, terminal_size=size, run_before=steps)


@SIZES
def test_delete_confirmation(snap_compare: Compare, size: tuple[int, int]) -> None:
    steps = then("ctrl+r", "d", first=opened)
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)


def test_sixteen_colour_theme(snap_compare: Compare) -> None:
    assert snap_compare(app_with(theme="ansi-dark"), terminal_size=(80, 24), run_before=answered)


# a resumed conversation, sources with a long path -----------------------------------------
DEEP = SourceRef(
    3,
    "reference/configuration/storage/milvus-standalone-and-distributed-deployment.md",
    120,
    138,
    heading="Storage > Distributed",
    score=0.47,
    text="Point store.uri at the cluster; the token comes from the environment.",
    cited=False,
)


class DeepPathBackend(StandInBackend):
    """A saved conversation whose sources include a file deep in the folder."""

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        return [replace(turn, sources=[DEEP]) for turn in super().conversation(conversation_id)]


@SIZES
def test_resumed_conversation_sources(snap_compare: Compare, size: tuple[int, int]) -> None:
    """Scores and snippets as they were; the long path elided in its middle, on one line."""
    app = PatientApp(DeepPathBackend(), TUISettings())
    steps = then("ctrl+r", "enter", first=opened)
    assert snap_compare(app, terminal_size=size, run_before=steps)


# a 16-colour terminal (TERM=xterm) --------------------------------------------------------
@lru_cache(1024)
def sixteen(style: Style) -> Style:
    """`style` in the 16 colours of the terminal, as Rich writes it to such a terminal."""
    color = style.color.downgrade(ColorSystem.STANDARD) if style.color else None
    background = style.bgcolor.downgrade(ColorSystem.STANDARD) if style.bgcolor else None
    return style + Style.from_color(color, background)


class SixteenColours(LineFilter):
    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        return [
            Segment(text, style and sixteen(style), control) for text, style, control in segments
        ]


class SixteenColourApp(PatientApp):
    """The app on a terminal of 16 colours: it chooses its theme as under TERM=xterm, and
    every colour it draws comes out as the nearest of the 16, as the terminal shows it."""

    def sixteen_colours(self) -> bool:
        return True

    def get_line_filters(self) -> list[LineFilter]:
        return [*super().get_line_filters(), SixteenColours()]


@SIZES
def test_sixteen_colours_main_screen_with_an_answer(
    snap_compare: Compare, size: tuple[int, int]
) -> None:
    app = SixteenColourApp(StandInBackend(), TUISettings())
    assert snap_compare(app, terminal_size=size, run_before=answered)


@SIZES
def test_sixteen_colours_folder_browser(snap_compare: Compare, size: tuple[int, int]) -> None:
    app = SixteenColourApp(StandInBackend(), TUISettings())
    steps = then("ctrl+o", "down", "down", "down", "down", "down", first=opened)
    assert snap_compare(app, terminal_size=size, run_before=steps)


@SIZES
def test_folder_browser_filter(snap_compare: Compare, size: tuple[int, int]) -> None:
    """The filter focused: its placeholder and the footer say Down and Tab go to the files."""
    steps = then("ctrl+o", "slash", first=opened)
    assert snap_compare(app_with(), terminal_size=size, run_before=steps)
