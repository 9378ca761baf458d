"""What the engine reports while it works. Plain data: no UI knows about the engine's
insides and the engine knows nothing of any UI; callers pass a callback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SyncStarted:
    scope: str  # "full" or "paths"


@dataclass(frozen=True)
class SyncProgress:
    # "export": the one-time ONNX export (steps); "index": files loaded of those to load,
    # with the chunks embedded so far and those known to need it; "write": steps committed.
    phase: str
    done: int
    total: int
    chunks_embedded: int = 0
    chunks_to_embed: int = 0


@dataclass(frozen=True)
class FileIndexed:
    path: str
    chunks: int
    embedded: int
    added: bool


@dataclass(frozen=True)
class FileRemoved:
    path: str


@dataclass(frozen=True)
class FileMoved:
    old_path: str
    path: str


@dataclass(frozen=True)
class FileFailed:
    path: str
    reason: str


@dataclass(frozen=True)
class FileSkipped:
    path: str
    reason: str


@dataclass(frozen=True)
class SyncFinished:
    report: Any  # engine.sync.SyncReport


@dataclass(frozen=True)
class WatcherDegraded:
    reason: str


Event = (
    SyncStarted
    | SyncProgress
    | FileIndexed
    | FileRemoved
    | FileMoved
    | FileFailed
    | FileSkipped
    | SyncFinished
    | WatcherDegraded
)
