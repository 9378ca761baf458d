"""What the engine reports while it works. Plain data: no UI knows about the engine's
insides and the engine knows nothing of any UI; callers pass a callback."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, get_args


@dataclass
class SyncReport:
    """What one sync did: the document `docsight index --json` prints."""

    files_scanned: int = 0
    files_added: int = 0
    files_changed: int = 0
    files_deleted: int = 0
    files_moved: int = 0
    files_failed: int = 0
    files_ignored: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict[str, float | int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SyncStarted:
    scope: str  # "full" or "paths"


@dataclass(frozen=True)
class SyncProgress:
    # "export": the one-time ONNX export (steps); "index": files loaded of those to load,
    # with the chunks embedded so far, those known to need it, and those whose vectors the
    # catalog's cache already held (reused, not embedded); "write": steps committed.
    phase: str
    done: int
    total: int
    chunks_embedded: int = 0
    chunks_to_embed: int = 0
    chunks_reused: int = 0


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
    report: SyncReport


@dataclass(frozen=True)
class WatcherDegraded:
    reason: str


@dataclass(frozen=True)
class OwnerChanged:
    """Who serves this process's index now: `served_by` is the owner's pid when this
    process is its client, None when this process owns the index."""

    served_by: int | None


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
    | OwnerChanged
)
EVENT_TYPES: dict[str, type[Any]] = {kind.__name__: kind for kind in get_args(Event)}


def to_json(event: Event) -> dict[str, Any]:
    """An event as the owner sends it to its clients: {"type": class name, **fields}."""
    if isinstance(event, SyncFinished):
        return {"type": "SyncFinished", "report": event.report.as_json()}
    return {"type": type(event).__name__, **asdict(event)}


def from_json(document: dict[str, Any]) -> Event:
    """The event `to_json` wrote (a sync report comes back as a `SyncReport`)."""
    fields = dict(document)
    kind = EVENT_TYPES[str(fields.pop("type"))]
    if kind is SyncFinished:
        return SyncFinished(SyncReport(**fields["report"]))
    event: Event = kind(**fields)
    return event
