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
from engine.events import SyncFinished, SyncProgress
from engine.llm_server import stop_server
from tests.tui_standin import PatientApp
from tui import messages as m
from tui.app import DocsightApp
from tui.screens.folder import FolderScreen
from tui.screens.main import MainScreen
from tui.screens.viewer import ViewerScreen
from tui.session.backend import EngineBackend
from tui.widgets.chat import AnswerBlock
from tui.widgets.folder_tree import FolderTree
from tui.widgets.source_view import SourceView
from tui.widgets.sources_pane import SourcesPane
from tui.widgets.status_line import index_text

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
    return PatientApp(backend, settings.tui)


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


async def shows(pilot: Pilot[None], widget: Callable[[], Widget], text: str) -> None:
    """Wait until `text` is drawn in the widget (a message handled is not yet a frame)."""
    await wait_for(pilot, lambda: text in widget_text(widget()), repr(text))


def notified(app: DocsightApp, title: str, severity: str | None = None) -> list[str]:
    return [
        n.message
        for n in app._notifications
        if n.title == title and (severity is None or n.severity == severity)
    ]


def without_markers(text: str) -> str:
    """`text` without citation markers and unsupported marks, with single spaces: once the
    stream ends, docsight's check places markers and marks what no source supports."""
    text = text.replace("⚠ *not in the sources*", "")
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
            await shows(pilot, lambda: block.body, block.text.split()[0])
        pane = app.screen.query_one(SourcesPane)
        keys = [ref for ref in pane.refs if ref.path == "ops/keys.md"]
        assert pane.display and keys, result
        await shows(pilot, lambda: pane, keys[0].where)
        first = result.refs[0]
        await shows(pilot, lambda: block, f"[{first.n}] {first.where}")  # the citations

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
        await shows(pilot, lambda: view, KEYS_MD.split("\n")[ref.start_line - 1])
        await shows(pilot, lambda: app.screen.query_one("#viewer-title"), ref.where)


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
        await shows(pilot, lambda: status, "2 files")

        (notes / "ops" / "backup.md").write_text("# Backups\n\nBackups run nightly at two.\n")
        await wait_for(pilot, lambda: indexed(app, "ops/backup.md"), "the new file indexed")
        await wait_for(pilot, lambda: "3 files" in widget_text(status), "3 files in the status")
        await wait_for(pilot, lambda: "backup.md  1 chunk" in widget_text(tree), "the tree row")
        await shows(pilot, lambda: status, "watching")


async def test_model_down_still_shows_sources_and_says_why(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    app = make_app(notes, data_dir, minilm, settings_for_tests(model_down=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md"), "the index")
        block = await ask(pilot, app, "When do I prune the roses?")

        pane = app.screen.query_one(SourcesPane)
        assert pane.refs and pane.refs[0].path == "garden.md"
        await shows(pilot, lambda: pane, "garden.md:")
        await shows(pilot, lambda: block, "No answer generated")
        # The model's failure is news once: from the model's start ("Model") or, when the
        # question came first, from the answer ("Answer"). Toasts arrive as messages.
        await wait_for(
            pilot,
            lambda: notified(app, "Model", "warning") or notified(app, "Answer", "warning"),
            "the warning",
        )
        warning = (notified(app, "Model", "warning") or notified(app, "Answer", "warning"))[-1]
        await wait_for(pilot, lambda: warning.split()[0] in screen_text(app), "the toast")
        await shows(pilot, lambda: app.screen.query_one("#status-model"), "unavailable")


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
        await shows(pilot, lambda: pane, "[bold]x[/]")
        assert "\x1b" not in widget_text(pane)

        await pilot.press("ctrl+g", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen), "the viewer")
        view = app.screen.query_one(SourceView)
        await wait_for(pilot, lambda: view.cited is not None, "the cited lines")
        await shows(pilot, lambda: view, "[bold]x[/] and [link=http://e]y[/link]")
        shown = widget_text(view)
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
            await shows(pilot, lambda: block, "incomplete")
        await wait_for(
            pilot,
            lambda: any("Stopped" in note for note in notified(app, "Answer")),
            "the note that the answer stopped",
        )


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
        await wait_for(
            pilot, lambda: "How often do I rotate the signing key?" in screen_text(app), "it"
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is main, "the chat again")
        await wait_for(pilot, lambda: main.query(AnswerBlock), "the resumed answer")
        assert main.conversation_id is not None
        await wait_for(
            pilot, lambda: "How often do I rotate the signing key?" in screen_text(app), "it"
        )
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
            await wait_for(  # the status line
                pilot, lambda: "index unavailable: the index of" in screen_text(app), "status"
            )
            await wait_for(
                pilot, lambda: [n for n in app._notifications if n.severity == "error"], "toast"
            )
            failed = [n for n in app._notifications if n.severity == "error"]
            assert "open in another docsight (pid" in failed[0].message
            await pilot.press(*"anything?", "enter")
            await wait_for(pilot, lambda: len(list(app._notifications)) >= 2, "the refusal")
            assert "the index is not open" in list(app._notifications)[-1].message
            assert "Traceback" not in screen_text(app)


async def test_edits_syncs_and_failures_show_on_the_status_line(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    (notes / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf")
    app = make_app(notes, data_dir, minilm, settings_for_tests(model_down=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md", "garden.md"), "the index")
        status = app.screen.query_one("#status-index")
        await shows(pilot, lambda: status, "1 failed")
        first_sync = app.index_state.last_sync
        assert first_sync is not None

        with (notes / "garden.md").open("a") as garden:  # an edit: said once it is synced
            garden.write("Mulch the beds in May.\n")
        await shows(pilot, lambda: status, "1 file changed")
        assert app.index_state.last_sync is not None and app.index_state.last_sync > first_sync
        when = time.strftime("%H:%M:%S", time.localtime(app.index_state.last_sync))
        await shows(pilot, lambda: status, f"synced {when}")

        await pilot.press("ctrl+s")  # said at once, then when it ends
        assert notified(app, "Sync") == ["Syncing the folder..."]
        await shows(pilot, lambda: status, "no changes")

        await pilot.resize_terminal(80, 24)  # narrow: the count and the model's state stay
        await shows(pilot, lambda: status, "1 failed")
        await shows(pilot, lambda: app.screen.query_one("#status-model"), "✕ unavailable: ")
        x = widget_text(status).index("1 failed")
        await pilot.click("#status-index", offset=(x + 1, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen), "the browser")
        tree = app.screen.query_one(FolderTree)
        await wait_for(pilot, lambda: "broken.pdf" in tree._by_path, "the failed file")
        assert [path for path in tree._by_path if "." in path] == ["broken.pdf"]
        assert "cannot read PDF" in tree.states["broken.pdf"].reason


async def test_a_sync_says_how_many_cached_chunks_it_reused(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    app = make_app(notes, data_dir, minilm, settings_for_tests(model_down=True))
    seen = Recorder()
    async with app.run_test(size=(120, 40), message_hook=seen) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md", "garden.md"), "the index")
        states: list[m.IndexState] = []

        def shown(state: m.IndexState) -> None:
            states.append(state)

        app.watch(app, "index_state", shown)
        (notes / "ops" / "keys-copy.md").write_text(KEYS_MD)  # every chunk in the cache
        await wait_for(pilot, lambda: indexed(app, "ops/keys-copy.md"), "the copy indexed")

        events = [message.event for message in seen.of(m.IndexEvent)]  # type: ignore[attr-defined]
        report = [e.report for e in events if isinstance(e, SyncFinished)][-1]
        progress = [e for e in events if isinstance(e, SyncProgress) and e.phase == "index"]
        assert report.chunks_reused > 0 and report.chunks_embedded == 0
        assert progress[-1].chunks_reused == report.chunks_reused  # the engine's own count
        reused = f"{report.chunks_reused:,} reused"
        assert any(reused in index_text(state).plain for state in states)
