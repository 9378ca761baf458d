"""Watch: a watchdog observer on the folder, debounced into batched syncs.

The watcher knows nothing of any UI: it calls `on_event` with engine events. File events
only collect paths; a worker thread waits for `debounce_ms` of quiet (or `max_wait_ms` of
a continuous stream) and syncs the collected paths in one batch. A change to an ignore
file or to the config's include/exclude globs, or events the system lost, turn the next
batch into a full sync. A directory in a batch becomes the files below it (on disk, or in
the catalog when it is gone), so a batch never costs a scan of the whole folder.
"""

from __future__ import annotations

import bisect
import errno
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from engine.config import load_settings
from engine.errors import Cancelled, DocsightError
from engine.events import Event, WatcherDegraded
from engine.kinds import EDITOR_NAMES, IGNORE_FILES, SKIPPED_DIRS
from engine.serve import OwnerServer

if TYPE_CHECKING:  # the engine imports this module when it starts following the folder
    from engine.engine import Engine

log = logging.getLogger(__name__)

INOTIFY_HELP = (
    "the system refused more file watches (inotify limit); polling instead. "
    "Raise it with: sudo sysctl fs.inotify.max_user_watches=524288"
)
OVERFLOW_HELP = (
    "the system dropped file events (its event queue overflowed); rescanning the folder. "
    "Raise the queue with: sudo sysctl fs.inotify.max_queued_events=65536"
)


class _OverflowAlarm(logging.Handler):
    """watchdog rebuilds its inotify watches when the kernel's event queue overflows and
    tells only its log; that log record is the one signal that events were lost. All
    inotify observers of a process share one queue, so every watcher rescans."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.watchers: weakref.WeakSet[Watcher] = weakref.WeakSet()

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in str(record.msg).lower():
            for watcher in list(self.watchers):
                watcher.events_lost()


_ALARM = _OverflowAlarm()
logging.getLogger("watchdog.observers").addHandler(_ALARM)


class _Collector(FileSystemEventHandler):
    """watchdog thread -> relative paths handed to the watcher."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type == "modified":
            return  # a directory's mtime changes with every file event inside it
        paths = [event.src_path, getattr(event, "dest_path", "")]
        self.watcher.touch([os.fsdecode(p) for p in paths if p])


class _ConfigCollector(FileSystemEventHandler):
    """Events in the config file's folder -> a reload when the config file itself changed
    (editors replace it, so a move onto it counts too)."""

    def __init__(self, watcher: Watcher, config_path: Path) -> None:
        self.watcher = watcher
        self.config_path = os.fsdecode(config_path)

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        if self.config_path in paths and event.event_type not in ("opened", "closed_no_write"):
            self.watcher.config_changed()


def _files_below(directory: str, root: str, never: list[str]) -> list[str]:
    """Relative paths of the files below `directory`, skipping what is never indexed."""
    found: list[str] = []
    for parent, dirnames, filenames in os.walk(directory):
        dirnames[:] = [
            d for d in dirnames if d not in SKIPPED_DIRS and os.path.join(parent, d) not in never
        ]
        base = Path(os.path.relpath(parent, root)).as_posix()
        found += [f"{base}/{name}" for name in filenames if not EDITOR_NAMES.match(name)]
    return found


def _watched(observer: BaseObserver) -> set[str] | None:
    """The directories inotify watches, or None where this watchdog does not tell."""
    watched: set[str] = set()
    for emitter in observer.emitters:
        paths = getattr(getattr(emitter, "_inotify", None), "_active_callbacks_by_path", None)
        if paths is None:
            return None
        watched.update(os.fsdecode(p) for p in paths)
    return watched


def _unwatched(observer: BaseObserver, root: str) -> list[str]:
    """Directories below `root` that inotify does not watch. watchdog 7 skips a folder the
    kernel refuses a watch (the max_user_watches limit) with no error, and only a refused
    root raises; its watch list is the one way to tell."""
    watched = _watched(observer)
    if watched is None:
        return []  # an older watchdog: a refused watch raised at start
    missing = []
    for parent, dirnames, _ in os.walk(root):
        if parent not in watched:
            missing.append(parent)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(parent, d))]
    if missing:  # folders made a moment ago may not be watched yet: give watchdog time
        time.sleep(0.5)
        watched = _watched(observer) or set()
        missing = [d for d in missing if d not in watched and os.path.isdir(d)]
    return missing


def _known_below(known: list[str], directory: str) -> list[str]:
    """The paths of sorted `known` that lie below `directory`."""
    prefix = directory + "/"
    start = bisect.bisect_left(known, prefix)
    end = bisect.bisect_left(known, directory + "0")  # "0" sorts right after "/"
    return known[start:end]


class Watcher:
    def __init__(
        self,
        engine: Engine,
        on_event: Callable[[Event], None] | None = None,
        debounce_ms: int | None = None,
        max_wait_ms: int = 3000,
    ) -> None:
        self.engine = engine
        self.on_event = on_event or (lambda event: None)
        debounce = engine.settings.watch.debounce_ms if debounce_ms is None else debounce_ms
        self.debounce = debounce / 1000
        self.max_wait = max(max_wait_ms / 1000, self.debounce)
        self.degraded: str | None = None
        self._root = str(engine.folder)
        self._never = [str(engine.data_dir)]
        self._pending: set[str] = set()
        self._full = False
        self._reload = False
        self._failed: set[str] = set()  # paths whose last sync failed (retried once)
        self._first = self._last = 0.0
        self._busy = False
        self._stopping = False
        self._cond = threading.Condition()
        self._cancel = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None

    # lifecycle ----------------------------------------------------------------------------
    def start(self, sweep: bool = True) -> None:
        """Watch first, then sweep: nothing that changes during the sweep is missed."""
        self._observer = self._start_observer()
        self._watch_config(self._observer)
        with self._cond:
            self._full = sweep
            self._first = self._last = time.monotonic() - self.max_wait
        self._worker = threading.Thread(target=self._run, name="docsight-watch", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching; a sync in progress ends between two files, nothing half-written."""
        _ALARM.watchers.discard(self)
        if self._observer is not None:
            self._observer.stop()
        with self._cond:
            self._stopping = True
            self._cancel.set()
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout)
        if self._observer is not None:
            self._observer.join(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is pending or syncing (tests and benchmarks wait on this)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._full or self._reload or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def _start_observer(self) -> BaseObserver:
        try:
            observer = self._start_inotify()
            _ALARM.watchers.add(self)
            return observer
        except OSError as error:
            log.warning("inotify failed (%s); falling back to polling", error)
            self._degrade(INOTIFY_HELP)
        polling = PollingObserver(timeout=1.0)
        polling.schedule(_Collector(self), self._root, recursive=True)
        polling.start()
        return polling

    def _start_inotify(self) -> BaseObserver:
        observer: BaseObserver = Observer()
        observer.schedule(_Collector(self), self._root, recursive=True)
        observer.start()
        unwatched = _unwatched(observer, self._root)
        if unwatched:
            observer.stop()
            observer.join()
            raise OSError(errno.ENOSPC, f"{len(unwatched)} folders unwatched, {unwatched[0]} first")
        return observer

    def _watch_config(self, observer: BaseObserver) -> None:
        config = self.engine.config_path
        if config is None or not config.parent.is_dir():
            return
        try:
            observer.schedule(_ConfigCollector(self, config), str(config.parent), recursive=False)
        except OSError as error:  # the folder still is watched; only config edits are not
            log.warning("cannot watch %s: %s", config, error)

    def config_changed(self) -> None:
        """The config file changed: reload it in the worker before the next batch."""
        with self._cond:
            self._reload = True
            self._first = self._last = time.monotonic()
            self._cond.notify_all()

    def _apply_config(self) -> bool:
        """True when the reloaded globs change which files belong."""
        try:
            settings = load_settings(self.engine.config_path)
        except DocsightError as error:  # a half-saved or broken config: keep the old one
            log.warning("config not applied: %s", error)
            return False
        return self.engine.apply_scan_settings(settings)

    def _degrade(self, reason: str) -> None:
        if self.degraded is None:  # said once, not on every event
            self.degraded = reason
            self.on_event(WatcherDegraded(reason))

    # events in ----------------------------------------------------------------------------
    def touch(self, absolute_paths: list[str]) -> None:
        relative = [r for r in map(self._relative, absolute_paths) if r is not None]
        if not relative:
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending and not self._full:
                self._first = now
            self._last = now
            for path in relative:
                if path.rsplit("/", 1)[-1] in IGNORE_FILES:
                    self._full = True  # which files belong may have changed anywhere
                self._pending.add(path)
            self._cond.notify_all()

    def request_full_sync(self) -> None:
        with self._cond:
            self._full = True
            self._cond.notify_all()

    def events_lost(self) -> None:
        """The system dropped events: say so once, and rescan the whole folder."""
        self._degrade(OVERFLOW_HELP)
        self.request_full_sync()

    def _relative(self, path: str) -> str | None:
        if any(path == n or path.startswith(n + os.sep) for n in self._never):
            return None
        if path == self._root or not path.startswith(self._root + os.sep):
            return None
        rel = Path(os.path.relpath(path, self._root)).as_posix()
        parts = rel.split("/")
        if EDITOR_NAMES.match(parts[-1]) or SKIPPED_DIRS.intersection(parts):
            return None  # a save in progress, or .git and its kin: never indexed
        return rel

    def _expand(self, paths: set[str]) -> list[str]:
        """Files only: a directory becomes the files below it, on disk or, when it is
        gone, in the catalog (the sync then sees them gone, or moved)."""
        files: set[str] = set()
        known: list[str] | None = None
        for rel in paths:
            absolute = os.path.join(self._root, rel)
            if os.path.isdir(absolute) and not os.path.islink(absolute):
                files.update(_files_below(absolute, self._root, self._never))
                continue
            files.add(rel)
            if not os.path.lexists(absolute):
                known = self.engine.indexed_paths() if known is None else known
                files.update(_known_below(known, rel))
        return sorted(files)

    # the worker ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._sync(*batch)
                self._failed -= batch[0]
            except Cancelled:
                return
            except DocsightError as error:
                log.warning("sync failed: %s", error)
                self.on_event(WatcherDegraded(f"sync failed: {error}"))
                self._retry_once(batch[0])
            except Exception:  # the watcher must outlive one bad sync
                log.exception("sync failed")
                self._retry_once(batch[0])
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _retry_once(self, paths: set[str]) -> None:
        """A failed batch's paths go back in the queue once: a passing failure (a busy
        store) loses nothing, and a lasting one does not loop."""
        again = paths - self._failed
        self._failed |= paths
        if again:
            with self._cond:
                if not self._pending:
                    self._first = time.monotonic()
                self._pending |= again
                self._last = time.monotonic()
                self._cond.notify_all()

    def _sync(self, paths: set[str], full: bool, reload: bool) -> None:
        if reload and self._apply_config():
            full = True
        if not full and not paths:
            return
        scope = None if full else self._expand(paths)
        if scope == []:
            return  # only empty directories came or went
        self.engine.sync(scope, self.on_event, self._cancel)

    def _next_batch(self) -> tuple[set[str], bool, bool] | None:
        with self._cond:
            while not self._stopping:
                if not self._pending and not self._full and not self._reload:
                    self._cond.wait()
                    continue
                now = time.monotonic()
                quiet, age = now - self._last, now - self._first
                if quiet < self.debounce and age < self.max_wait:
                    self._cond.wait(min(self.debounce - quiet, self.max_wait - age))
                    continue
                batch = (self._pending, self._full, self._reload)
                self._pending, self._full, self._reload, self._busy = set(), False, False, True
                return batch
            return None


class Following:
    """An engine kept live: its watcher syncs each change, and its owner server lets the
    other docsight processes on the folder search through it and hear the same events.
    `Engine.follow()` starts one; `stop()` ends both (the engine stays open)."""

    def __init__(
        self,
        engine: Engine,
        on_event: Callable[[Event], None],
        on_not_serving: Callable[[OSError], None],
    ) -> None:
        self._engine = engine
        self._on_event = on_event
        self._on_not_serving = on_not_serving
        self._server: OwnerServer | None = None
        self.watcher = Watcher(engine, self._emit)

    def start(self) -> None:
        """Serve first, then watch and sweep: a client that connects hears the sweep."""
        server = OwnerServer(self._engine, self.watcher.request_full_sync)
        try:
            server.start()
            self._server = server
        except OSError as error:  # a socket path over the 108-byte limit, a read-only dir
            self._on_not_serving(error)
        try:
            self.watcher.start(sweep=True)
        except BaseException:
            self.stop()
            raise

    def request_full_sync(self) -> None:
        self.watcher.request_full_sync()

    def stop(self) -> None:
        self.watcher.stop()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Following:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _emit(self, event: Event) -> None:
        self._on_event(event)
        if self._server is not None:
            self._server.publish(event)  # the clients following this index hear it too
