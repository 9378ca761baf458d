"""Plan a sync: which files to load, which only moved, were touched or were deleted.

A file is changed when size or mtime differ from the catalog, or when its mtime is so
close to its last indexing that a same-size save could hide behind it (git's "racy
timestamp" rule); then its bytes are hashed, and the same hash means touched, not changed.
A new file whose hash equals a vanished file's is a move: its rows are re-keyed from the
catalog without the encoder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.catalog import Catalog, FileRow
from engine.errors import os_reason
from engine.events import FileFailed, FileSkipped
from engine.paths import on_disk, stored
from engine.scan import Scanner
from engine.types import ScannedFile, ScanResult

RACY_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True)
class ToLoad:
    """A file whose bytes the index does not hold: it is loaded, chunked and embedded."""

    scanned: ScannedFile
    content_hash: str
    added: bool  # new to the index (else the index holds an older version of it)


@dataclass(frozen=True)
class Touched:
    """A file whose stat changed but not its bytes: only the stat is recorded."""

    scanned: ScannedFile
    content_hash: str


@dataclass(frozen=True)
class Move:
    """A file that only moved: its rows are re-keyed from the catalog, nothing embedded."""

    old_path: str
    scanned: ScannedFile  # the file where it is now
    content_hash: str


@dataclass
class Plan:
    to_load: list[ToLoad] = field(default_factory=list)
    touched: list[Touched] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # paths whose rows leave the index
    # left out, as the sync reports them: unreadable (the index keeps what it had), not text
    failed: list[FileFailed] = field(default_factory=list)
    skipped: list[FileSkipped] = field(default_factory=list)


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    # O_NONBLOCK: a FIFO put where the scan saw a file must not block the sync.
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Planner:
    """Compares the folder (or some paths of it) with the catalog."""

    def __init__(self, root: Path, scanner: Scanner, catalog: Catalog) -> None:
        self.root = root
        self.scanner = scanner
        self.catalog = catalog

    def scan(self, paths: Iterable[str] | None) -> tuple[ScanResult, set[str] | None]:
        if paths is None:
            return self.scanner.scan(), None
        scope = {stored(p.strip("/")) for p in paths if p.strip("/")}  # as the index has them
        known = self.catalog.files()
        directories = {p for p in scope if on_disk(self.root, p).is_dir() or _has_below(known, p)}
        result = ScanResult()
        singles = {p for p in scope if not _under(p, directories)}  # checked one by one
        if directories:
            full = self.scanner.scan()
            result.files = [f for f in full.files if _under(f.path, directories)]
            result.skipped = [s for s in full.skipped if _under(s.path.rstrip("/"), directories)]
            scope |= {f.path for f in result.files} | {p for p in known if _under(p, directories)}
        for path in sorted(singles):
            found = self.scanner.check(path)
            if isinstance(found, ScannedFile):
                result.files.append(found)
            elif found is not None:
                result.skipped.append(found)
        return result, scope

    def plan(self, scan: ScanResult, scope: set[str] | None) -> Plan:
        plan = Plan()
        known = self.catalog.files()
        retry = {path for path, _, failed in self.catalog.skipped() if failed}
        present = {f.path for f in scan.files}
        gone = [p for p in known if p not in present and (scope is None or p in scope)]
        new_files: list[ScannedFile] = []
        for scanned in scan.files:
            row = known.get(scanned.path)
            if row is None:
                new_files.append(scanned)
            elif scanned.path in retry or _looks_changed(row, scanned):
                self._plan_doubtful(plan, scanned, row)
        self._plan_new(plan, new_files, gone, known)
        moved_from = {move.old_path for move in plan.moved}
        plan.deleted = [p for p in gone if p not in moved_from]
        return plan

    def _plan_doubtful(self, plan: Plan, scanned: ScannedFile, row: FileRow) -> None:
        content_hash = self._hash(scanned.path, plan)
        if content_hash is None:
            return
        if content_hash == row.content_hash and scanned.kind == row.kind:
            plan.touched.append(Touched(scanned, content_hash))
        else:
            plan.to_load.append(ToLoad(scanned, content_hash, added=False))

    def _plan_new(
        self, plan: Plan, new_files: list[ScannedFile], gone: list[str], known: dict[str, FileRow]
    ) -> None:
        by_hash: dict[str, list[str]] = {}
        for path in gone:
            by_hash.setdefault(known[path].content_hash, []).append(path)
        for scanned in new_files:
            content_hash = self._hash(scanned.path, plan)
            if content_hash is None:
                continue
            sources = by_hash.get(content_hash)
            if sources and known[sources[-1]].kind == scanned.kind:
                plan.moved.append(Move(sources.pop(), scanned, content_hash))
            else:
                plan.to_load.append(ToLoad(scanned, content_hash, added=True))

    def _hash(self, path: str, plan: Plan) -> str | None:
        try:
            return file_hash(on_disk(self.root, path))
        except FileNotFoundError:
            return None  # vanished since the scan: the next event or sync sees it gone
        except OSError as error:
            plan.failed.append(FileFailed(path, os_reason(error)))
            return None


def _looks_changed(row: FileRow, scanned: ScannedFile) -> bool:
    if row.size != scanned.size or row.mtime_ns != scanned.mtime_ns:
        return True
    return scanned.mtime_ns >= row.indexed_ns - RACY_WINDOW_NS


def _under(path: str, directories: set[str]) -> bool:
    return any(path == d or path.startswith(d + "/") for d in directories)


def _has_below(known: dict[str, FileRow], directory: str) -> bool:
    prefix = directory + "/"
    return any(path.startswith(prefix) for path in known)
