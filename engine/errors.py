"""Domain errors. Each carries a one-line message meant for the person at the terminal;
the CLI and the TUI print that line and nothing else (the log file keeps the traceback)."""

from __future__ import annotations


class DocsightError(Exception):
    """Base class: str(error) is the user-facing one-line reason."""

    exit_code = 1


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


class OwnerGone(DocsightError):
    """The docsight process that owned the index stopped while this one was its client."""


class ReadRefused(DocsightError):
    """A path outside the folder, or one docsight would not index, was asked to be read."""
