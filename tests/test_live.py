"""One live index for every client (issue 10): the first long-running docsight on a folder
owns its index, the next ones are its clients over the owner socket, and a client takes
over when the owner leaves. Real Milvus Lite, the real bundled model, a real watcher, two
`LiveIndex` objects in this process (an flock is per open file, so they exclude each other
as two processes do). Waits are on a state with a deadline, never a sleep.

Also `read`: exact lines of what docsight would index, and nothing else.
"""

from __future__ import annotations

import json
import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from engine import events as ev
from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.errors import ReadRefused
from engine.events import Event, FileIndexed, OwnerChanged, SyncFinished, SyncReport
from engine.live import LiveIndex
from engine.protocol import OPS
from engine.read import read_lines
from engine.scan import Scanner
from engine.serve import HANDLERS

E = TypeVar("E")
TIMEOUT_S = 120.0  # a ceiling on two shared cores, never a sleep


class Heard:
    """The events one `LiveIndex` passes on, in order."""

    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def __call__(self, event: Event) -> None:
        self.events.put(event)

    def wait_for(self, kind: type[E], test: Callable[[E], bool] = lambda e: True) -> E:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(event, kind) and test(event):
                return event
        raise AssertionError(f"no {kind.__name__} in {TIMEOUT_S:.0f} s")


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def settings() -> Settings:
    chosen = Settings()
    chosen.watch.debounce_ms = 100
    return chosen


@pytest.fixture
def owner(notes: Path, data_dir: Path, minilm: Embedder) -> Iterator[tuple[LiveIndex, Heard]]:
    heard = Heard()
    index = LiveIndex(notes, settings(), data_dir, embedder=minilm)
    index.open()
    index.start(heard)
    heard.wait_for(SyncFinished)  # the sweep
    try:
        yield index, heard
    finally:
        index.close()


def open_client(notes: Path, data_dir: Path, minilm: Embedder) -> tuple[LiveIndex, Heard]:
    heard = Heard()
    index = LiveIndex(notes, settings(), data_dir, embedder=minilm)
    index.open()
    index.start(heard)
    return index, heard


def test_every_op_of_the_protocol_has_one_handler() -> None:
    assert set(HANDLERS) | {"events"} == set(OPS)


def test_every_event_crosses_the_socket_unchanged() -> None:
    sent: list[ev.Event] = [
        ev.SyncStarted("full"),
        ev.SyncProgress("embed", 3, 9, 2, 7),
        ev.FileIndexed("a/b.md", 4, 1, False),
        ev.FileRemoved("c.md"),
        ev.FileMoved("d.md", "e/d.md"),
        ev.FileFailed("f.pdf", "no text layer"),
        ev.FileSkipped("g.bin", "binary content"),
        ev.SyncFinished(SyncReport(files_scanned=3, chunks_total=12, seconds=0.5)),
        ev.WatcherDegraded("polling"),
        ev.OwnerChanged(4242),
    ]
    assert {type(event) for event in sent} == set(ev.EVENT_TYPES.values())
    assert [ev.from_json(json.loads(json.dumps(ev.to_json(e)))) for e in sent] == sent


def test_a_second_live_index_is_a_client_of_the_first(
    notes: Path, data_dir: Path, minilm: Embedder, owner: tuple[LiveIndex, Heard]
) -> None:
    first, _ = owner
    second, heard = open_client(notes, data_dir, minilm)
    try:
        assert first.owner and first.served_by is None
        assert not second.owner and second.served_by == os.getpid()
        hits = second.search("how often is the signing key rotated", 3)
        assert hits[0].path == "ops/keys.md" and "90 days" in hits[0].text
        assert second.file_states() == first.file_states()
        assert second.status().files == 2 and second.status().owner_pid == os.getpid()
        assert second.read_lines("garden.txt") == first.read_lines("garden.txt")
        texts = ["water the tomatoes", "rotate the key"]
        assert np.allclose(second.embed_texts(texts), first.embed_texts(texts), atol=1e-6)

        (notes / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
        heard.wait_for(FileIndexed, lambda e: e.path == "zoo.md")  # the owner's event
        assert second.search("when does the quokka enclosure open", 1)[0].path == "zoo.md"
    finally:
        second.close()


def test_a_client_takes_the_index_over_when_the_owner_leaves(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    first, swept = open_client(notes, data_dir, minilm)  # nobody owned it: this one does
    second, heard = open_client(notes, data_dir, minilm)
    try:
        assert first.owner and not second.owner
        swept.wait_for(SyncFinished)
        first.close()
        changed = heard.wait_for(OwnerChanged)
        assert changed.served_by is None and second.owner and second.served_by is None
        heard.wait_for(SyncFinished)  # the new owner's sweep
        assert second.search("tomatoes", 1)[0].path == "garden.txt"

        (notes / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
        heard.wait_for(FileIndexed, lambda e: e.path == "zoo.md")  # its own watcher now
        assert second.search("when does the quokka enclosure open", 1)[0].path == "zoo.md"
        third, _ = open_client(notes, data_dir, minilm)
        try:
            assert not third.owner and third.served_by == os.getpid()  # served by the heir
        finally:
            third.close()
    finally:
        second.close()
        first.close()


def test_a_call_in_flight_when_the_owner_leaves_is_answered_by_the_heir(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    first, swept = open_client(notes, data_dir, minilm)
    swept.wait_for(SyncFinished)
    second = LiveIndex(notes, settings(), data_dir, embedder=minilm)
    second.open()  # a client that does not follow events: it learns at its next call
    try:
        assert not second.owner
        first.close()
        assert second.search("tomatoes", 1)[0].path == "garden.txt"
        assert second.owner
    finally:
        second.close()
        first.close()


# read ---------------------------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "folder"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "guide.md").write_text("".join(f"line {n}\n" for n in range(1, 11)))
    (root / ".env").write_text("TOKEN=secret\n")
    (root / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    (root / ".gitignore").write_text("drafts/\n")
    (root / "drafts").mkdir()
    (root / "drafts" / "wip.md").write_text("not yet\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd.md").write_text("root:x:0:0\n")
    (root / "link.md").symlink_to(outside / "passwd.md")
    (root / "linked").symlink_to(outside)
    (root / "inside.md").symlink_to(root / "docs" / "guide.md")
    return root


def read(root: Path, path: str, start: int | None = None, end: int | None = None) -> str:
    return read_lines(root, Scanner(root, Settings().index), path, start, end).text


def test_read_gives_exact_lines(folder: Path) -> None:
    scanner = Scanner(folder, Settings().index)
    result = read_lines(folder, scanner, "docs/guide.md", 3, 5)
    assert result.as_json() == {
        "path": "docs/guide.md",
        "start_line": 3,
        "end_line": 5,
        "total_lines": 10,
        "text": "line 3\nline 4\nline 5",
    }
    assert read(folder, "./docs/guide.md", 10) == "line 10"
    assert read(folder, "docs/guide.md", 9, 400) == "line 9\nline 10"
    assert read(folder, "inside.md", 1, 1) == "line 1"  # a link that stays inside


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../outside/passwd.md", "'..' leads outside the folder"),
        ("docs/../../outside/passwd.md", "'..' leads outside the folder"),
        ("/etc/passwd", "an absolute path"),
        ("link.md", "symlink to outside the folder"),
        ("linked/passwd.md", "outside the folder"),
        (".env", "may hold secrets"),
        ("id_rsa", "may hold secrets"),
        ("drafts/wip.md", "ignored by .gitignore:1 (drafts/)"),
        (".git/config", ".git directories are never indexed"),
        ("docs/missing.md", "no such file"),
        ("docs", "no such file"),
        ("", "relative to the folder"),
    ],
)
def test_read_refuses_what_docsight_would_not_index(folder: Path, path: str, why: str) -> None:
    with pytest.raises(ReadRefused) as refusal:
        read(folder, path)
    assert why in str(refusal.value)
    assert "\n" not in str(refusal.value)


def test_read_refuses_a_range_past_the_end(folder: Path) -> None:
    with pytest.raises(ReadRefused, match="has 10 lines"):
        read(folder, "docs/guide.md", 11)
    with pytest.raises(ReadRefused, match="comes before"):
        read(folder, "docs/guide.md", 5, 4)
