"""The TUI on a folder another docsight owns (issue 10): it becomes that owner's client
(search, answers, the folder browser and the status line through it), and when the owner
exits it takes the index over without a restart. The owner is a real `docsight watch`
process; the app is the real one, driven by Pilot, with the real encoder and model."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.embed import Embedder
from tests import helpers
from tests.test_tui import (  # the app tests' fixtures and helpers
    anyio_backend,
    ask,
    data_dir,
    indexed,
    make_app,
    minilm,
    notes,
    wait_for,
    widget_text,
)
from tui.app import DocsightApp
from tui.screens.folder import FolderScreen
from tui.session.backend import EngineBackend
from tui.widgets.folder_tree import FolderTree
from tui.widgets.sources_pane import SourcesPane

__all__ = ["anyio_backend", "data_dir", "minilm", "notes"]  # fixtures, used by name
TIMEOUT_S = 120.0

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not helpers.DOCSIGHT.exists(), reason="the docsight script is not installed"
    ),
]


@pytest.fixture
def watch_process(notes: Path, data_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "DOCSIGHT_WATCH__DEBOUNCE_MS": "100"}
    log = tmp_path / "watch.stderr"
    with helpers.watch_process(notes, log, env, "--data-dir", str(data_dir)) as process:
        yield process


def status_text(app: DocsightApp) -> str:
    return widget_text(app.screen.query_one("#status-index"))


def refs_from(app: DocsightApp) -> list[str]:
    return [ref.path for ref in app.screen.query_one(SourcesPane).refs]


async def test_the_tui_is_a_client_of_the_owner_then_takes_over(
    notes: Path, data_dir: Path, minilm: Embedder, watch_process: subprocess.Popen[str]
) -> None:
    owner = watch_process.pid
    app = make_app(notes, data_dir, minilm)
    backend = app.backend
    assert isinstance(backend, EngineBackend)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: indexed(app, "ops/keys.md", "garden.md"), "the files")
        assert not backend.engine.owner and app.index_state.served_by == owner
        await wait_for(pilot, lambda: f"served by pid {owner}" in status_text(app), "the pid")
        assert "2 files" in status_text(app) and "watching" in status_text(app)

        block = await ask(pilot, app, "How often do I rotate the signing key?")
        assert "ops/keys.md" in refs_from(app) and block.text.strip()

        await pilot.press("ctrl+o")  # the folder browser, with the owner's live states
        await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen), "the browser")
        tree = app.screen.query_one(FolderTree)
        (notes / "ops" / "backup.md").write_text("# Backups\n\nBackups run nightly at two.\n")
        await wait_for(pilot, lambda: indexed(app, "ops/backup.md"), "the owner's new file")
        await wait_for(pilot, lambda: "backup.md  1 chunk" in widget_text(tree), "its row")
        await wait_for(pilot, lambda: "3 files" in status_text(app), "3 files in the status")
        await pilot.press("escape")

        watch_process.send_signal(signal.SIGINT)  # the owner exits...
        assert watch_process.wait(TIMEOUT_S) == 0
        await wait_for(pilot, lambda: app.index_state.served_by is None, "the takeover", 120)
        assert backend.engine.owner  # ...and this app owns the index now
        await wait_for(pilot, lambda: "served by" not in status_text(app), "the status line")
        await wait_for(pilot, lambda: app.index_state.phase == "watching", "its own watcher")

        block = await ask(pilot, app, "When do backups run?")
        assert "ops/backup.md" in refs_from(app) and block.text.strip()
        (notes / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
        await wait_for(pilot, lambda: indexed(app, "zoo.md"), "a file its own watcher found")
        await wait_for(pilot, lambda: "4 files" in status_text(app), "4 files in the status")
