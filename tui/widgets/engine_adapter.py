"""THE ONLY PLACE IN tui/ THAT READS ENGINE INTERNALS (the catalog and the scanner).

The folder browser needs each file's state: indexed with its chunk count, pending, failed
with the reason, ignored with the rule. The facade has no method for that yet; until it
has one (proposed: `Engine.file_states() -> list[FileState-like dict]`), this adapter
derives it from a scan and a read-only connection to the catalog, the way
`engine.indexes.read_status` does, so it never shares the sync's SQLite connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engine.catalog import Catalog
from tui.messages import FileState


def file_states(engine: Any) -> dict[str, FileState]:
    """path -> state for every file the folder holds (ignored directories end with "/")."""
    facade = getattr(engine, "file_states", None)
    if callable(facade):  # the facade method, once the engine has it
        return {s["path"]: FileState(**s) for s in facade()}
    scan = engine.scanner.scan()
    indexed, left_out = _catalog_view(engine)
    states: dict[str, FileState] = {}
    for scanned in scan.files:
        path = scanned.path
        if path in indexed:
            states[path] = FileState(path, "indexed", chunks=indexed[path])
        elif path in left_out:  # the loader refused it (binary content, unreadable)
            reason, is_failure = left_out[path]
            states[path] = FileState(path, "failed" if is_failure else "ignored", reason=reason)
        else:
            states[path] = FileState(path, "pending")
    for skipped in scan.skipped:
        states[skipped.path] = FileState(skipped.path, "ignored", reason=skipped.reason)
    return states


def _catalog_view(engine: Any) -> tuple[dict[str, int], dict[str, tuple[str, bool]]]:
    """(chunk count per indexed file, (reason, failed) per file left out) from the catalog."""
    path = engine.index_dir / "catalog.sqlite"
    if not path.exists():
        return {}, {}
    catalog = Catalog(path, read_only=True)
    try:
        counts = dict.fromkeys(catalog.files(), 0)
        rows = catalog._db.execute("SELECT path, COUNT(*) FROM chunks GROUP BY path")
        counts.update({str(p): int(n) for p, n in rows})
        left_out = {p: (reason, failed) for p, reason, failed in catalog.skipped()}
        return counts, left_out
    except sqlite3.Error:
        return {}, {}  # an index being created right now: everything is pending
    finally:
        catalog.close()
