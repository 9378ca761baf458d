"""Where indexes live, who owns one, and what each holds.

One index per folder: `<data dir>/indexes/<name>-<hash of the folder path>/`, holding the
catalog (SQLite), the Milvus Lite file, a lock and the owner's pid. Reading status does not
need the lock: SQLite in WAL mode lets a second process read while the owner writes.

The catalog holds the text of every chunk, so the data dir is private like ~/.ssh: its
directories 0700, its files 0600, whatever the umask; modes of an older data dir are
fixed at the next start.

Status `pending` counts the files the current (or an interrupted) sync has still to write;
`in_progress` says a live process is writing them, and they become searchable as they land.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

from engine.catalog import Catalog
from engine.config import Settings
from engine.errors import IndexLockedError
from engine.models import resolve_model
from engine.results import IndexStatus, IndexSummary, LeftOutFile

SERVING = "serving"

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (created if need be)."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    _restrict(path, PRIVATE_DIR)
    return path


def make_private(path: Path) -> None:
    """`path` and everything under it private: directories 0700, files 0600 at most
    (symlinks are left alone)."""
    private_dir(path)
    for directory, subdirs, files in os.walk(path):
        for name in subdirs:
            _restrict(Path(directory, name), PRIVATE_DIR)
        for name in files:
            _restrict(Path(directory, name), PRIVATE_FILE)


def secure_data_dir(data_dir: Path) -> None:
    """The data dir and what docsight keeps in it private, fixing an older one's modes.
    Only docsight's own entries are touched: the data dir may hold other things."""
    private_dir(data_dir)
    for entry in os.scandir(data_dir):
        if entry.name in ("indexes", "llm", "models") and entry.is_dir(follow_symlinks=False):
            make_private(Path(entry.path))
        elif _is_own_file(entry.name) and entry.is_file(follow_symlinks=False):
            _restrict(Path(entry.path), PRIVATE_FILE)


def _is_own_file(name: str) -> bool:
    """The log (and its rotations) and the TUI's remembered theme and questions."""
    return name.startswith("docsight.log") or name == "ui-state.json"


def _restrict(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except OSError:
        pass  # gone meanwhile, or not ours: nothing to protect here


def _folder_key(folder: Path) -> str:
    return hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]


def index_dir_for(folder: Path, data_dir: Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", folder.resolve().name or "root")[:40]
    return data_dir / "indexes" / f"{slug}-{_folder_key(folder)}"


def conversations_path(index_dir: Path) -> Path:
    """Where a folder's saved conversations live, beside its index."""
    return index_dir / "conversations.sqlite"


def collection_name(folder: Path) -> str:
    return f"docsight_{_folder_key(folder)}"


class IndexLock:
    """An exclusive flock on the index directory; the holder's pid is written beside it,
    and "serving" under it when the holder is about to answer other processes on its
    socket (they wait for the socket rather than give up while the owner starts)."""

    def __init__(self, index_dir: Path, folder: Path, serving: bool = False) -> None:
        self.index_dir = index_dir
        self.folder = folder
        self.serving = serving
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.index_dir.parent.parent)  # the data dir
        private_dir(self.index_dir.parent)  # indexes/
        make_private(self.index_dir)
        fd = os.open(self.index_dir / "lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexLockedError(str(self.folder), owner_pid(self.index_dir)) from None
        pid_file = os.open(
            self.index_dir / "owner.pid", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE
        )
        with os.fdopen(pid_file, "w") as handle:
            handle.write(f"{os.getpid()}\n{SERVING if self.serving else ''}\n")
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        (self.index_dir / "owner.pid").unlink(missing_ok=True)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def owner_pid(index_dir: Path) -> int | None:
    """The pid of the process holding the index, or None when nobody does."""
    lock_file = index_dir / "lock"
    if not lock_file.exists():
        return None
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    except BlockingIOError:
        try:
            return int((index_dir / "owner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
    finally:
        os.close(fd)


def owner_serves(index_dir: Path) -> bool:
    """The live owner said it will serve other processes (its socket may not be up yet)."""
    try:
        return SERVING in (index_dir / "owner.pid").read_text().split()[1:]
    except OSError:
        return False


def read_status(folder: Path, settings: Settings, data_dir: Path) -> IndexStatus:
    index_dir = index_dir_for(folder, data_dir)
    status = IndexStatus(
        embedding_model=resolve_model(settings.embedding)[0],
        store_uri=settings.store.uri or str(index_dir / "milvus.db"),
        owner_pid=owner_pid(index_dir),
    )
    catalog_path = index_dir / "catalog.sqlite"
    if not catalog_path.exists():
        return status
    catalog = Catalog(catalog_path, read_only=True)
    try:
        files, chunks = catalog.counts()
        skipped = catalog.skipped()
        last_sync = catalog.get_meta("last_sync")
        pending, active = catalog.sync_state()
        return replace(
            status,
            indexed=last_sync is not None,
            files=files,
            chunks=chunks,
            embedding_model=catalog.get_meta("embedding_model") or status.embedding_model,
            last_sync=float(last_sync) if last_sync else None,
            failed=tuple(LeftOutFile(p, r) for p, r, failed in skipped if failed),
            ignored=sum(1 for _, _, failed in skipped if not failed),
            skipped=tuple(LeftOutFile(p, r) for p, r, failed in skipped if not failed),
            pending=pending,
            # a sync that died leaves its count behind: pending, but nobody is at work on it
            in_progress=active and status.owner_pid is not None,
        )
    except sqlite3.Error:
        return status  # an index being created right now reads as not indexed yet
    finally:
        catalog.close()


def list_indexes(data_dir: Path) -> list[IndexSummary]:
    found = []
    for index_dir in sorted((data_dir / "indexes").glob("*/")):
        catalog_path = index_dir / "catalog.sqlite"
        if not catalog_path.exists():
            continue
        catalog = Catalog(catalog_path, read_only=True)
        try:
            files, chunks = catalog.counts()
            folder = catalog.get_meta("folder") or ""
            last_sync = catalog.get_meta("last_sync")
        except sqlite3.Error:
            continue
        finally:
            catalog.close()
        found.append(
            IndexSummary(
                folder=folder,
                files=files,
                chunks=chunks,
                bytes=_size_on_disk(index_dir),
                last_sync=float(last_sync) if last_sync else None,
                owner_pid=owner_pid(index_dir),
                index_dir=str(index_dir),
            )
        )
    return found


def forget(folder: Path, data_dir: Path) -> bool:
    """Delete a folder's index; False when there was none. Refuses while another owns it."""
    index_dir = index_dir_for(folder, data_dir)
    if not index_dir.exists():
        return False
    lock = IndexLock(index_dir, folder)
    lock.acquire()
    try:
        shutil.rmtree(index_dir)
    finally:
        lock.release()
    return True


def _size_on_disk(directory: Path) -> int:
    total = 0
    for path in directory.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total
