"""The catalog: what the index holds, in SQLite next to the vectors.

It records each indexed file (stat and content hash), each chunk row written to Milvus,
files left out and why, the embedding cache keyed by (model, chunk hash), and the row ids
written to Milvus but not yet committed here (`orphans`): the journal that lets the next
start repair a crash at any point.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from engine.types import Chunk
from engine.units import UNITS_VERSION

T = TypeVar("T")

if TYPE_CHECKING:  # numpy is imported where vectors are read: `status` needs none of it
    import numpy as np

PENDING_KEY = "sync_pending"  # meta: files the running (or an interrupted) sync has to write
IN_PART = 500  # values bound to one `IN (...)`, well under SQLite's limit on parameters
ACTIVE_KEY = "sync_active"  # meta: "1" while a sync runs; the owner clears it when it opens

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL, kind TEXT NOT NULL, indexed_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, ord INTEGER NOT NULL, hash TEXT NOT NULL,
    start_line INTEGER, end_line INTEGER, page INTEGER, heading TEXT NOT NULL,
    text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE TABLE IF NOT EXISTS skipped (
    path TEXT PRIMARY KEY, reason TEXT NOT NULL, failed INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL, last_used INTEGER NOT NULL,
    PRIMARY KEY (model, hash));
CREATE TABLE IF NOT EXISTS orphans (id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS units (
    model TEXT NOT NULL, hash TEXT NOT NULL, vectors BLOB NOT NULL, PRIMARY KEY (model, hash));
"""


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    kind: str
    indexed_ns: int


@dataclass(frozen=True)
class ChunkRow:
    id: int
    path: str
    ord: int
    hash: str
    start_line: int | None
    end_line: int | None
    page: int | None
    heading: str
    text: str

    def as_chunk(self) -> Chunk:
        return Chunk(self.text, self.start_line, self.end_line, self.page, self.heading, self.hash)


def units_key(model: str) -> str:
    """Unit vectors are keyed by model and splitter version: a new splitter recomputes
    them as they are needed, and nothing else."""
    return f"{model}#units{UNITS_VERSION}"


class Catalog:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if not read_only and not path.exists():  # it holds every chunk's text: 0600
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        if not read_only:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    # meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, values: dict[str, str]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", values.items()
            )

    def sync_state(self) -> tuple[int, bool]:
        """(files the last sync has still to write, whether a sync is running)."""
        return int(self.get_meta(PENDING_KEY) or 0), self.get_meta(ACTIVE_KEY) == "1"

    def set_sync_state(self, pending: int, active: bool) -> None:
        with self._db:
            self.sync_state_in(self._db, pending, active)

    @staticmethod
    def sync_state_in(db: sqlite3.Connection, pending: int, active: bool) -> None:
        """Inside the transaction that commits files, so the count never disagrees with
        the files recorded, whenever the process stops."""
        db.executemany(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            [(PENDING_KEY, str(pending)), (ACTIVE_KEY, "1" if active else "")],
        )

    # files and chunks --------------------------------------------------------------------
    def files(self) -> dict[str, FileRow]:
        rows = self._db.execute("SELECT * FROM files").fetchall()
        return {row["path"]: FileRow(**dict(row)) for row in rows}

    def chunks_of(self, path: str) -> list[ChunkRow]:
        rows = self._db.execute("SELECT * FROM chunks WHERE path = ? ORDER BY ord", (path,))
        return [ChunkRow(**dict(row)) for row in rows]

    def chunks_by_ids(self, ids: Sequence[int]) -> list[ChunkRow]:
        found: list[ChunkRow] = []
        for part, marks in _in_parts(ids):
            rows = self._db.execute(f"SELECT * FROM chunks WHERE id IN ({marks})", part)
            found.extend(ChunkRow(**dict(row)) for row in rows)
        return found

    def chunk_ids(self) -> set[int]:
        return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def next_chunk_id(self) -> int:
        high = self._db.execute(
            "SELECT MAX(m) FROM (SELECT MAX(id) AS m FROM chunks UNION ALL "
            "SELECT MAX(id) FROM orphans)"
        ).fetchone()[0]
        return int(high or 0) + 1

    def chunk_counts(self) -> dict[str, int]:
        """Chunks per indexed file (0 for a file that holds none, an empty one)."""
        counts = dict.fromkeys(self.files(), 0)
        rows = self._db.execute("SELECT path, COUNT(*) FROM chunks GROUP BY path")
        counts.update({str(path): int(n) for path, n in rows})
        return counts

    def counts(self) -> tuple[int, int]:
        files = self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        chunks = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return int(files), int(chunks)

    @staticmethod
    def put_file(db: sqlite3.Connection, row: FileRow) -> None:
        db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (row.path, row.size, row.mtime_ns, row.content_hash, row.kind, row.indexed_ns),
        )
        db.execute("DELETE FROM skipped WHERE path = ?", (row.path,))

    @staticmethod
    def put_chunks(db: sqlite3.Connection, rows: Iterable[ChunkRow]) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.id, r.path, r.ord, r.hash, r.start_line, r.end_line, r.page, r.heading, r.text)
                for r in rows
            ],
        )

    @staticmethod
    def delete_chunks(db: sqlite3.Connection, ids: Sequence[int]) -> None:
        db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in ids])

    @staticmethod
    def delete_file(db: sqlite3.Connection, path: str) -> None:
        db.execute("DELETE FROM files WHERE path = ?", (path,))

    # skipped and failed ------------------------------------------------------------------
    def replace_skipped(
        self, entries: Iterable[tuple[str, str, bool]], paths: set[str] | None
    ) -> None:
        """Record files left out. With `paths`, only those entries are replaced."""
        with self._db:
            if paths is None:
                self._db.execute("DELETE FROM skipped")
            else:
                self._db.executemany("DELETE FROM skipped WHERE path = ?", [(p,) for p in paths])
            self._db.executemany(
                "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?)",
                [(path, reason, int(failed)) for path, reason, failed in entries],
            )

    def skipped(self) -> list[tuple[str, str, bool]]:
        rows = self._db.execute("SELECT path, reason, failed FROM skipped ORDER BY path")
        return [(row[0], row[1], bool(row[2])) for row in rows]

    # orphans: ids written to Milvus that no committed chunk row owns --------------------
    def add_orphans(self, ids: Iterable[int]) -> None:
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO orphans VALUES (?)", [(i,) for i in ids])

    @staticmethod
    def add_orphans_in(db: sqlite3.Connection, ids: Iterable[int]) -> None:
        db.executemany("INSERT OR IGNORE INTO orphans VALUES (?)", [(i,) for i in ids])

    @staticmethod
    def clear_orphans_in(db: sqlite3.Connection, ids: Iterable[int]) -> None:
        db.executemany("DELETE FROM orphans WHERE id = ?", [(i,) for i in ids])

    def orphans(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT id FROM orphans")]

    def clear_orphans(self, ids: Iterable[int]) -> None:
        with self._db:
            self.clear_orphans_in(self._db, ids)

    # embedding cache ---------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        import numpy as np

        found: dict[str, np.ndarray] = {}
        for part, marks in _in_parts(hashes):
            rows = self._db.execute(
                f"SELECT hash, vector FROM embeddings WHERE model = ? AND hash IN ({marks})",
                [model, *part],
            )
            found.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
        if found:
            now = time.time_ns()
            with self._db:
                self._db.executemany(
                    "UPDATE embeddings SET last_used = ? WHERE model = ? AND hash = ?",
                    [(now, model, h) for h in found],
                )
        return found

    def cached_hashes(self, model: str, hashes: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part, marks in _in_parts(hashes):
            rows = self._db.execute(
                f"SELECT hash FROM embeddings WHERE model = ? AND hash IN ({marks})",
                [model, *part],
            )
            found.update(row[0] for row in rows)
        return found

    def cache_vectors(
        self,
        model: str,
        vectors: dict[str, np.ndarray],
        units: dict[str, np.ndarray] | None = None,
    ) -> None:
        import numpy as np

        now = time.time_ns()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                [(model, h, v.astype(np.float32).tobytes(), now) for h, v in vectors.items()],
            )
            self.cache_units_in(self._db, model, units or {})

    @staticmethod
    def cache_units_in(db: sqlite3.Connection, model: str, units: dict[str, np.ndarray]) -> None:
        """Unit (sentence) vectors of chunks, float16: rescoring only compares them."""
        import numpy as np

        db.executemany(
            "INSERT OR REPLACE INTO units VALUES (?, ?, ?)",
            [(units_key(model), h, m.astype(np.float16).tobytes()) for h, m in units.items()],
        )

    def cache_units(self, model: str, units: dict[str, np.ndarray]) -> None:
        with self._db:
            self.cache_units_in(self._db, model, units)

    def vectors_and_units(
        self, model: str, hashes: Sequence[str]
    ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Read-only lookup for search: each cached chunk vector with its unit vectors
        (None where units were never computed)."""
        import numpy as np

        found: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        unique = list(dict.fromkeys(hashes))
        for part, marks in _in_parts(unique):
            rows = self._db.execute(
                f"SELECT e.hash, e.vector, u.vectors FROM embeddings e LEFT JOIN units u "
                f"ON u.model = ? AND u.hash = e.hash WHERE e.model = ? AND e.hash IN ({marks})",
                [units_key(model), model, *part],
            )
            for chunk_hash, vector, unit_blob in rows:
                chunk_vector = np.frombuffer(vector, dtype=np.float32)
                units = None
                if unit_blob is not None:
                    flat = np.frombuffer(unit_blob, dtype=np.float16).astype(np.float32)
                    units = flat.reshape(-1, chunk_vector.size)
                found[chunk_hash] = (chunk_vector, units)
        return found

    def trim_cache(self, max_bytes: int) -> int:
        """Drop entries no chunk uses, oldest use first, until the cache fits; returns count."""
        total = self._db.execute(
            "SELECT (SELECT COALESCE(SUM(LENGTH(vector)), 0) FROM embeddings) + "
            "(SELECT COALESCE(SUM(LENGTH(vectors)), 0) FROM units)"
        )
        excess = int(total.fetchone()[0]) - max_bytes
        if excess <= 0:
            return 0
        unused = self._db.execute(
            "SELECT e.model, e.hash, LENGTH(e.vector) + COALESCE(LENGTH(u.vectors), 0) "
            "FROM embeddings e LEFT JOIN units u ON u.model = e.model || ? AND u.hash = e.hash "
            "WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.hash = e.hash) ORDER BY last_used",
            (units_key(""),),
        ).fetchall()
        doomed: list[tuple[str, str]] = []
        for model, chunk_hash, size in unused:
            if excess <= 0:
                break
            doomed.append((model, chunk_hash))
            excess -= size
        with self._db:
            self._db.executemany("DELETE FROM embeddings WHERE model = ? AND hash = ?", doomed)
            self._db.executemany(
                "DELETE FROM units WHERE model = ? AND hash = ?",
                [(units_key(model), chunk_hash) for model, chunk_hash in doomed],
            )
        return len(doomed)

    def cache_entries(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def reset_index(self) -> None:
        """Forget files and chunks (a rebuild); the embedding cache stays."""
        with self._db:
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM chunks")
            self._db.execute("DELETE FROM orphans")


def _in_parts(values: Sequence[T]) -> Iterator[tuple[list[T], str]]:
    """`values` in slices of IN_PART, each with the placeholders of its `IN (...)`."""
    for start in range(0, len(values), IN_PART):
        part = list(values[start : start + IN_PART])
        yield part, ",".join("?" * len(part))
