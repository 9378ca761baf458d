"""Sync: make the index equal to the folder, embedding only text it has never seen.

    scan -> plan (engine/plan.py: stat first, hash only the doubtful) -> load + chunk
         -> embed cache misses -> write rows (engine/apply.py)

Files to load are indexed in batches, smallest first, each loaded, embedded and committed
before the next is read: a first index is searchable from its first batch on, `status`
counts the files still pending, and a crash loses at most the batch in flight (its
embeddings are cached already). Batches start small, so the first results come within
seconds, and grow.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.apply import Applier, Prepared
from engine.catalog import Catalog
from engine.chunk import chunk_document, embedding_text
from engine.embed import Embedder
from engine.errors import Cancelled, LoadFailed, LoadSkipped
from engine.events import Event, FileFailed, FileSkipped, SyncProgress, SyncReport
from engine.load import load
from engine.paths import on_disk
from engine.plan import Plan, Planner, ToLoad
from engine.scan import Scanner
from engine.store import VectorStore
from engine.types import Chunk, ScanResult
from engine.units import unit_spans

log = logging.getLogger(__name__)

EMBED_BATCH = 32  # one encoder batch (embedding.batch_size): a cancel waits for at most one
FIRST_BATCH_CHUNKS = 8  # under a second of encoder time: the first files show up fast
MAX_BATCH_CHUNKS = 512  # then batches double up to this (~15 s of encoder time on 2 cores)
MAX_BATCH_FILES = 200  # files whose chunks are all cached still commit in bounded steps


@dataclass
class Tally:
    """What SyncProgress("index") says so far: files loaded of those to load, chunks
    embedded, those known to need it, and those whose vectors the cache already held."""

    files_total: int
    files_done: int = 0
    embedded: int = 0
    to_embed: int = 0
    reused: int = 0

    def event(self) -> SyncProgress:
        return SyncProgress(
            "index", self.files_done, self.files_total, self.embedded, self.to_embed, self.reused
        )


class Syncer:
    def __init__(
        self,
        root: Path,
        scanner: Scanner,
        catalog: Catalog,
        store: VectorStore,
        embedder: Callable[[], Embedder],
        chunk_size: int,
        chunk_overlap: int,
    ) -> None:
        self.root = root
        self.scanner = scanner
        self.catalog = catalog
        self.store = store
        self._embedder = embedder
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._planner = Planner(root, scanner, catalog)

    def run(
        self,
        paths: Iterable[str] | None = None,
        on_event: Callable[[Event], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncReport:
        """Sync the whole folder, or only `paths` (relative: files or directories)."""
        started = time.monotonic()
        emit = on_event or (lambda event: None)
        cancel = cancel or threading.Event()
        report = SyncReport()
        scan, scope = self._planner.scan(paths)
        report.files_scanned = len(scan.files)
        plan = self._planner.plan(scan, scope)
        model = self._embedder().model_id if plan.to_load or plan.moved else ""
        applier = Applier(self.catalog, self.store, model, self._vectors_for)
        applier.touch(plan.touched)
        self.catalog.set_sync_state(len(plan.to_load), active=True)
        applier.pending = len(plan.to_load)
        try:
            applier.apply([*plan.moved, *plan.deleted], set(), emit, cancel, report)
            self._index_in_batches(plan, model, applier, emit, cancel, report)
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # what is left stays pending
                self.catalog.set_sync_state(self.catalog.sync_state()[0], active=False)
            raise
        self.catalog.set_sync_state(0, active=False)
        self._record_skipped(scan, scope, plan, emit)
        unreadable = sum(1 for entry in scan.skipped if entry.failed)  # as `status` counts
        report.files_failed = len(plan.failed) + unreadable
        report.files_ignored = len(scan.skipped) - unreadable + len(plan.skipped)
        report.chunks_total = self.catalog.counts()[1]
        report.seconds = round(time.monotonic() - started, 3)
        return report

    def _index_in_batches(
        self,
        plan: Plan,
        model: str,
        applier: Applier,
        emit: Callable[[Event], None],
        cancel: threading.Event,
        report: SyncReport,
    ) -> None:
        """Load, embed and commit `plan.to_load` a batch at a time, smallest files first:
        the first batch costs the encoder least, so the first files are searchable soonest
        (a scan-order first batch can be one manual page of a hundred chunks)."""
        todo = sorted(plan.to_load, key=lambda file: file.scanned.size)
        limit = FIRST_BATCH_CHUNKS
        tally = Tally(len(plan.to_load))
        while todo:
            deleted_before = len(plan.deleted)
            prepared, taken = self._prepare(plan, todo, limit, emit, cancel, tally)
            del todo[:taken]
            embedded = self._embed_missing(model, prepared, emit, cancel, report, tally)
            became_deleted = plan.deleted[deleted_before:]  # text once, not any more
            applier.apply([*prepared, *became_deleted], embedded, emit, cancel, report)
            applier.pending = len(todo)  # files that could not be loaded count as done
            self.catalog.set_sync_state(len(todo), active=True)
            limit = min(limit * 2, MAX_BATCH_CHUNKS)

    # load, chunk, embed -------------------------------------------------------------------
    def _prepare(
        self,
        plan: Plan,
        todo: list[ToLoad],
        chunk_limit: int,
        emit: Callable[[Event], None],
        cancel: threading.Event,
        tally: Tally,
    ) -> tuple[list[Prepared], int]:
        """Load and chunk files from the front of `todo` until the batch holds
        `chunk_limit` chunks; returns them and how many files of `todo` were taken."""
        prepared: list[Prepared] = []
        chunks = taken = 0
        for file in todo:
            if chunks >= chunk_limit or taken >= MAX_BATCH_FILES:
                break
            if cancel.is_set():
                raise Cancelled("sync cancelled")
            taken += 1
            item = self._load_one(plan, file)
            if item is not None:
                prepared.append(item)
                chunks += len(item.chunks)
            tally.files_done += 1
            emit(tally.event())
        return prepared, taken

    def _load_one(self, plan: Plan, file: ToLoad) -> Prepared | None:
        path = file.scanned.path
        try:
            document = load(self.root, file.scanned)
        except LoadSkipped as skip:
            plan.skipped.append(FileSkipped(path, str(skip)))
            if not file.added:  # it was text once; what it is now must leave the index
                plan.deleted.append(path)
            return None
        except LoadFailed as failure:
            if not on_disk(self.root, path).exists():
                plan.deleted.extend([] if file.added else [path])
            else:  # keep what the index had: a passing error must not lose it
                plan.failed.append(FileFailed(path, str(failure)))
            return None
        chunks = chunk_document(document, self.chunk_size, self.chunk_overlap)
        return Prepared(file.scanned, file.content_hash, chunks, file.added)

    def _embed_missing(
        self,
        model: str,
        prepared: list[Prepared],
        emit: Callable[[Event], None],
        cancel: threading.Event,
        report: SyncReport,
        tally: Tally,
    ) -> set[str]:
        """Embed every chunk text the cache lacks, batch by batch; returns their hashes."""
        wanted = {c.hash: c for p in prepared for c in p.chunks}
        if not wanted:
            return set()
        cached = self.catalog.cached_hashes(model, list(wanted))
        missing = [wanted[h] for h in wanted if h not in cached]
        # counted as the applier counts `chunks_reused`: each chunk not embedded here
        tally.reused += sum(1 for p in prepared for c in p.chunks if c.hash in cached)
        tally.to_embed = tally.embedded + len(missing)
        emit(tally.event())
        missing.sort(key=lambda c: len(c.text))  # batches of like length pad less
        for start in range(0, len(missing), EMBED_BATCH):
            if cancel.is_set():
                raise Cancelled("sync cancelled")
            batch = missing[start : start + EMBED_BATCH]
            self.catalog.cache_vectors(model, *encode_chunks(self._embedder(), batch))
            report.chunks_embedded += len(batch)
            tally.embedded += len(batch)
            emit(tally.event())
        return {c.hash for c in missing}

    def _vectors_for(self, model: str, chunks: list[Chunk]) -> list[np.ndarray]:
        """Vectors for chunks about to be written: the cache, or the encoder for a stray miss."""
        found = self.catalog.cached_vectors(model, [c.hash for c in chunks])
        strays = [c for c in {c.hash: c for c in chunks}.values() if c.hash not in found]
        if strays:
            fresh, units = encode_chunks(self._embedder(), strays)
            self.catalog.cache_vectors(model, fresh, units)
            found.update(fresh)
        return [found[c.hash] for c in chunks]

    # left out -----------------------------------------------------------------------------
    def _record_skipped(
        self, scan: ScanResult, scope: set[str] | None, plan: Plan, emit: Callable[[Event], None]
    ) -> None:
        entries = [(s.path, s.reason, s.failed) for s in scan.skipped]
        entries += [(left.path, left.reason, False) for left in plan.skipped]
        entries += [(left.path, left.reason, True) for left in plan.failed]
        self.catalog.replace_skipped(entries, scope)
        for skipped in plan.skipped:
            emit(skipped)
        for failed in plan.failed:
            log.warning("%s: %s", failed.path, failed.reason)
            emit(failed)


def encode_chunks(
    embedder: Embedder, chunks: list[Chunk]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Chunk vectors and their unit vectors from one encoder pass, by chunk hash."""
    texts = [embedding_text(chunk) for chunk in chunks]
    spans = [unit_spans(text, chunk.text) for text, chunk in zip(texts, chunks, strict=True)]
    vectors, units = embedder.embed_with_units(texts, spans)
    by_hash = {c.hash: v for c, v in zip(chunks, vectors, strict=True)}
    return by_hash, {c.hash: u for c, u in zip(chunks, units, strict=True)}
