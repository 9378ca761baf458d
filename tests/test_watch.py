"""The live index (issue 3): a real watchdog observer on a temp folder, real Milvus Lite and
the real bundled model. Tests wait on a condition with a generous timeout, never on a fixed
sleep, then check what the index holds."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from watchdog.observers import Observer
from watchdog.observers.inotify_c import InotifyFD

import engine.watch
from engine.config import Settings, load_settings
from engine.embed import Embedder, make_embedder
from engine.engine import Engine
from engine.errors import StoreError
from engine.events import (
    Event,
    FileFailed,
    FileIndexed,
    FileMoved,
    FileRemoved,
    SyncFinished,
    SyncStarted,
    WatcherDegraded,
)
from engine.kinds import EDITOR_NAMES
from engine.watch import Watcher
from tests.helpers import (
    CountingEmbedder,
    catalog_snapshot,
    long_markdown,
    open_engine,
    snapshot,
)

E = TypeVar("E")
QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")
TIMEOUT_S = 60.0  # two shared cores: generous, and only ever a ceiling, never a sleep
DEBOUNCE_MS = 200


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class Recorder:
    """The engine's events, as the watcher thread reports them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[E], since: int = 0) -> list[E]:
        with self._lock:
            return [e for e in self.events[since:] if isinstance(e, kind)]

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    def paths(self) -> set[str]:
        found: set[str] = set()
        with self._lock:
            events = list(self.events)
        for event in events:
            found.add(getattr(event, "path", ""))
            found.add(getattr(event, "old_path", ""))
        return found - {""}


@dataclass
class Live:
    folder: Path
    engine: Engine
    watcher: Watcher
    events: Recorder
    embedder: CountingEmbedder

    def indexed(self) -> set[str]:
        return set(self.engine.catalog.files())

    def text_of(self, path: str) -> str:
        return "\n".join(chunk.text for chunk in self.engine.catalog.chunks_of(path))

    def idle(self) -> bool:
        return self.watcher.wait_idle(0)

    def settle(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until the watcher is idle and `predicate` holds."""
        wait_until(lambda: self.idle() and predicate(), what)

    def settle_on(self, expected: set[str]) -> None:
        self.settle(lambda: self.indexed() == expected, f"the index to hold {sorted(expected)}")

    def top_path(self, query: str) -> str:
        hits = self.engine.search(query, 1)
        return hits[0].path if hits else ""

    def assert_consistent(self, against_fresh_index: bool = False) -> None:
        """The index holds what a fresh scan finds, once, and Milvus and the catalog agree;
        and, when asked, equals a fresh index of the folder."""
        assert self.idle()
        assert self.indexed() == {f.path for f in self.engine.scanner.scan().files}
        rows = snapshot(self.engine)
        assert len(rows) == len(set(rows)), "a chunk is in the index twice"
        assert rows == catalog_snapshot(self.engine)
        if against_fresh_index:
            data = self.folder.parent / f"fresh-{time.monotonic_ns()}"
            with open_engine(self.folder, data, self.embedder) as fresh:
                fresh.sync()
                assert rows == snapshot(fresh)


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


@pytest.fixture
def embedder(minilm: Embedder) -> CountingEmbedder:
    return CountingEmbedder(minilm)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "guide").mkdir(parents=True)
    write(root / "guide" / "keys.md", "# Keys\n\nRotate the signing key every 90 days.\n")
    write(root / "guide" / "backup.md", long_markdown("backup", sections=2, per_section=3))
    write(root / "todo.txt", "buy milk\n\ncall the plumber about the leaking tap\n")
    (root / "archive").mkdir()
    return root


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@contextmanager
def start_live(folder: Path, data: Path, embedder: CountingEmbedder) -> Iterator[Live]:
    events = Recorder()
    with open_engine(folder, data, embedder) as engine:
        watcher = Watcher(engine, events, debounce_ms=DEBOUNCE_MS)
        watcher.start(sweep=True)
        live = Live(folder, engine, watcher, events, embedder)
        try:
            wait_until(lambda: bool(events.of(SyncFinished)) and live.idle(), "the sweep")
            embedder.documents = 0
            yield live
        finally:
            watcher.stop()


@pytest.fixture
def live(folder: Path, tmp_path: Path, embedder: CountingEmbedder) -> Iterator[Live]:
    with start_live(folder, tmp_path / "data", embedder) as started:
        yield started


INITIAL = {"guide/keys.md", "guide/backup.md", "todo.txt"}


# each kind of change ----------------------------------------------------------------------
def test_sweep_indexes_the_folder_at_start(live: Live) -> None:
    assert live.indexed() == INITIAL
    assert [e.scope for e in live.events.of(SyncStarted)] == ["full"]
    assert live.top_path("how often is the signing key rotated") == "guide/keys.md"
    live.assert_consistent()


def test_create_modify_delete(live: Live) -> None:
    write(live.folder / "zoo.md", "# Zoo\n\nThe quokka enclosure opens at nine.\n")
    live.settle_on(INITIAL | {"zoo.md"})
    assert live.top_path("when does the quokka enclosure open") == "zoo.md"

    with (live.folder / "todo.txt").open("a") as handle:
        handle.write("\nbook the zeppelin ride for Sunday\n")
    live.settle(lambda: "zeppelin" in live.text_of("todo.txt"), "the edit to todo.txt")
    assert live.top_path("zeppelin ride") == "todo.txt"

    (live.folder / "guide" / "keys.md").unlink()
    live.settle_on(INITIAL - {"guide/keys.md"} | {"zoo.md"})
    assert FileRemoved("guide/keys.md") in live.events.of(FileRemoved)
    live.assert_consistent()


def test_rename_and_move_of_a_file_embed_nothing(live: Live) -> None:
    os.rename(live.folder / "guide" / "backup.md", live.folder / "archive" / "old-backup.md")
    os.rename(live.folder / "todo.txt", live.folder / "todo-list.txt")
    os.makedirs(live.folder / "brand" / "new")
    os.rename(live.folder / "guide" / "keys.md", live.folder / "brand" / "new" / "keys.md")
    live.settle_on({"brand/new/keys.md", "archive/old-backup.md", "todo-list.txt"})
    moves = {(e.old_path, e.path) for e in live.events.of(FileMoved)}
    assert {
        ("guide/backup.md", "archive/old-backup.md"),
        ("todo.txt", "todo-list.txt"),
    } <= moves  # into a brand-new folder it may read as added and removed: same index
    assert live.embedder.documents == 0
    assert live.top_path("leaking tap plumber") == "todo-list.txt"
    live.assert_consistent(against_fresh_index=True)


def test_directory_rename_moves_its_files(live: Live) -> None:
    os.rename(live.folder / "guide", live.folder / "manual")
    live.settle_on({"manual/keys.md", "manual/backup.md", "todo.txt"})
    assert {e.path for e in live.events.of(FileMoved)} == {"manual/keys.md", "manual/backup.md"}
    assert live.embedder.documents == 0  # a rename re-embeds nothing
    assert live.top_path("rotate the signing key") == "manual/keys.md"
    live.assert_consistent(against_fresh_index=True)


# watchdog races itself adding watches for folders made in one go, says so and recovers
@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")
def test_new_nested_subdirectories_with_files(live: Live) -> None:
    deep = live.folder / "projects" / "alpha" / "notes"
    deep.mkdir(parents=True)  # files land before the observer can watch the new folders
    write(deep / "plan.md", "# Plan\n\nMigrate the billing database in March.\n")
    write(live.folder / "projects" / "alpha" / "README.md", "# Alpha\n\nThe alpha project.\n")
    write(live.folder / "projects" / "beta.txt", "Beta ships the narwhal tracker.\n")
    added = {"projects/alpha/notes/plan.md", "projects/alpha/README.md", "projects/beta.txt"}
    live.settle_on(INITIAL | added)
    assert live.top_path("narwhal tracker") == "projects/beta.txt"
    live.assert_consistent(against_fresh_index=True)


def test_directory_delete_removes_its_files(live: Live) -> None:
    shutil.rmtree(live.folder / "guide")
    live.settle_on({"todo.txt"})
    assert {e.path for e in live.events.of(FileRemoved)} == {"guide/keys.md", "guide/backup.md"}
    live.assert_consistent()


# saves the way editors do them ------------------------------------------------------------
NEW_KEYS = "# Keys\n\nRotate the signing key every 30 days with the xylophone tool.\n"


def saved(live: Live, path: str, word: str) -> None:
    live.settle(lambda: word in live.text_of(path), f"the saved {path}")
    assert live.indexed() == INITIAL
    assert "every 90 days" not in live.text_of(path)
    assert live.top_path(f"{word} tool") == path
    assert not {p for p in live.events.paths() if EDITOR_NAMES.match(p.rsplit("/", 1)[-1])}
    live.assert_consistent(against_fresh_index=True)


def test_vim_save_with_swap_probe_and_backup(live: Live) -> None:
    guide = live.folder / "guide"
    swap = guide / ".keys.md.swp"
    swap.write_bytes(b"b0VIM 9.0\x00" + b"\x00" * 4086)  # while the buffer is open
    probe = guide / "4913"  # vim checks it may create files in the directory
    probe.write_text("")
    probe.unlink()
    os.rename(guide / "keys.md", guide / "keys.md~")  # backup by rename ...
    write(guide / "keys.md", NEW_KEYS)  # ... then write the new file ...
    (guide / "keys.md~").unlink()  # ... and drop the backup
    swap.write_bytes(b"b0VIM 9.0\x01" + b"\x00" * 4086)
    swap.unlink()  # :q
    saved(live, "guide/keys.md", "xylophone")


@pytest.mark.parametrize("temp_name", ["keys.md.tmp", ".keys.md.3f9a2c"])
def test_save_by_temp_file_and_replace(live: Live, temp_name: str) -> None:
    """VS Code, JetBrains (safe write) and most atomic-write libraries."""
    temp = live.folder / "guide" / temp_name
    with temp.open("w") as handle:
        handle.write(NEW_KEYS)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, live.folder / "guide" / "keys.md")
    saved(live, "guide/keys.md", "xylophone")


def test_truncate_and_write(live: Live) -> None:
    with (live.folder / "guide" / "keys.md").open("r+") as handle:
        handle.truncate(0)
        handle.flush()  # an empty file on disk for a moment
        handle.write(NEW_KEYS[:20])
        handle.flush()
        handle.write(NEW_KEYS[20:])
    saved(live, "guide/keys.md", "xylophone")


def test_editor_swap_backup_and_temp_files_never_indexed(live: Live) -> None:
    editor_files = [".todo.txt.swp", "todo.txt~", "draft.tmp", "#todo.txt#", ".#todo.txt"]
    for name in editor_files:
        write(live.folder / "guide" / name, "Unsaved words about the pelican migration.\n")
    write(live.folder / "sentinel.md", "# Sentinel\n\nWritten after the editor files.\n")
    live.settle_on(INITIAL | {"sentinel.md"})  # their events came first: all handled by now
    mark = live.events.mark()
    live.watcher.request_full_sync()  # and a full rescan leaves them out too
    wait_until(lambda: bool(live.events.of(SyncFinished, mark)) and live.idle(), "a rescan")
    assert live.indexed() == INITIAL | {"sentinel.md"}
    assert not any("pelican" in live.text_of(path) for path in live.indexed())
    assert not {p for p in live.events.paths() if EDITOR_NAMES.match(p.rsplit("/", 1)[-1])}


def test_version_control_internals_cause_no_work(live: Live) -> None:
    mark = live.events.mark()
    objects = live.folder / ".git" / "objects" / "ab"
    for n in range(50):  # what a commit writes
        write(objects / f"{n:038x}", "blob 42\0compressed bytes")
    write(live.folder / ".git" / "index", "DIRC")
    write(live.folder / "sentinel.md", "# Sentinel\n\nWritten after the commit.\n")
    live.settle_on(INITIAL | {"sentinel.md"})
    reports = [e.report for e in live.events.of(SyncFinished, mark)]
    assert sum(r.files_scanned for r in reports) == 1
    assert sum(r.files_ignored for r in reports) == 0
    assert not [p for p, _, _ in live.engine.catalog.skipped() if p.startswith(".git/")]


# bursts, ignore files, the start sweep ----------------------------------------------------
def test_burst_of_500_files_is_one_or_a_few_syncs(live: Live) -> None:
    mark = live.events.mark()
    burst = live.folder / "burst"
    for n in range(500):
        write(burst / f"part{n % 5}" / f"note{n:03d}.txt", f"Burst note {n}: item {n} of 500.\n")
    expected = INITIAL | {f"burst/part{n % 5}/note{n:03d}.txt" for n in range(500)}
    live.settle_on(expected)
    syncs = live.events.of(SyncStarted, mark)
    assert 1 <= len(syncs) <= 5, f"{len(syncs)} syncs for one burst"
    assert {e.scope for e in syncs} == {"paths"}  # never a rescan
    assert len(live.events.of(FileIndexed, mark)) == 500
    assert not live.events.of(FileFailed, mark)
    live.assert_consistent()


@pytest.mark.parametrize("ignore_file", [".gitignore", ".docsightignore"])
def test_ignore_file_change_re_evaluates_what_belongs(live: Live, ignore_file: str) -> None:
    write(live.folder / ignore_file, "# drafts\nguide/\n")
    live.settle_on({"todo.txt"})
    assert live.top_path("rotate the signing key") == "todo.txt"
    live.assert_consistent()

    (live.folder / ignore_file).write_text("# nothing ignored any more\n")
    live.settle_on(INITIAL)
    assert live.top_path("rotate the signing key") == "guide/keys.md"
    assert live.embedder.documents == 0  # their vectors came back from the cache
    live.assert_consistent()


def test_config_glob_change_re_evaluates_what_belongs(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    config = tmp_path / "config" / "config.toml"
    write(config, "[index]\nexclude = []\n")
    events = Recorder()
    settings = load_settings(config)
    with open_engine(folder, tmp_path / "data", embedder, settings, config_path=config) as engine:
        watcher = Watcher(engine, events, debounce_ms=DEBOUNCE_MS)
        watcher.start(sweep=True)
        live = Live(folder, engine, watcher, events, embedder)
        try:
            live.settle_on(INITIAL)
            write(config, '[index]\nexclude = ["guide/**"]\n')
            live.settle_on({"todo.txt"})
            write(config, "[index]\nexclude = [\n")  # half-saved: ignored, nothing lost
            write(config, "[index]\nexclude = []\n")
            live.settle_on(INITIAL)
            live.assert_consistent()
        finally:
            watcher.stop()


def test_a_failed_batch_is_retried_once(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    real_sync = live.engine.sync
    failures: list[object] = []

    def flaky_sync(paths: object = None, *args: object, **kwargs: object) -> object:
        if paths is not None and not failures:
            failures.append(paths)
            raise StoreError("the vector store is busy")
        return real_sync(paths, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(live.engine, "sync", flaky_sync)
    write(live.folder / "later.md", "# Later\n\nWritten while the store was busy.\n")
    live.settle_on(INITIAL | {"later.md"})
    assert failures == [["later.md"]]
    assert "busy" in live.events.of(WatcherDegraded)[0].reason
    live.assert_consistent()


def test_changes_while_stopped_are_picked_up_by_the_sweep(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    data = tmp_path / "data"
    with open_engine(folder, data, embedder) as engine:
        engine.sync()
    write(folder / "new.md", "# New\n\nThe lighthouse keeper's schedule.\n")
    (folder / "todo.txt").write_text("buy bread\n\nfix the gondola winch\n")
    (folder / "guide" / "keys.md").unlink()
    os.rename(folder / "guide" / "backup.md", folder / "backup.md")
    with start_live(folder, data, embedder) as live:
        assert live.indexed() == {"new.md", "todo.txt", "backup.md"}
        assert "gondola" in live.text_of("todo.txt")
        assert live.events.of(FileMoved) == [FileMoved("guide/backup.md", "backup.md")]
        assert live.top_path("lighthouse keeper") == "new.md"
        live.assert_consistent(against_fresh_index=True)


# when the system lets us down -------------------------------------------------------------
class _RefusingObserver(Observer):  # type: ignore[misc,valid-type]
    """The inotify observer, refused the way the kernel refuses past max_user_watches."""

    def start(self) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


def refuse_watches_below(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel grants the root's watch and refuses the rest, as at max_user_watches:
    watchdog 7 then starts with no error and leaves those folders unwatched."""
    real = InotifyFD.add_callback

    def add_callback(fd: InotifyFD, path: bytes, *args: Any) -> Any:
        if os.fsdecode(path) != str(root.resolve()):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real(fd, path, *args)

    monkeypatch.setattr(InotifyFD, "add_callback", add_callback)


@pytest.mark.parametrize("refused", ["the root", "folders below the root"])
def test_inotify_refused_falls_back_to_polling(
    folder: Path,
    tmp_path: Path,
    embedder: CountingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
    refused: str,
) -> None:
    if refused == "the root":
        monkeypatch.setattr(engine.watch, "Observer", _RefusingObserver)
    else:
        refuse_watches_below(folder, monkeypatch)
    with start_live(folder, tmp_path / "data", embedder) as live:
        degraded = live.events.of(WatcherDegraded)
        assert len(degraded) == 1 and "inotify" in degraded[0].reason
        assert live.watcher.degraded is not None

        write(live.folder / "zoo.md", "# Zoo\n\nThe quokka enclosure opens at nine.\n")
        (live.folder / "todo.txt").write_text("water the ferns\n")
        (live.folder / "guide" / "keys.md").unlink()
        live.settle(
            lambda: (
                live.indexed() == {"zoo.md", "todo.txt", "guide/backup.md"}
                and "ferns" in live.text_of("todo.txt")
            ),
            "the polling observer's changes",
        )
        assert live.top_path("quokka enclosure") == "zoo.md"
        assert len(live.events.of(WatcherDegraded)) == 1  # said once
        live.assert_consistent()


FLOOD = """
import sys
from pathlib import Path
flood = Path(sys.argv[1]) / "flood"
for n in range(int(sys.argv[2])):
    (flood / f"f{n}").touch()
(flood.parent / "late.md").write_text("# Late\\n\\nThe walrus arrived after the flood.\\n")
"""


def flood_while_holding_the_gil(folder: Path, files: int) -> None:
    """A child process floods the folder while this process holds the GIL (libc's waitpid
    called through PyDLL keeps it), so watchdog's reader thread cannot drain the kernel's
    queue: a real overflow, without touching the system's limits."""
    argv = [sys.executable, "-c", FLOOD, str(folder), str(files)]
    pid = os.posix_spawn(sys.executable, argv, os.environ)
    status = ctypes.c_int()
    if ctypes.PyDLL(None).waitpid(pid, ctypes.byref(status), 0) != pid:
        os.waitpid(pid, 0)


@pytest.mark.skipif(not QUEUE_LIMIT.exists(), reason="needs Linux inotify")
def test_lost_events_are_said_once_and_rescanned(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    write(folder / ".gitignore", "flood/\n")
    (folder / "flood").mkdir()  # watched from the start: no new watch is needed mid-flood
    with start_live(folder, tmp_path / "data", embedder) as live:
        mark = live.events.mark()
        flood_while_holding_the_gil(folder, int(QUEUE_LIMIT.read_text()) + 1000)
        live.settle(lambda: "late.md" in live.indexed(), "the rescan after the overflow")
        degraded = live.events.of(WatcherDegraded)
        assert len(degraded) == 1 and "overflow" in degraded[0].reason
        assert "full" in {e.scope for e in live.events.of(SyncStarted, mark)}
        assert live.indexed() == INITIAL | {"late.md"}
        assert live.top_path("walrus after the flood") == "late.md"
        live.assert_consistent()


def test_a_name_that_is_not_utf8_is_followed_like_any_other(live: Live) -> None:
    latin = live.folder / os.fsdecode(b"caf\xe9.md")  # as an old archive unzips it
    write(latin, "# Caf\u00e9\n\nThe espresso machine is descaled on Fridays.\n")
    live.settle_on(INITIAL | {"caf\\xe9.md"})
    assert live.top_path("when is the espresso machine descaled") == "caf\\xe9.md"
    renamed = live.folder / os.fsdecode(b"archive/men\xfc.md")
    os.rename(latin, renamed)
    live.settle_on(INITIAL | {"archive/men\\xfc.md"})
    assert live.embedder.documents == 1  # the rename re-embedded nothing
    renamed.unlink()
    live.settle_on(INITIAL)
    assert not live.events.of(WatcherDegraded) and not live.events.of(FileFailed)
    live.assert_consistent(against_fresh_index=True)
