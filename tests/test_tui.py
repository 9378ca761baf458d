"""The terminal UI against the real engine: real Milvus Lite, the real bundled encoder, and
the answer API as it is built (the bundled model when it can run, passages otherwise).

Assertions are on what a person sees (widgets' rendered lines, the screen) and on the
messages the workers post, never on timings. Waits poll with a deadline.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widget import Widget

import engine.live
from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.engine import Engine
from engine.llm_server import stop_server
from tui import messages as m
from tui.app import DocsightApp
from tui.screens.folder import FolderScreen
from tui.screens.main import MainScreen
from tui.screens.viewer import ViewerScreen
from tui.widgets.backend import EngineBackend
from tui.widgets.chat import AnswerBlock
from tui.widgets.folder_tree import FolderTree
from tui.widgets.source_view import SourceView
from tui.widgets.sources_pane import SourcesPane

KEYS_MD = "\n".join(
    [
        "# Signing keys",
        "",
        "This runbook covers the signing key of the release pipeline.",
        "",
        "## Inventory",
        "",
        "The pipeline holds one signing key and one encryption key.",
        "Both live in the hardware token in the operations safe.",
        "",
        "## Rotate",
        "",
        "Rotate the signing key every 90 days with `keyctl rotate signing`.",
        "The old signing key stays valid for a grace period of seven days,",
        "so clients that cached it keep working while they fetch the new one.",
        "",
        "## Revoke",
        "",
        "Revoke a leaked key at once with `keyctl revoke signing`.",
        "",
    ]
)
GARDEN_MD = "# Garden\n\nWater the tomatoes every evening in July.\nPrune the roses in March.\n"
MARKUP_MD = (
    "[bold]x[/] and [link=http://e]y[/link] mark the zebra password field.\n"
    "An escape \x1b[31m red \x1b[0m sequence and a bell \x07 in zebra notes.\n"
)


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_for_tests(model_down: bool = False) -> Settings:
    settings = Settings()
    settings.watch.debounce_ms = 100
    settings.llm.max_tokens = 48  # enough to see a stream, short on two cores
    if model_down:
        settings.llm.base_url = f"http://127.0.0.1:{closed_port()}"
    return settings


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "ops").mkdir(parents=True)
    (root / "ops" / "keys.md").write_text(KEYS_MD)
    (root / "garden.md").write_text(GARDEN_MD)
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "d"
    yield path
    stop_server(path)  # never leave a model server behind


def make_app(
    folder: Path, data_dir: Path, embedder: Embedder, settings: Settings | None = None
) -> DocsightApp:
    settings = settings or settings_for_tests()
    backend = EngineBackend(folder, settings, data_dir, embedder=embedder)
    return DocsightApp(backend, settings.tui)


# helpers ----------------------------------------------------------------------------------
def widget_text(widget: Widget) -> str:
    """What `widget` shows of itself and its children on screen, line by line."""
    strips = widget.screen._compositor.render_strips()
    area = widget.region
    return "\n".join(strip.crop(area.x, area.right).text for strip in strips[area.y : area.bottom])


def screen_text(app: DocsightApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], what: str, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{screen_text(pilot.app)}")  # type: ignore[arg-type]
        await pilot.pause(0.05)


def without_markers(text: str) -> str:
    """`text` without citation markers and with single spaces: docsight adds markers to
    the sentences a source supports once the stream ends."""
    return " ".join(re.sub(r"\s*\[\d+(?:,\s*\d+)*\]", "", text).split())


def indexed(app: DocsightApp, *paths: str) -> bool:
    states = [app.file_states.get(path) for path in paths]
    ready = all(state is not None and state.state == "indexed" for state in states)
    return ready and app.index_state.phase == "watching"


async def ask(pilot: Pilot[None], app: DocsightApp, question: str) -> AnswerBlock:
    """Type `question`, press Enter, wait for the answer to finish; its block."""
    main = app.screen
    assert isinstance(main, MainScreen)
    before = len(main.query(AnswerBlock))
    await pilot.press(*question, "enter")
    await wait_for(pilot, lambda: len(main.query(AnswerBlock)) > before, "the answer to start")
    block = main.query(AnswerBlock).last()
    await wait_for(pilot, lambda: block.done, "the answer to finish", 120)
    await pilot.pause()
    return block


class Recorder:
    """A `message_hook`: every message the app's widgets receive, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Message]:
        return [message for message in self.messages if isinstance(message, kind)]


# behaviour --------------------------------------------------------------------------------
async def test_ask_streams_an_answer_with_sources_then_opens_the_cited_lines(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    app = make_app(notes, data_dir, minilm)
    seen = Recorder()
    async with app.run_test(size=(120, 40), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md", "garden.md"), "the index")
        block = await ask(pilot, app, "How often do I rotate the signing key?")

        finished = seen.of(m.AnswerFinished)[-1]
        assert isinstance(finished, m.AnswerFinished) and finished.result is not None
        result = finished.result
        assert seen.of(m.AnswerSources), "sources are shown before the answer ends"
        if result.generated:  # a model answered: its text streamed in and is on screen
            assert seen.of(m.AnswerToken) and block.text.strip()
            assert block.text.split()[0] in widget_text(block.body)
        pane = app.screen.query_one(SourcesPane)
        keys = [ref for ref in pane.refs if ref.path == "ops/keys.md"]
        assert pane.display and keys, result
        assert keys[0].where in widget_text(pane)
        first = result.refs[0]
        assert f"[{first.n}] {first.where}" in widget_text(block)  # the answer's citations

        await pilot.press("ctrl+g", str(keys[0].n))  # number keys open citation [n]
        await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen), "the viewer")
        view = app.screen.query_one(SourceView)
        ref = keys[0]
        assert ref.start_line is not None and ref.end_line is not None
        await wait_for(pilot, lambda: view.cited is not None, "the cited lines")
        assert view.cited == (ref.start_line - 1, ref.end_line - 1)
        assert view.cursor == ref.start_line - 1
        top = view.scroll_offset.y
        assert top <= ref.start_line - 1 and ref.end_line - 1 < top + view.size.height
        assert KEYS_MD.split("\n")[ref.start_line - 1] in widget_text(view)
        assert ref.where in widget_text(app.screen.query_one("#viewer-title"))


async def test_a_new_file_shows_in_the_tree_and_the_status_line(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    app = make_app(notes, data_dir, minilm, settings_for_tests(model_down=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md", "garden.md"), "the index")
        await wait_for(pilot, lambda: app.index_state.files == 2, "two files in the status")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen), "the folder browser")
        tree = app.screen.query_one(FolderTree)
        status = app.screen.query_one("#status-index")
        assert "2 files" in widget_text(status)

        (notes / "ops" / "backup.md").write_text("# Backups\n\nBackups run nightly at two.\n")
        await wait_for(pilot, lambda: indexed(app, "ops/backup.md"), "the new file indexed")
        await wait_for(pilot, lambda: "3 files" in widget_text(status), "3 files in the status")
        await wait_for(pilot, lambda: "backup.md  1 chunk" in widget_text(tree), "the tree row")
        assert "watching" in widget_text(status)


async def test_model_down_still_shows_sources_and_says_why(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    app = make_app(notes, data_dir, minilm, settings_for_tests(model_down=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md"), "the index")
        block = await ask(pilot, app, "When do I prune the roses?")

        pane = app.screen.query_one(SourcesPane)
        assert pane.refs and pane.refs[0].path == "garden.md"
        assert "garden.md:" in widget_text(pane)
        assert "No answer generated" in widget_text(block)
        warned = [n for n in app._notifications if n.title in ("Model", "Answer")]
        assert warned and warned[-1].severity == "warning"
        assert warned[-1].message.split()[0] in screen_text(app)  # the toast is on screen
        assert "unavailable" in widget_text(app.screen.query_one("#status-model"))


async def test_document_markup_and_escapes_show_as_plain_text(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    (notes / "markup.md").write_text(MARKUP_MD)
    app = make_app(notes, data_dir, minilm, settings_for_tests(model_down=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "markup.md"), "the index")
        await ask(pilot, app, "zebra password field")
        pane = app.screen.query_one(SourcesPane)
        assert pane.refs[0].path == "markup.md"
        shown = widget_text(pane)
        assert "[bold]x[/]" in shown and "\x1b" not in shown

        await pilot.press("ctrl+g", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen), "the viewer")
        view = app.screen.query_one(SourceView)
        await wait_for(pilot, lambda: view.cited is not None, "the cited lines")
        shown = widget_text(view)
        assert "[bold]x[/] and [link=http://e]y[/link]" in shown
        assert "␛[31m red ␛[0m" in shown and "␇" in shown
        everything = screen_text(app)
        assert "\x1b" not in everything and "\x07" not in everything


async def test_escape_during_a_stream_keeps_what_arrived(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    app = make_app(notes, data_dir, minilm)
    seen = Recorder()
    async with app.run_test(size=(120, 40), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md"), "the index")
        await pilot.press(*"Explain the signing key runbook in detail.", "enter")
        main = app.screen
        assert isinstance(main, MainScreen)
        await wait_for(
            pilot,
            lambda: seen.of(m.AnswerToken) or seen.of(m.AnswerFinished),
            "the first token",
            120,
        )
        if not seen.of(m.AnswerToken):
            pytest.skip("no model can stream here (the answer came as passages)")
        block = main.answering
        assert block is not None
        await pilot.press("escape")
        await wait_for(pilot, lambda: main.answering is None, "the stream to stop", 30)
        await pilot.pause()
        finished = seen.of(m.AnswerFinished)[-1]
        assert isinstance(finished, m.AnswerFinished) and finished.result is not None
        streamed = "".join(t.text for t in seen.of(m.AnswerToken))  # type: ignore[attr-defined]
        assert block.text.strip() and without_markers(block.text) == without_markers(streamed)
        if finished.result.incomplete:
            assert "incomplete" in widget_text(block)
        assert any(n.title == "Answer" and "Stopped" in n.message for n in app._notifications)


async def test_resume_a_saved_conversation(notes: Path, data_dir: Path, minilm: Embedder) -> None:
    app = make_app(notes, data_dir, minilm)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md"), "the index")
        await ask(pilot, app, "How often do I rotate the signing key?")
        await pilot.press("ctrl+n")
        main = app.screen
        assert isinstance(main, MainScreen) and main.conversation_id is None
        await wait_for(pilot, lambda: not main.query(AnswerBlock), "an empty chat")

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.screen is not main, "the conversations")
        chats = app.screen
        await wait_for(pilot, lambda: "question" in screen_text(app), "the list")
        if not getattr(chats, "conversations", None):
            pytest.skip("this build saves no conversations")
        assert "How often do I rotate the signing key?" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is main, "the chat again")
        await wait_for(pilot, lambda: main.query(AnswerBlock), "the resumed answer")
        assert main.conversation_id is not None
        assert "How often do I rotate the signing key?" in screen_text(app)
        assert main.query_one(SourcesPane).refs


async def test_an_index_owned_elsewhere_is_said_in_one_line(
    notes: Path, data_dir: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for_tests(model_down=True)
    monkeypatch.setattr(engine.live, "OWNER_WAIT_S", 0.5)  # it never serves: no use waiting
    with Engine(notes, settings, data_dir, embedder=minilm):  # a `docsight index` owns it
        app = make_app(notes, data_dir, minilm, settings)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.index_state.phase == "failed", "the failure")
            assert "index unavailable: the index of" in screen_text(app)  # the status line
            failed = [n for n in app._notifications if n.severity == "error"]
            assert failed and "open in another docsight (pid" in failed[0].message
            await pilot.press(*"anything?", "enter")
            await wait_for(pilot, lambda: len(list(app._notifications)) >= 2, "the refusal")
            assert "the index is not open" in list(app._notifications)[-1].message
            assert "Traceback" not in screen_text(app)
