"""Quitting, the folder filter's keys, and the sources of earlier answers.

Quitting and resuming run on the real engine (Milvus Lite, the bundled encoder, the
watcher); the filter's keys on the deterministic stand-in. Every wait is for a state, with
a deadline, never for a fixed time.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer, Input

from engine.config import Settings
from engine.conversations import Conversations
from engine.embed import Embedder, make_embedder
from engine.engine import Engine
from engine.llm_server import stop_server
from engine.prompt import SNIPPET_CHARS, Context
from tests.test_tui import ask, screen_text, settings_for_tests, wait_for, widget_text
from tests.test_tui_tmux import TMUX, Terminal, docsight_command
from tests.tui_standin import PatientApp, StandInBackend
from tui.messages import SourceRef
from tui.screens.folder import FolderScreen
from tui.screens.main import MainScreen
from tui.session.backend import EngineBackend
from tui.widgets.chat import AnswerBlock
from tui.widgets.folder_tree import FolderTree
from tui.widgets.sources_pane import SourcesPane, elide_middle, source_line, where_within

pytestmark = pytest.mark.anyio

RUNBOOK = """# Runbook {n}

## Keys

Rotate the signing key of service {n} every {n} days with keyctl rotate, and publish
the new key to the registry before the old one expires at the end of the grace period.

## Backups

Copy the database snapshot of service {n} to the offsite bucket every night, then check
the checksum of the copy against the snapshot and alert the on-call engineer on mismatch.
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "d"
    yield path
    stop_server(path)  # never leave a model server behind


def runbooks(root: Path, count: int) -> Path:
    for n in range(count):
        path = root / f"team{n % 4}" / f"runbook{n:03d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(RUNBOOK.format(n=n) * 3)
    return root


def app_for(folder: Path, data_dir: Path, embedder: Embedder, settings: Settings) -> PatientApp:
    return PatientApp(EngineBackend(folder, settings, data_dir, embedder=embedder), settings.tui)


# quitting ---------------------------------------------------------------------------------
async def test_quitting_during_a_sync_stops_it_and_keeps_what_it_committed(
    tmp_path: Path, data_dir: Path, minilm: Embedder
) -> None:
    folder = runbooks(tmp_path / "many", 60)  # far more than one batch of the first index
    settings = settings_for_tests(model_down=True)
    app = app_for(folder, data_dir, minilm, settings)
    async with app.run_test(size=(120, 40)) as pilot:

        def committed() -> list[str]:
            return sorted(p for p, s in app.file_states.items() if s.state == "indexed")

        await wait_for(
            pilot,
            lambda: app.index_state.phase == "syncing" and committed(),
            "a first index under way with a batch committed",
            180,
        )
        await pilot.press("ctrl+q")
        assert notes_of(app, "Quitting")[0].startswith("stopping...")
        await wait_for(pilot, lambda: not app.is_running, "the app to exit", 120)
        indexed_before = committed()  # every file the screen showed as indexed
    backend = app.backend
    assert isinstance(backend, EngineBackend) and backend._index is None  # released

    with Engine(folder, settings, data_dir, embedder=minilm) as engine:  # a fresh open
        files, chunks = engine.catalog.counts()
        assert engine.store.count() == chunks > 0  # no half-written batch, nothing doubled
        assert set(indexed_before) <= set(engine.catalog.files())  # nothing committed lost
        report = engine.sync()  # the rest, from where the quit left it
        assert report.files_added == 60 - files
        assert engine.store.count() == engine.catalog.counts()[1]


def notes_of(app: PatientApp, title: str) -> list[str]:
    return [n.message for n in app._notifications if n.title == title]


async def test_quitting_when_idle_stops_the_watcher_and_exits(
    tmp_path: Path, data_dir: Path, minilm: Embedder
) -> None:
    folder = runbooks(tmp_path / "few", 2)
    app = app_for(folder, data_dir, minilm, settings_for_tests(model_down=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.index_state.phase == "watching", "the watcher")
        await wait_for(pilot, lambda: len(app.file_states) == 2, "the files")
        await pilot.press("ctrl+q", "ctrl+q")  # a second ctrl+q changes nothing
        await wait_for(pilot, lambda: not app.is_running, "the app to exit")
    assert notes_of(app, "Quitting") == ["stopping..."]


# the folder filter ------------------------------------------------------------------------
async def settle(pilot: Pilot[None]) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("key", ["down", "tab"])
async def test_down_and_tab_leave_the_folder_filter_for_the_tree(key: str) -> None:
    app = PatientApp(StandInBackend())
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o", "slash")
        await settle(pilot)
        folder = app.screen
        assert isinstance(folder, FolderScreen)
        field = folder.query_one("#filter", Input)
        assert app.focused is field
        assert "Down or Tab" in field.placeholder
        assert "To the files" in widget_text(folder.query_one(Footer))
        await pilot.press(*"keys", key)
        await settle(pilot)
        tree = folder.query_one(FolderTree)
        # mypy keeps `app.focused` narrowed to the Input across the awaits above
        assert app.focused is tree and field.value == "keys"  # type: ignore[comparison-overlap]
        await pilot.press("down", "down")  # the tree's own keys now
        await settle(pilot)
        assert tree.selected_path == "guide/keys.md"
        assert "To the files" not in widget_text(folder.query_one(Footer))


# sources of earlier answers ---------------------------------------------------------------
async def test_a_resumed_conversation_shows_its_sources_as_they_were(
    tmp_path: Path, data_dir: Path, minilm: Embedder
) -> None:
    folder = runbooks(tmp_path / "runbooks", 3)
    settings = settings_for_tests(model_down=True)  # passages only: the same sources, sooner
    app = app_for(folder, data_dir, minilm, settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.file_states) == 3, "the files")
        await wait_for(
            pilot,
            lambda: (
                app.index_state.phase == "watching"
                and all(s.state == "indexed" for s in app.file_states.values())
            ),
            "the index",
            180,
        )
        await ask(pilot, app, "How often do I rotate the signing key of service 2?")
        shown = list(app.screen.query_one(SourcesPane).refs)
        main = app.screen
        assert isinstance(main, MainScreen) and shown
        conversation = main.conversation_id

    again = app_for(folder, data_dir, minilm, settings)  # a restart, then resume it
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: again.index_ready.is_set(), "the index to open")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "service 2" in screen_text(again), "the conversations")
        await pilot.press("enter")
        main = again.screen
        await wait_for(pilot, lambda: main.query(AnswerBlock), "the resumed answer")
        assert isinstance(main, MainScreen) and main.conversation_id == conversation
        pane = main.query_one(SourcesPane)
        await wait_for(pilot, lambda: pane.refs, "its sources")
        assert key_facts(pane.refs) == key_facts(shown)
        assert [r.score for r in pane.refs] == pytest.approx([r.score for r in shown], abs=1e-4)
        assert all(ref.score is not None and ref.text and ref.heading for ref in pane.refs)
        first = pane.refs[0]
        assert first.score is not None
        await wait_for(pilot, lambda: f"{first.score:.2f}" in widget_text(pane), "a score")
        assert '""' not in widget_text(pane)


def key_facts(refs: list[SourceRef]) -> list[tuple[object, ...]]:
    return [(r.n, r.where, r.heading, r.cited, r.text[:SNIPPET_CHARS]) for r in refs]


def test_turns_keep_their_passages_and_old_databases_gain_the_column(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite"
    old = sqlite3.connect(path)  # a database from before turns kept their passages
    old.executescript(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL,"
        " created REAL NOT NULL, updated REAL NOT NULL);"
        "CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT"
        " NULL, question TEXT NOT NULL, answer TEXT NOT NULL, result TEXT NOT NULL,"
        " created REAL NOT NULL);"
        "INSERT INTO conversations VALUES ('c1', 'old', 1, 1);"
        "INSERT INTO turns (conversation_id, question, answer, result, created)"
        " VALUES ('c1', 'old?', 'yes', '{\"answer\": \"yes\"}', 1);"
    )
    old.commit()
    old.close()
    store = Conversations(path)
    try:
        assert [t.passages for t in store.turns("c1")] == [[]]
        long_text = "Rotate the key. " * 100
        passage = Context("ops/keys.md", 3, 9, None, "Keys > Rotate", long_text, 0.8123456, n=2)
        store.add_turn("c1", "how?", {"answer": "so [2]"}, [passage.as_saved()])
        saved = store.turns("c1")[-1]
        assert saved.result == {"answer": "so [2]"}  # the `ask --json` document, unchanged
        assert saved.passages == [
            {
                "n": 2,
                "path": "ops/keys.md",
                "start_line": 3,
                "end_line": 9,
                "page": None,
                "heading": "Keys > Rotate",
                "score": 0.8123,
                "text": long_text[:SNIPPET_CHARS],
            }
        ]
        assert json.loads(json.dumps(saved.passages)) == saved.passages
    finally:
        store.close()


def test_long_paths_are_elided_in_the_middle_and_keep_their_lines() -> None:
    assert elide_middle("short.md", 20) == "short.md"
    assert elide_middle("abcdefghij", 7) == "abc…hij"
    deep = SourceRef(4, "reference/configuration/storage/deployment.md", 120, 138, score=0.5)
    where = where_within(deep, 30)
    assert len(where) == 30
    assert where.startswith("refer") and where.endswith(".md:120-138") and "…" in where
    lines = source_line(deep, 36).plain.split("\n")
    assert [len(line) <= 36 for line in lines] == [True, True]
    assert lines[0].startswith("[4] refer") and lines[0].endswith(":120-138")


# a 16-colour terminal ---------------------------------------------------------------------
SGR = re.compile(r"\x1b\[([0-9;]*)m")


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_a_16_colour_terminal_gets_16_colours_only(tmp_path: Path, data_dir: Path) -> None:
    """Under TERM=xterm every colour docsight draws is one of the terminal's 16 (no
    256-colour or RGB codes), in the chat and in the folder browser, and ctrl+q exits."""
    folder = runbooks(tmp_path / "runbooks", 2)
    terminal = Terminal(f"docsight-16-{tmp_path.name}")
    command = ["env", "TERM=xterm", *docsight_command(), str(folder), "--data-dir", str(data_dir)]
    try:
        terminal.start(command, dict(os.environ))
        terminal.wait_for(
            lambda s: re.search(r"2 files · \d+ chunks.* · synced \d\d:\d\d:\d\d", s), "index", 240
        )
        chat = terminal.run("capture-pane", "-p", "-e", "-t", "e2e")
        terminal.keys("C-o")
        terminal.wait_for(lambda s: "runbook000.md" in s, "the folder browser", 30)
        browser = terminal.run("capture-pane", "-p", "-e", "-t", "e2e")
        for screen in (chat, browser):
            codes = {code for sgr in SGR.findall(screen) for code in sgr.split(";") if code}
            colours = {int(c) for c in codes if int(c) >= 30}
            assert colours, "no colour at all"
            assert colours <= set(range(30, 38)) | set(range(40, 48)) | {39, 49} | set(
                range(90, 98)
            ) | set(range(100, 108)), sorted(colours)
        terminal.keys("C-q")
        terminal.wait_for(lambda s: "docsight exited 0" in s, "a clean exit", 60)
    finally:
        terminal.kill()
