"""Engine events -> what the status line and the folder browser show. Pure functions."""

from __future__ import annotations

import time

from engine import (
    FileFailed,
    FileIndexed,
    FileMoved,
    FileRemoved,
    FileSkipped,
    FileState,
    OwnerChanged,
    SyncFinished,
    SyncProgress,
    SyncStarted,
    WatcherDegraded,
)
from tui.messages import IndexState

FileChange = tuple[str, FileState | None]  # path, new state (None: gone)
UNITS = {"export": "steps"}  # "index": files loaded of those to load


class SyncClock:
    """Measures the rate of the current sync phase ("files/s") from its first event."""

    def __init__(self) -> None:
        self.phase = ""
        self.started = 0.0
        self.done_at_start = 0

    def rate(self, phase: str, done: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        if phase != self.phase:
            self.phase, self.started, self.done_at_start = phase, now, done
            return None
        elapsed = now - self.started
        return (done - self.done_at_start) / elapsed if elapsed > 0.5 else None


def next_state(state: IndexState, event: object, clock: SyncClock, live: bool) -> IndexState:
    """The status after one engine event."""
    if isinstance(event, SyncStarted):
        clock.phase = ""
        return state.but(
            phase="syncing", done=0, total=0, rate=None, seconds_left=None, embedded=0, reused=0
        )
    if isinstance(event, SyncProgress):
        return _progress(state, event, clock)
    if isinstance(event, SyncFinished):
        chunks = getattr(event.report, "chunks_total", state.chunks)
        return state.but(
            phase="watching" if live else "idle",
            chunks=chunks,
            rate=None,
            seconds_left=None,
            last_sync=time.time(),  # the status read after the sync brings the catalog's
            changed=files_changed(event.report),
        )
    if isinstance(event, WatcherDegraded):
        return state.but(degraded=event.reason)
    if isinstance(event, OwnerChanged):
        return state.but(served_by=event.served_by, degraded="")
    return state


def _progress(state: IndexState, event: SyncProgress, clock: SyncClock) -> IndexState:
    if event.phase == "write":  # a batch committing: the files loaded say more
        return state
    rate = clock.rate(event.phase, event.done)
    left = (event.total - event.done) / rate if rate else None
    return state.but(
        phase="syncing",
        done=event.done,
        total=event.total,
        unit=UNITS.get(event.phase, "files"),
        rate=rate,
        seconds_left=left,
        embedded=event.chunks_embedded,
        reused=event.chunks_reused,
    )


def files_changed(report: object) -> int | None:
    """Files a sync added, changed, moved or deleted (None: a report without counts)."""
    counts = ("files_added", "files_changed", "files_moved", "files_deleted")
    found = [getattr(report, name, None) for name in counts]
    return None if None in found else sum(int(n) for n in found if n is not None)


def file_changes(event: object, states: dict[str, FileState]) -> list[FileChange]:
    """How one engine event changes the folder browser (`states`: what it shows now)."""
    if isinstance(event, FileIndexed):
        return [(event.path, FileState(event.path, "indexed", chunks=event.chunks))]
    if isinstance(event, FileRemoved):
        return [(event.path, None)]
    if isinstance(event, FileMoved):
        old = states.get(event.old_path)
        chunks = old.chunks if old is not None else 0
        return [(event.old_path, None), (event.path, FileState(event.path, "indexed", chunks))]
    if isinstance(event, FileFailed):
        return [(event.path, FileState(event.path, "failed", reason=event.reason))]
    if isinstance(event, FileSkipped):
        return [(event.path, FileState(event.path, "ignored", reason=event.reason))]
    return []
