"""The facade the TUI and the CLI use: one folder's index, opened, synced, searched.

Nothing outside engine/ touches pymilvus, SQLite or the model; it calls an `Engine`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import indexes
from engine.answer import Answerer, SearchFn, embed_with
from engine.catalog import Catalog
from engine.chunk import CHUNKER_VERSION
from engine.cite import Embed
from engine.config import MAX_TOP_K, Settings
from engine.embed import Embedder, make_embedder
from engine.errors import RebuildNeeded, check_space, translated
from engine.events import Event, SyncFinished, SyncProgress, SyncReport, SyncStarted
from engine.indexes import IndexLock
from engine.llm_server import ensure_server
from engine.models import resolve_model
from engine.read import read_lines
from engine.results import FileLines, FileState, IndexStatus
from engine.retrieve import Retriever
from engine.scan import Scanner
from engine.store import VectorStore
from engine.sync import Syncer
from engine.types import Hit

if TYPE_CHECKING:  # imported when the folder is followed: `docsight index` needs no watcher
    from engine.watch import Following

log = logging.getLogger(__name__)
SCAN_KEYS = ("include", "exclude", "max_file_mb")
DOUBLED_BATCH = 1000  # ids per count(*) query while looking for doubled rows


class Engine:
    """One folder's index, owned by this process until `close()`."""

    def __init__(
        self,
        folder: Path,
        settings: Settings,
        data_dir: Path,
        *,
        rebuild: bool = False,
        embedder: Embedder | None = None,
        config_path: Path | None = None,
        serving: bool = False,
    ) -> None:
        """`serving`: the caller will start an OwnerServer on this engine; other
        processes then wait for its socket instead of giving up while it opens."""
        self.folder = folder.resolve()
        self.settings = settings
        self.data_dir = data_dir.resolve()
        self.index_dir = indexes.index_dir_for(self.folder, self.data_dir)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._progress: SyncProgress | None = None  # of the sync in progress
        self._lock = IndexLock(self.index_dir, self.folder, serving)
        self._lock.acquire()
        try:
            with self._reported():
                self._open(rebuild)
        except BaseException:
            self._lock.release()
            raise
        self.config_path = config_path
        self._never = [self.data_dir, *([config_path.parent] if config_path else [])]
        self.scanner = Scanner(self.folder, settings.index, self._never)
        self.retriever = Retriever(
            self.store, self.index_dir / "catalog.sqlite", lambda: self.embedder, settings.retrieval
        )

    def _open(self, rebuild: bool) -> None:
        self.catalog = Catalog(self.index_dir / "catalog.sqlite")
        self.catalog.set_meta({"folder": str(self.folder)})
        self.store = VectorStore(
            self.settings.store,
            self.index_dir / "milvus.db",
            indexes.collection_name(self.folder),
            str(self.folder),
        )
        indexes.make_private(self.index_dir)  # the files Milvus Lite and SQLite just made
        self._check_fingerprint(rebuild)
        self.repair()
        pending, _ = self.catalog.sync_state()  # a sync that ran here has stopped
        self.catalog.set_sync_state(pending, active=False)

    @contextmanager
    def _reported(self) -> Iterator[None]:
        """Failures a person can act on (a full disk, a store that refused) become one-line
        errors; the original stays in the log."""
        try:
            yield
        except Exception as error:
            better = translated(error, self.data_dir)
            if better is None or better is error:
                raise
            log.warning("%s", better, exc_info=True)
            raise better from error

    # lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        self.retriever.close()
        self.store.close()
        self.catalog.close()
        self._lock.release()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The encoder, loaded on first use (loading torch takes seconds)."""
        return self._load_embedder()

    def _load_embedder(self, emit: Callable[[Event], None] | None = None) -> Embedder:
        """The encoder; a one-time ONNX export on the way reports as SyncProgress
        ("export", step, steps) to `emit`."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = make_embedder(
                    self.settings.embedding,
                    self.data_dir,
                    (lambda done, total, _: emit(SyncProgress("export", done, total)))
                    if emit
                    else None,
                )
            return self._embedder

    def fingerprint(self) -> dict[str, str]:
        s = self.settings.index
        model = (
            self._embedder.model_id if self._embedder else resolve_model(self.settings.embedding)[0]
        )
        return {
            "embedding_model": model,
            "chunker": f"{CHUNKER_VERSION}/{s.chunk_size}/{s.chunk_overlap}",
            "bm25_analyzer": s.bm25_analyzer,
        }

    def _check_fingerprint(self, rebuild: bool) -> None:
        wanted = self.fingerprint()
        stored = {key: self.catalog.get_meta(key) for key in wanted}
        changed = [k for k in wanted if stored[k] not in (None, wanted[k])]
        if changed and not rebuild:
            what = ", ".join(f"{k} {stored[k]} -> {wanted[k]}" for k in changed)
            raise RebuildNeeded(
                f"the index of {self.folder} was built with other settings ({what}); "
                "run `docsight index --rebuild` to rebuild it"
            )
        if changed or rebuild:
            # Everything a rebuild needs is checked before anything is deleted: the settings
            # were checked when they were read; the encoder must load.
            _ = self.embedder
            log.info("rebuilding the index of %s", self.folder)
            self.store.drop()
            self.catalog.reset_index()
        self.catalog.set_meta(wanted)

    def repair(self) -> None:
        """Make Milvus hold exactly the rows the catalog records (after a crash)."""
        orphans = self.catalog.orphans()
        if not self.store.exists():
            if self.catalog.counts()[1]:
                log.warning("the vector store lost its collection; re-indexing")
                self.catalog.reset_index()
            return
        if orphans:
            log.info("removing %d rows left by an interrupted sync", len(orphans))
            self.store.delete(orphans)
            self.catalog.clear_orphans(orphans)
        if self.store.count() != self.catalog.counts()[1]:
            self._reconcile_rows()

    def _reconcile_rows(self) -> None:
        """Milvus and the catalog disagree beyond what the journal explains (Milvus lost a
        row, holds one twice, or holds one the catalog never recorded). Strays go; a file
        with a lost or doubled row leaves the index whole (catalog and Milvus), so the next
        sync adds it again from the embedding cache: never half a file, never twice."""
        in_store = self.store.all_ids()
        in_catalog = self.catalog.chunk_ids()
        extra = sorted(in_store - in_catalog)
        damaged = (in_catalog - in_store) | self._doubled(sorted(in_store))
        log.warning("index repair: %d stray rows, %d lost or doubled", len(extra), len(damaged))
        self.store.delete(extra)
        paths = {row.path for row in self.catalog.chunks_by_ids(sorted(damaged & in_catalog))}
        doomed = [row.id for path in sorted(paths) for row in self.catalog.chunks_of(path)]
        with self.catalog.transaction() as db:  # journalled: a crash here is repaired next time
            for path in paths:
                Catalog.delete_file(db, path)
            Catalog.delete_chunks(db, doomed)
            Catalog.add_orphans_in(db, doomed)
        self.store.delete(doomed)
        self.catalog.clear_orphans(doomed)
        self.store.flush()

    def _doubled(self, ids: list[int]) -> set[int]:
        """Ids Milvus holds more than once. Its iterator and search show each id once and
        only count(*) sees the copies, so halve the ids until the counts show which."""
        if len(ids) > DOUBLED_BATCH:
            batches = range(0, len(ids), DOUBLED_BATCH)
            return set().union(*(self._doubled(ids[i : i + DOUBLED_BATCH]) for i in batches))
        if not ids or self.store.count(ids) <= len(ids):
            return set()
        if len(ids) == 1:
            return set(ids)
        half = len(ids) // 2
        return self._doubled(ids[:half]) | self._doubled(ids[half:])

    # work ---------------------------------------------------------------------------------
    def sync(
        self,
        paths: Iterable[str] | None = None,
        on_event: Callable[[Event], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncReport:
        """Bring the index up to date with the folder (or only with `paths`)."""
        listener = on_event or (lambda event: None)

        def emit(event: Event) -> None:
            if isinstance(event, SyncProgress):
                self._progress = event
            listener(event)

        with self._sync_lock, self._reported():
            check_space(self.data_dir)
            emit(SyncStarted("full" if paths is None else "paths"))
            if not self.store.exists():
                dim = self._load_embedder(emit).dim
                self.store.ensure_collection(dim, self.settings.index.bm25_analyzer)
            syncer = Syncer(
                self.folder,
                self.scanner,
                self.catalog,
                self.store,
                lambda: self._load_embedder(emit),
                self.settings.index.chunk_size,
                self.settings.index.chunk_overlap,
            )
            try:
                report = syncer.run(paths, emit, cancel)
            finally:
                self._progress = None
            self.catalog.set_meta({"last_sync": str(time.time())})
            self.catalog.trim_cache(self.settings.embedding.cache_max_mb * 1024 * 1024)
        emit(SyncFinished(report))
        return report

    def follow(
        self,
        on_event: Callable[[Event], None],
        on_not_serving: Callable[[OSError], None] | None = None,
    ) -> Following:
        """Keep this index live until the handle's `stop()`: serve the other docsight
        processes on the folder, sweep it, then sync each change. Every event goes to
        `on_event` and to the clients; when the socket cannot be made, `on_not_serving`
        hears why (the folder is still watched)."""
        from engine.watch import Following

        following = Following(self, on_event, on_not_serving or _log_not_serving)
        following.start()
        return following

    def indexed_paths(self) -> list[str]:
        """Every path the index holds, sorted (the watcher turns a folder that vanished into
        the files it held)."""
        return sorted(self.catalog.files())

    def search(
        self, query: str, k: int | None = None, path_prefixes: Sequence[str] = ()
    ) -> list[Hit]:
        """The best `k` chunks (retrieval.top_k when None), k kept within 1..MAX_TOP_K: a
        request from another process is not trusted to have checked it."""
        with self._reported():
            if k is not None:
                k = max(1, min(int(k), MAX_TOP_K))
            return self.retriever.search(query, k, path_prefixes)

    def status(self) -> IndexStatus:
        return indexes.read_status(self.folder, self.settings, self.data_dir)

    def read_lines(self, path: str, start: int | None = None, end: int | None = None) -> FileLines:
        """Exact lines of a file docsight would index (engine.read); refuses any other."""
        return read_lines(self.folder, self.scanner, path, start, end)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Vectors from this index's encoder (what a client's answer attribution uses)."""
        return np.asarray(self.embedder.embed_documents(texts))

    def file_states(self) -> list[FileState]:
        """Every file of the folder with its state ("indexed", "pending", "failed",
        "ignored"); ignored directories end with "/". Reads
        the catalog through its own read-only connection, so a sync may run meanwhile."""
        scan = self.scanner.scan()
        counts: dict[str, int] = {}
        left_out: dict[str, tuple[str, bool]] = {}
        catalog = Catalog(self.index_dir / "catalog.sqlite", read_only=True)
        try:
            counts = catalog.chunk_counts()
            left_out = {path: (reason, failed) for path, reason, failed in catalog.skipped()}
        except sqlite3.Error:
            pass  # a catalog being created right now: everything is pending
        finally:
            catalog.close()
        states = [_file_state(f.path, counts, left_out) for f in scan.files]
        states += [FileState(s.path, "ignored", reason=s.reason) for s in scan.skipped]
        return states

    def apply_scan_settings(self, settings: Settings) -> bool:
        """Take the include/exclude globs and size limit of a reloaded config (the other
        settings need a restart or a rebuild). True when which files belong may change:
        the caller then runs a full sync."""
        old = self.settings.index
        changed = {key: getattr(settings.index, key) for key in SCAN_KEYS}
        if all(getattr(old, key) == value for key, value in changed.items()):
            return False
        with self._sync_lock:
            self.settings = replace(self.settings, index=replace(old, **changed))
            self.scanner = Scanner(self.folder, self.settings.index, self._never)
        return True

    def answerer(self) -> Answerer:
        """Questions about this folder, answered from its index (close it after use)."""
        return open_answerer(
            self.settings,
            self.data_dir,
            self.index_dir,
            self.search,
            embed_with(lambda: self.embedder),
            folder=self.folder,
            indexing=self.indexing_note,
        )

    def indexing_note(self) -> str:
        """How far the sync in progress has got, for an answer given meanwhile."""
        progress = self._progress
        if progress is None:
            return ""
        if progress.phase != "index" or not progress.total:
            return "the folder is still being indexed"
        return f"the folder is still being indexed ({progress.done} of {progress.total} files)"


def _log_not_serving(error: OSError) -> None:
    log.warning("not serving other docsight processes: %s", error)


def _file_state(
    path: str, counts: dict[str, int], left_out: dict[str, tuple[str, bool]]
) -> FileState:
    if path in counts:
        return FileState(path, "indexed", chunks=counts[path])
    if path in left_out:  # the loader refused it (binary content, unreadable...)
        reason, failed = left_out[path]
        return FileState(path, "failed" if failed else "ignored", reason=reason)
    return FileState(path, "pending")


def open_answerer(
    settings: Settings,
    data_dir: Path,
    index_dir: Path,
    search: SearchFn,
    embed: Embed | None = None,
    *,
    folder: Path | None = None,
    indexing: Callable[[], str] | None = None,
) -> Answerer:
    """An `Answerer` over any search (this process's engine, or the owner's through its
    socket) with the model server the settings choose. `folder` lets a quote cite its
    exact lines; `indexing` says how far a sync in progress has got ("" when none)."""
    return Answerer(
        settings,
        search,
        lambda say, cancel: ensure_server(settings, data_dir, say, cancel),
        indexes.conversations_path(index_dir),
        embed,
        folder=folder,
        indexing=indexing,
    )


def forget_index(folder: Path, settings: Settings, data_dir: Path) -> bool:
    """Delete a folder's index (and its collection on a Milvus server); False if none."""
    folder = folder.resolve()
    index_dir = indexes.index_dir_for(folder, data_dir)
    if settings.store.uri and index_dir.exists():
        lock = IndexLock(index_dir, folder)
        lock.acquire()
        try:
            store = VectorStore(
                settings.store,
                index_dir / "milvus.db",
                indexes.collection_name(folder),
                str(folder),
            )
            store.drop()
            store.close()
        finally:
            lock.release()
    return indexes.forget(folder, data_dir)
