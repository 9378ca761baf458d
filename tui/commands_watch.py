"""`docsight watch DIR`: the sweep, then live updates, one line per applied change."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from engine import (
    Event,
    FileFailed,
    FileIndexed,
    FileMoved,
    FileRemoved,
    SyncFinished,
    SyncStarted,
    WatcherDegraded,
    clean_line,
)
from tui.arguments import add_dir, add_json, subcommand
from tui.commands_common import counted, print_json
from tui.commands_index import open_engine, summary_line


def register(subparsers: Any) -> None:
    watch = subcommand(
        subparsers,
        "watch",
        "keep a folder's index current until Ctrl-C",
        "docsight watch ~/notes     other docsight commands on ~/notes go through it",
        "docsight watch ~/notes --json",
    )
    add_dir(watch)
    add_json(watch, "print one JSON object per line per event")
    watch.set_defaults(func=run_watch)


def describe(event: Event) -> str | None:
    """One log line per applied change; None for events that are not changes."""
    if isinstance(event, FileIndexed):
        if event.added:
            return f"+ {event.path} {counted(event.chunks, 'chunk')}"
        chunks = counted(event.chunks, "chunk")
        return f"~ {event.path} {event.embedded} of {chunks} re-embedded"
    if isinstance(event, FileRemoved):
        return f"- {event.path}"
    if isinstance(event, FileMoved):
        return f"> {event.old_path} -> {event.path}"
    if isinstance(event, FileFailed):
        return f"! {event.path}: {event.reason}"
    if isinstance(event, WatcherDegraded):
        return f"! watcher: {event.reason}"
    return None


def as_json(event: Event) -> dict[str, Any] | None:
    if isinstance(event, SyncFinished):
        return {"event": "synced", **event.report.as_json()}
    names = {
        FileIndexed: "indexed",
        FileRemoved: "removed",
        FileMoved: "moved",
        FileFailed: "failed",
        WatcherDegraded: "degraded",
    }
    name = names.get(type(event))
    return None if name is None else {"event": name, **event.__dict__}


def run_watch(args: argparse.Namespace) -> int:
    with open_engine(args, serving=True) as engine:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with engine.follow(_printer(args.json), _say_not_serving):
            if not args.json:
                print(f"watching {clean_line(str(engine.folder))} (Ctrl-C stops)", file=sys.stderr)
            stop.wait()
    return 0


def _say_not_serving(error: OSError) -> None:
    """Watching goes on when the socket cannot be made (a read-only data dir, a file
    system without sockets); say so once."""
    print(f"docsight: not serving other docsight processes: {error}", file=sys.stderr)


def _printer(json_lines: bool) -> Callable[[Event], None]:
    full_sync = [False]

    def on_event(event: Event) -> None:
        if isinstance(event, SyncStarted):
            full_sync[0] = event.scope == "full"
        if json_lines:
            document = as_json(event)
            if document is not None:
                print_json(document)
            return
        line = describe(event)
        if line is not None:
            print(clean_line(line), flush=True)
        elif isinstance(event, SyncFinished) and full_sync[0]:
            print(f"sweep: {summary_line(event.report)}", file=sys.stderr, flush=True)

    return on_event
