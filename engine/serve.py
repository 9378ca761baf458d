"""The index owner serves other docsight processes on the same folder.

Milvus Lite takes an exclusive lock, so one process owns an index. It listens on a Unix
socket in the index directory (the directory is 0700 and the socket 0600: only this user
can connect) and answers JSON-lines requests: search, status, index (a sync now), ping.
A client needs no model and no Milvus: `docsight search` in a second terminal answers in a
fraction of a second, because the owner already holds the loaded encoder.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import DocsightError
from engine.types import Hit

log = logging.getLogger(__name__)

SOCKET_NAME = "owner.sock"
TIMEOUT_S = 120.0
SUN_PATH_MAX = 107  # a socket address holds 108 bytes, the last one a NUL


def socket_path(index_dir: Path) -> Path:
    return index_dir / SOCKET_NAME


@contextmanager
def _address(path: Path) -> Iterator[str]:
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


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                reply = self.server.answer(json.loads(raw))
            except DocsightError as error:
                reply = {"ok": False, "error": str(error)}
            except Exception as error:  # one bad request must not stop the owner
                log.exception("request failed")
                reply = {"ok": False, "error": f"the owner failed: {error}"}
            self.wfile.write(json.dumps(reply).encode() + b"\n")
            self.wfile.flush()


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    engine: Any

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "status":
            return {"ok": True, "status": self.engine.status()}
        if op == "index":  # a one-shot `docsight index`: the owner's sync, its report back
            return {"ok": True, "report": self.engine.sync().as_json()}
        if op == "search":
            hits = self.engine.search(
                str(request["query"]), request.get("k"), list(request.get("paths") or [])
            )
            return {"ok": True, "hits": [hit.as_json() for hit in hits]}
        return {"ok": False, "error": f"unknown request {op!r}"}


class OwnerServer:
    """Serve `engine` to other local docsight processes until `stop()`."""

    def __init__(self, engine: Any) -> None:
        self.path = socket_path(engine.index_dir)
        self._engine = engine
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # We hold the index lock, so a socket file left here is a dead owner's.
        self.path.unlink(missing_ok=True)
        os.chmod(self.path.parent, 0o700)
        with _address(self.path) as address:
            server = _Server(address, _Handler)
        os.chmod(self.path, 0o600)
        server.engine = self._engine
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="docsight-owner", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.path.unlink(missing_ok=True)


class OwnerClient:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = sock.makefile("rb")

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
            line = self._reader.readline()
        except OSError as error:
            raise DocsightError(f"the docsight that owns this index stopped: {error}") from None
        if not line:
            raise DocsightError("the docsight that owns this index stopped while answering")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise DocsightError(str(reply.get("error", "the owner refused the request")))
        return reply

    def search(self, query: str, k: int | None, path_prefixes: list[str]) -> list[Hit]:
        reply = self._call({"op": "search", "query": query, "k": k, "paths": path_prefixes})
        return [Hit(**hit) for hit in reply["hits"]]

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self._call({"op": "status"})["status"]
        return status

    def ping(self) -> int:
        return int(self._call({"op": "ping"})["pid"])

    def index(self) -> dict[str, Any]:
        """Have the owner sync the folder now; its report (however long the sync takes)."""
        self._sock.settimeout(None)
        report: dict[str, Any] = self._call({"op": "index"})["report"]
        return report


def connect(index_dir: Path, timeout: float = TIMEOUT_S) -> OwnerClient | None:
    """A client of the live owner of this index, or None when no owner answers."""
    path = socket_path(index_dir)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _address(path) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        return None  # a socket file left by an owner that died
    return OwnerClient(sock)
