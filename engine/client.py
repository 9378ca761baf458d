"""A client of the process that owns an index (engine.protocol): the same calls an
`Engine` answers, made over the owner's socket."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import OwnerGone, OwnerRefused
from engine.events import Event, SyncReport, from_json
from engine.protocol import Request, address, decode_vectors, socket_path
from engine.results import FileLines, FileState, IndexStatus
from engine.types import Hit

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

TIMEOUT_S = 120.0


class OwnerClient:
    """One connection to the owner; its methods are the engine's (search, status,
    file_states, read_lines, embed_texts), answered by the owner. Safe across threads."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def close(self) -> None:
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread reading events
        self._reader.close()
        self._sock.close()

    def _call(self, request: Request) -> dict[str, Any]:
        with self._lock:
            try:
                self._sock.sendall(json.dumps(request).encode() + b"\n")
                line = self._reader.readline()
            except (OSError, ValueError) as error:
                raise OwnerGone(f"the docsight that owns this index stopped: {error}") from None
        if not line:
            raise OwnerGone("the docsight that owns this index stopped while answering")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise OwnerRefused(str(reply.get("error", "the owner refused the request")))
        return reply

    def search(
        self, query: str, k: int | None = None, path_prefixes: Sequence[str] = ()
    ) -> list[Hit]:
        reply = self._call({"op": "search", "query": query, "k": k, "paths": list(path_prefixes)})
        return [Hit.from_json(hit) for hit in reply["hits"]]

    def status(self) -> IndexStatus:
        return IndexStatus.from_json(self._call({"op": "status"})["status"])

    def file_states(self) -> list[FileState]:
        return [FileState.from_json(state) for state in self._call({"op": "file_states"})["files"]]

    def read_lines(self, path: str, start: int | None = None, end: int | None = None) -> FileLines:
        reply = self._call({"op": "read", "path": path, "start": start, "end": end})
        return FileLines.from_json(reply["lines"])

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return decode_vectors(self._call({"op": "embed", "texts": list(texts)})["vectors"])

    def sync(self) -> None:
        self._call({"op": "sync"})

    def index(self) -> SyncReport:
        """Have the owner sync the folder now; its report, however long the sync takes."""
        self._sock.settimeout(None)
        return SyncReport(**self._call({"op": "index"})["report"])

    def ping(self) -> int:
        return int(self._call({"op": "ping"})["pid"])

    def events(self) -> Iterator[Event]:
        """Turn this connection into a subscription: each event the owner publishes, until
        it stops (the iterator then ends) or `close()` is called from another thread."""
        try:
            self._sock.settimeout(None)  # events may be minutes apart
        except OSError as error:  # closed by another thread before the first event
            raise OwnerGone(f"the connection to the owner closed: {error}") from None
        reply = self._call({"op": "events"})
        log.debug("following the index of pid %s", reply.get("pid"))
        while True:
            try:
                line = self._reader.readline()
            except (OSError, ValueError):
                return
            if not line:
                return
            yield from_json(json.loads(line))


def connect(index_dir: Path, timeout: float = TIMEOUT_S) -> OwnerClient | None:
    """A client of the live owner of this index, or None when no owner answers."""
    path = socket_path(index_dir)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with address(path) as name:
            sock.connect(name)
    except OSError:
        sock.close()
        return None  # a socket file left by an owner that died
    return OwnerClient(sock)
