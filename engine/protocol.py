"""The owner socket's protocol, the one place that lists its operations.

Milvus Lite takes an exclusive lock, so one process owns an index. It listens on a Unix
socket in the index directory (the directory is 0700 and the socket 0600: only this user
can connect) and serves the other docsight processes on the folder (engine.serve); they
connect with engine.client and need no model and no Milvus of their own.

JSON lines. A request is {"op": OP, ...its arguments}; the reply is {"ok": true, ...} or
{"ok": false, "error": one line}. `events` is the one op that does not answer once: after
{"ok": true, "pid"} the owner writes one engine event per line (engine.events.to_json)
until either side closes, which is how a client learns of changes and of the owner's exit.

    ping                       -> {"pid"}
    status                     -> {"status": `docsight status --json`}
    search query k paths       -> {"hits": [Hit.as_json()]}
    file_states                -> {"files": Engine.file_states()}
    read path start end        -> {"lines": engine.read.read_lines()}
    embed texts                -> {"vectors": encode_vectors()}
    sync                       -> {} (a full sync starts on the owner's watcher)
    index                      -> {"report": SyncReport.as_json()} (a full sync, waited for:
                                  `docsight index` while another docsight owns the folder)
    events                     -> {"pid"}, then one event per line
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, get_args

if TYPE_CHECKING:  # numpy is imported where vectors are: a client's search needs none
    import numpy as np

SOCKET_NAME = "owner.sock"
SUN_PATH_MAX = 107  # a socket address holds 108 bytes, the last one a NUL

Op = Literal["ping", "status", "search", "file_states", "read", "embed", "sync", "index", "events"]
OPS: tuple[Op, ...] = get_args(Op)


class Request(TypedDict, total=False):
    """Every argument an op takes: search (query, k, paths), read (path, start, end),
    embed (texts)."""

    op: Op
    query: str
    k: int | None
    paths: list[str]
    path: str
    start: int | None
    end: int | None
    texts: list[str]


def socket_path(index_dir: Path) -> Path:
    return index_dir / SOCKET_NAME


def encode_vectors(vectors: np.ndarray) -> dict[str, Any]:
    """float32 rows as base64: a quarter of the bytes of a JSON list of numbers."""
    import numpy as np

    rows = np.ascontiguousarray(vectors, dtype="<f4")
    return {"rows": rows.shape[0], "data": base64.b64encode(rows.tobytes()).decode("ascii")}


def decode_vectors(document: dict[str, Any]) -> np.ndarray:
    import numpy as np

    flat = np.frombuffer(base64.b64decode(document["data"]), dtype="<f4")
    return flat.reshape(int(document["rows"]), -1) if document["rows"] else flat.reshape(0, 0)


@contextmanager
def address(path: Path) -> Iterator[str]:
    """A name for `path` short enough to bind or connect: itself, or, when the data dir
    lies deep, the same file reached through /proc/self/fd/N of its directory (Linux)."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX or not os.path.isdir("/proc/self/fd"):
        yield str(path)
        return
    directory = os.open(path.parent, getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)
