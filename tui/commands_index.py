"""`docsight index | search | status | indexes | forget`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import (
    MAX_TOP_K,
    Event,
    FileFailed,
    IndexStatus,
    SyncProgress,
    clean,
    clean_line,
    index_dir_for,
    list_indexes,
    owner_pid,
    owner_serves,
    read_status,
)
from tui.arguments import add_dir, add_json, add_paths, bounded_int, subcommand
from tui.commands_common import (
    config_path_from,
    counted,
    data_dir_from,
    folder_from,
    print_json,
    settings_from,
)

if TYPE_CHECKING:  # imported where used: a search the owner serves needs neither
    from tqdm import tqdm

    from engine import Engine, OwnerClient, SyncReport

COMMANDS = ("index", "search", "status", "indexes", "forget")
SKIPPED_SHOWN = 50  # ignored entries listed by `status`; --json lists them all
OWNER_START_WAIT_S = 60.0  # an owner opens Milvus Lite (seconds) before its socket is up
PHASES = {"index": ("file", "indexing"), "export": ("step", "exporting the encoder (once)")}


def register(subparsers: Any) -> None:
    index = subcommand(
        subparsers,
        "index",
        "sync a folder's index once",
        "docsight index ~/notes",
        "docsight index ~/notes --rebuild     after a change of embedding model or chunking",
        "docsight index ~/notes --json",
    )
    add_dir(index)
    index.add_argument("--rebuild", action="store_true", help="rebuild after a settings change")
    add_json(index, "print the sync's counts as one JSON document")
    index.set_defaults(func=run_index)

    search = subcommand(
        subparsers,
        "search",
        "search a folder's index",
        'docsight search ~/notes "rotate the signing key"',
        'docsight search ~/notes "backup schedule" -k 3 --path ops/',
        'docsight search ~/notes "signing key" --json | jq ".hits[0].path"',
        description="Search a folder's index (indexing the folder first if it never was).",
    )
    add_dir(search)
    search.add_argument("query", metavar="QUERY", help="what to look for, in plain words")
    search.add_argument(
        "-k",
        metavar="N",
        type=bounded_int(1, MAX_TOP_K),
        help=f"number of hits, 1 to {MAX_TOP_K} (retrieval.top_k)",
    )
    add_paths(search)
    add_json(search, "print the hits as one JSON document")
    search.set_defaults(func=run_search)

    status = subcommand(
        subparsers,
        "status",
        "show a folder's index: its counts, failed and left-out files",
        "docsight status ~/notes",
        "docsight status ~/notes --json",
    )
    add_dir(status)
    add_json(status)
    status.set_defaults(func=run_status)

    listing = subcommand(
        subparsers, "indexes", "list every index", "docsight indexes", "docsight indexes --json"
    )
    add_json(listing)
    listing.set_defaults(func=run_indexes)

    drop = subcommand(
        subparsers,
        "forget",
        "delete a folder's index",
        "docsight forget ~/notes     the documents stay; only the index goes",
    )
    add_dir(drop)
    add_json(drop)
    drop.set_defaults(func=run_forget)


def open_engine(
    args: argparse.Namespace, *, rebuild: bool = False, serving: bool = False
) -> Engine:
    from engine import Engine

    return Engine(
        folder_from(args),
        settings_from(args),
        data_dir_from(args),
        rebuild=rebuild,
        config_path=config_path_from(args),
        serving=serving,
    )


class ProgressBar:
    """Sync events -> a tqdm bar on stderr: files indexed with the time left (tqdm's own
    estimate), and the chunks embedded and reused so far."""

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None
        self._phase = ""

    def __call__(self, event: Event) -> None:
        from tqdm import tqdm

        if isinstance(event, FileFailed):
            tqdm.write(clean_line(f"! {event.path}: {event.reason}"), file=sys.stderr)
        if not isinstance(event, SyncProgress) or event.phase == "write":
            return
        if event.phase != self._phase:
            self.close()
            unit, label = PHASES.get(event.phase, ("file", "reading"))
            self._bar = tqdm(total=event.total, unit=unit, desc=label, file=sys.stderr, leave=False)
            self._phase = event.phase
        if self._bar is not None:
            if event.chunks_embedded or event.chunks_reused:
                self._bar.set_postfix_str(chunks_text(event), False)
            self._bar.update(event.done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def chunks_text(event: SyncProgress) -> str:
    """`300 chunks embedded, 1,900 reused`: reused ones had their vectors in the cache."""
    text = f"{event.chunks_embedded:,} chunks embedded"
    return f"{text}, {event.chunks_reused:,} reused" if event.chunks_reused else text


def sync_with_progress(engine: Engine) -> SyncReport:
    bar = ProgressBar()
    try:
        return engine.sync(on_event=bar)
    finally:
        bar.close()


def run_index(args: argparse.Namespace) -> int:
    client = None if args.rebuild else owner_client(args)
    if client is not None:  # the owner syncs: no second model load for a few chunks
        try:
            print("docsight: synced by the docsight that owns this index", file=sys.stderr)
            report = client.index()
        finally:
            client.close()
    else:
        with open_engine(args, rebuild=args.rebuild) as engine:
            report = sync_with_progress(engine)
    if args.json:
        print_json(report.as_json())
    else:
        print(summary_line(report))
    return 0


def summary_line(report: SyncReport) -> str:
    parts = [
        counted(report.files_scanned, "file"),
        f"{report.files_added} added",
        f"{report.files_changed} changed",
        f"{report.files_moved} moved",
        f"{report.files_deleted} deleted",
    ]
    if report.files_failed:
        parts.append(f"{report.files_failed} failed (docsight status shows why)")
    chunks = (
        f"{counted(report.chunks_total, 'chunk')} in the index, {report.chunks_embedded} embedded, "
        f"{report.chunks_reused} reused"
    )
    return f"{', '.join(parts)}; {chunks}; {report.seconds:.1f} s"


def owner_client(args: argparse.Namespace) -> OwnerClient | None:
    """The live owner of this folder's index, when another docsight holds it. An owner
    that is still opening the index (it said it will serve) is waited for."""
    from engine import connect  # numpy: not for `status` or `--help`

    index_dir = index_dir_for(folder_from(args), data_dir_from(args))
    pid = owner_pid(index_dir)
    if pid is None:
        return None
    client = connect(index_dir)
    if client is not None or not owner_serves(index_dir):
        return client
    print(f"docsight: waiting for docsight pid {pid} to open the index", file=sys.stderr)
    deadline = time.monotonic() + OWNER_START_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if owner_pid(index_dir) is None:
            return None  # it stopped meanwhile: this process opens the index itself
        client = connect(index_dir)
        if client is not None:
            return client
    return None


def run_search(args: argparse.Namespace) -> int:
    started = time.monotonic()
    client = owner_client(args)
    if client is not None:  # served by the owner: no model load, no Milvus here
        try:
            hits = client.search(args.query, args.k, args.path)
        finally:
            client.close()
    else:
        with open_engine(args) as engine:
            if not engine.status().indexed:
                sync_with_progress(engine)
            hits = engine.search(args.query, args.k, args.path)
    if args.json:
        print_json({"hits": [h.as_json() for h in hits], "seconds": _since(started)})
        return 0
    for n, hit in enumerate(hits, 1):
        heading = f"  ({hit.heading})" if hit.heading else ""
        print(clean_line(f"[{n}] {hit.where()}{heading}  score {hit.score:.3f}"))
        if hit.also_in:  # the same text, word for word, in other files
            print(clean_line(f"    also in {', '.join(hit.also_in)}"))
        for line in clean(hit.text.strip()).splitlines()[:4]:
            print(f"    {line}")
    if not hits:
        print("no hits")
    return 0


def run_status(args: argparse.Namespace) -> int:
    status = read_status(folder_from(args), settings_from(args), data_dir_from(args))
    if args.json:
        print_json(status.as_json())
        return 0
    building = _building(status)
    if not status.indexed:
        hint = building or f" (docsight index {args.dir})"
        print(clean_line(f"{args.dir}: not indexed yet{hint}"))
        return 0
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(status.last_sync))
    owner = f", open in docsight pid {status.owner_pid}" if status.owner_pid else ""
    counts = f"{counted(status.files, 'file')}, {counted(status.chunks, 'chunk')}"
    print(f"{counts}, last sync {when}{owner}{building}")
    print(clean_line(f"embedding model {status.embedding_model}, store {status.store_uri}"))
    print(f"{counted(status.ignored, 'file')} ignored, {len(status.failed)} failed")
    for failure in status.failed:
        print(clean_line(f"  ! {failure.path}: {failure.reason}"))
    shown = status.skipped[:SKIPPED_SHOWN]
    for entry in shown:
        print(clean_line(f"  - {entry.path}: {entry.reason}"))
    if len(status.skipped) > len(shown):
        print(f"  ... and {len(status.skipped) - len(shown)} more (docsight status --json)")
    return 0


def _building(status: IndexStatus) -> str:
    if status.in_progress:
        return f"; indexing: {counted(status.files, 'file')} done, {status.pending} pending"
    if status.pending:
        pending = counted(status.pending, "file")
        return f"; {pending} pending (an interrupted sync: docsight index)"
    return ""


def run_indexes(args: argparse.Namespace) -> int:
    found = list_indexes(data_dir_from(args))
    if args.json:
        print_json({"indexes": [entry.as_json() for entry in found]})
        return 0
    for entry in found:
        when = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_sync))
            if entry.last_sync
            else "never synced"
        )
        size = entry.bytes / 1_000_000
        print(
            clean_line(
                f"{entry.folder}  {counted(entry.files, 'file')}  "
                f"{counted(entry.chunks, 'chunk')}  "
                f"{size:.1f} MB  {when}"
            )
        )
    if not found:
        print("no indexes yet")
    return 0


def run_forget(args: argparse.Namespace) -> int:
    from engine import forget_index

    folder = Path(args.dir).expanduser().resolve()
    removed = forget_index(folder, settings_from(args), data_dir_from(args))
    if args.json:
        print_json({"forgotten": removed, "folder": str(folder)})
    else:
        shown = clean_line(str(folder))
        print(f"forgot the index of {shown}" if removed else f"{shown} had no index")
    return 0


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)
