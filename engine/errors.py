"""Domain errors. Each carries a one-line message meant for the person at the terminal;
the CLI and the TUI print that line and nothing else (the log file keeps the traceback)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path


class DocsightError(Exception):
    """Base class: str(error) is the user-facing one-line reason."""

    exit_code = 1


class Cancelled(Exception):
    """The sync stopped between two steps at the caller's request; nothing is half-written.
    Not a DocsightError: it is the answer to a request, never a failure to report."""


class LoadSkipped(Exception):
    """Content that does not belong in the index (binary); str() is the reason. Caught by
    the sync, which lists the file as skipped."""


class LoadFailed(Exception):
    """The file could not be read; str() is a one-line reason. Caught by the sync, which
    lists the file as failed."""


class RerankUnavailable(Exception):
    """The remote reranker could not score; the caller rescores locally."""


def os_reason(error: OSError) -> str:
    """An OSError as the few words a file list shows beside the name."""
    if isinstance(error, PermissionError):
        return "permission denied"
    return error.strerror or str(error)


class ConfigError(DocsightError):
    """A setting is wrong; the message names the key and the file it came from."""

    exit_code = 2


class IndexLockedError(DocsightError):
    """Another docsight process owns this folder's index."""

    exit_code = 3

    def __init__(self, folder: str, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "an unknown pid"
        super().__init__(f"the index of {folder} is open in another docsight ({who})")
        self.pid = pid


class RebuildNeeded(DocsightError):
    """The embedding model or chunk settings changed since the index was built."""

    exit_code = 4


class StoreError(DocsightError):
    """The vector store could not be reached or refused an operation."""


class LLMUnavailable(DocsightError):
    """No model server could answer; the reason says what to do."""


class GenerationBroken(LLMUnavailable):
    """The stream stopped with an error after some text arrived; the caller keeps it."""


class DiskFull(DocsightError):
    """The disk holding the data dir is full. Every write is a transaction or journalled
    (DESIGN.md's sync contract), so what was indexed before stays whole."""

    def __init__(self, data_dir: Path, free_bytes: int | None = None) -> None:
        free = "" if free_bytes is None else f", {free_bytes / 1e6:.1f} MB free"
        super().__init__(
            f"the disk holding the data dir ({data_dir}) is full{free}; nothing indexed was "
            "lost: free some space and run the command again"
        )


LOW_SPACE_BYTES = 16 * 1024 * 1024  # below this a sync does not start: Milvus needs room


def check_space(data_dir: Path) -> None:
    """Refuse to start writing on a disk that is (nearly) full: Milvus Lite would fail
    only after minutes of retries, and say "Unexpected error in RPC handling"."""
    try:
        free = shutil.disk_usage(data_dir).free
    except OSError:
        return
    if free < LOW_SPACE_BYTES:
        raise DiskFull(data_dir, free)


# pymilvus' exception classes, by name: this module must not import pymilvus (seconds).
MILVUS_ERRORS = {
    "MilvusException", "ParamError", "DataNotMatchException", "DataTypeNotSupportException",
    "MilvusUnavailableException", "ConnectionNotExistException", "PrimaryKeyException",
    "SchemaNotReadyException", "DescribeCollectionException",
}  # fmt: skip


def translated(error: BaseException, data_dir: Path) -> DocsightError | None:
    """The one-line error for a failure of SQLite, Milvus or the file system that a person
    can act on (a full disk, a store that refused), or None for anything else."""
    if isinstance(error, DocsightError):
        return error
    store_failure = type(error).__name__ in MILVUS_ERRORS
    if _disk_full(error) or (store_failure and _little_space(data_dir)):
        return DiskFull(data_dir)
    if store_failure:
        message = str(getattr(error, "message", "") or error).splitlines()[0][:300]
        return StoreError(f"the vector store failed: {message}")
    return None


def _disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "database or disk is full" in str(error)
    return "no space left on device" in str(error).lower()


def _little_space(data_dir: Path) -> bool:
    """Milvus Lite reports a full disk as "Unexpected error in RPC handling": look."""
    try:
        return shutil.disk_usage(data_dir).free < LOW_SPACE_BYTES
    except OSError:
        return False


class OwnerGone(DocsightError):
    """The docsight process that owned the index stopped while this one was its client."""


class ReadRefused(DocsightError):
    """A path outside the folder, or one docsight would not index, was asked to be read."""


class OwnerRefused(DocsightError):
    """The docsight that owns the index refused a request (engine.protocol); the message is
    its reason."""


class IndexNotOpen(DocsightError):
    """Asked before the index opened, after it failed to, or while docsight closes; the
    message says which."""


class SourceUnreadable(DocsightError):
    """A file of the folder cannot be shown to a person; the message says why."""


class UsageError(DocsightError):
    """A command line names something that cannot be used: a folder that is not one, a
    data dir that is a file."""

    exit_code = 2


class ConversationNotFound(DocsightError):
    """No saved conversation has this id."""

    def __init__(self, conversation_id: str, hint: str = "") -> None:
        super().__init__(f"no conversation {conversation_id}{hint}")


class QuestionsError(DocsightError):
    """A `docsight eval` questions file cannot be used; the message names the file and line."""

    exit_code = 2


class EmbeddingUnavailable(DocsightError):
    """The configured encoder cannot run: a model that does not load, an embedding server
    that does not answer."""


class EmptyQuestion(DocsightError):
    """A question with nothing in it."""

    def __init__(self) -> None:
        super().__init__("the question is empty")
