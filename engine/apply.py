"""Writing a sync plan to Milvus and the catalog without ever leaving them inconsistent.

For each group of files:
  1. journal the new row ids as orphans (committed);
  2. insert the new rows into Milvus;
  3. one catalog transaction: the chunks and files, the new ids leave the journal and the
     replaced ids enter it;
  4. delete the replaced rows from Milvus, then clear them from the journal.
A crash anywhere leaves the journal holding exactly the Milvus rows that no committed chunk
owns; `repair()` in engine/index.py deletes them at the next start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engine.catalog import Catalog, ChunkRow, FileRow
from engine.errors import Cancelled
from engine.events import Event, FileIndexed, FileMoved, FileRemoved, SyncProgress, SyncReport
from engine.plan import Move, Touched
from engine.store import VectorStore
from engine.types import Chunk, ScannedFile

GROUP_ROWS = 2000


@dataclass
class Prepared:
    """A file loaded and chunked, waiting for its rows to be written."""

    scanned: ScannedFile
    content_hash: str
    chunks: list[Chunk]
    added: bool


Step = Prepared | Move | str  # a loaded file, a move, or the path of a deleted file


@dataclass
class Group:
    """The writes of a few files, applied as one unit."""

    insert: list[ChunkRow] = field(default_factory=list)
    keep: list[ChunkRow] = field(default_factory=list)
    drop: list[int] = field(default_factory=list)
    put_files: list[FileRow] = field(default_factory=list)
    drop_files: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    loaded: int = 0  # files among put_files that were loaded (not moved)


class Applier:
    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        model: str,
        vectors_for: Callable[[str, list[Chunk]], list[np.ndarray]],
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.model = model
        self._vectors_for = vectors_for
        self._next_id = catalog.next_chunk_id()
        self._started_ns = time.time_ns()
        self.pending: int | None = None  # loaded files still to commit, when counted

    def apply(
        self,
        steps: Sequence[Step],
        embedded: set[str],
        emit: Callable[[Event], None],
        cancel: threading.Event,
        report: SyncReport,
    ) -> None:
        """Write `steps` (loaded files, moves, deletions) in groups of about GROUP_ROWS
        rows, each group committed on its own; then make them searchable."""
        group = Group()
        for done, item in enumerate(steps, 1):
            if isinstance(item, Prepared):
                self._add_file(group, item, embedded, report)
            elif isinstance(item, Move):
                self._add_move(group, item, report)
            else:
                self._add_delete(group, item, report)
            if len(group.insert) + len(group.drop) >= GROUP_ROWS or done == len(steps):
                self._write(group, emit)
                emit(SyncProgress("write", done, len(steps)))
                group = Group()
                if cancel.is_set() and done < len(steps):
                    raise Cancelled("sync cancelled")
        if steps:
            self.store.flush()

    def touch(self, touched: list[Touched]) -> None:
        """Files whose bytes did not change: only their stat is recorded."""
        if not touched:
            return
        known = self.catalog.files()
        with self.catalog.transaction() as db:
            for file in touched:
                kind = known[file.scanned.path].kind
                Catalog.put_file(db, self._file_row(file.scanned, file.content_hash, kind))

    def _file_row(
        self, scanned: ScannedFile, content_hash: str, kind: str | None = None
    ) -> FileRow:
        return FileRow(
            scanned.path,
            scanned.size,
            scanned.mtime_ns,
            content_hash,
            kind or scanned.kind,
            self._started_ns,
        )

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _add_file(
        self, group: Group, item: Prepared, embedded: set[str], report: SyncReport
    ) -> None:
        old_rows = [] if item.added else self.catalog.chunks_of(item.scanned.path)
        reusable = {_place(r): r for r in old_rows}
        kept_ids: set[int] = set()
        for ordinal, chunk in enumerate(item.chunks):
            old = reusable.pop(_place_of(chunk), None)
            if old is not None:
                kept_ids.add(old.id)
                group.keep.append(replace(old, ord=ordinal))
            else:
                group.insert.append(_chunk_row(self._new_id(), item.scanned.path, ordinal, chunk))
        group.drop.extend(r.id for r in old_rows if r.id not in kept_ids)
        group.put_files.append(self._file_row(item.scanned, item.content_hash))
        group.loaded += 1
        fresh = sum(1 for c in item.chunks if c.hash in embedded)
        report.chunks_reused += len(item.chunks) - fresh
        report.chunks_deleted += len(old_rows) - len(kept_ids)
        if item.added:
            report.files_added += 1
        else:
            report.files_changed += 1
        group.events.append(FileIndexed(item.scanned.path, len(item.chunks), fresh, item.added))

    def _add_move(self, group: Group, move: Move, report: SyncReport) -> None:
        old_rows = self.catalog.chunks_of(move.old_path)
        for row in old_rows:
            group.insert.append(replace(row, id=self._new_id(), path=move.scanned.path))
        group.drop.extend(row.id for row in old_rows)
        group.drop_files.append(move.old_path)
        group.put_files.append(self._file_row(move.scanned, move.content_hash))
        report.files_moved += 1
        group.events.append(FileMoved(move.old_path, move.scanned.path))

    def _add_delete(self, group: Group, path: str, report: SyncReport) -> None:
        old_ids = [row.id for row in self.catalog.chunks_of(path)]
        group.drop.extend(old_ids)
        group.drop_files.append(path)
        report.files_deleted += 1
        report.chunks_deleted += len(old_ids)
        group.events.append(FileRemoved(path))

    def _write(self, group: Group, emit: Callable[[Event], None]) -> None:
        new_ids = [row.id for row in group.insert]
        if group.insert:
            vectors = self._vectors_for(self.model, [r.as_chunk() for r in group.insert])
            self.catalog.add_orphans(new_ids)
            self.store.insert(group.insert, vectors)
        with self.catalog.transaction() as db:
            Catalog.delete_chunks(db, group.drop)
            for path in group.drop_files:
                Catalog.delete_file(db, path)
            Catalog.put_chunks(db, [*group.keep, *group.insert])
            for file_row in group.put_files:
                Catalog.put_file(db, file_row)
            Catalog.clear_orphans_in(db, new_ids)
            Catalog.add_orphans_in(db, group.drop)
            if self.pending is not None:
                self.pending = max(0, self.pending - group.loaded)
                Catalog.sync_state_in(db, self.pending, active=True)
        if group.drop:
            self.store.delete(group.drop)
            self.catalog.clear_orphans(group.drop)
        for event in group.events:
            emit(event)


def _place(row: ChunkRow) -> tuple[object, ...]:
    return (row.hash, row.start_line, row.end_line, row.page, row.heading)


def _place_of(chunk: Chunk) -> tuple[object, ...]:
    return (chunk.hash, chunk.start_line, chunk.end_line, chunk.page, chunk.heading)


def _chunk_row(row_id: int, path: str, ordinal: int, chunk: Chunk) -> ChunkRow:
    return ChunkRow(
        row_id,
        path,
        ordinal,
        chunk.hash,
        chunk.start_line,
        chunk.end_line,
        chunk.page,
        chunk.heading,
        chunk.text,
    )
