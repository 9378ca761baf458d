"""The index owner serves other docsight processes on the same folder (engine.protocol):
`docsight search` in a second terminal, a TUI or an MCP server opened on an owned folder
answer through the owner, which already holds the loaded encoder and the open index."""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import socketserver
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from engine.errors import DocsightError, OwnerRefused
from engine.events import Event, SyncProgress, to_json
from engine.protocol import Op, Request, address, encode_vectors, socket_path

log = logging.getLogger(__name__)

Reply = dict[str, object]  # what an op answers, written to the socket as one JSON line

EVENTS_QUEUED = 10_000  # per subscriber; past it progress is dropped, never the watcher held


def _ping(server: _Server, request: Request) -> Reply:
    return {"pid": os.getpid()}


def _status(server: _Server, request: Request) -> Reply:
    return {"status": server.engine.status().as_json()}


def _search(server: _Server, request: Request) -> Reply:
    query, k, paths = str(request["query"]), request.get("k"), list(request.get("paths") or [])
    return {"hits": [hit.as_json() for hit in server.engine.search(query, k, paths)]}


def _file_states(server: _Server, request: Request) -> Reply:
    return {"files": [state.as_json() for state in server.engine.file_states()]}


def _read(server: _Server, request: Request) -> Reply:
    path, start, end = str(request["path"]), request.get("start"), request.get("end")
    return {"lines": server.engine.read_lines(path, start, end).as_json()}


def _embed(server: _Server, request: Request) -> Reply:
    texts = [str(text) for text in request["texts"]]
    return {"vectors": encode_vectors(server.engine.embed_texts(texts))}


def _sync(server: _Server, request: Request) -> Reply:
    server.request_sync()
    return {}


def _index(server: _Server, request: Request) -> Reply:
    return {"report": server.engine.sync().as_json()}


HANDLERS: dict[Op, Callable[[_Server, Request], Reply]] = {
    "ping": _ping,
    "status": _status,
    "search": _search,
    "file_states": _file_states,
    "read": _read,
    "embed": _embed,
    "sync": _sync,
    "index": _index,
}  # and "events", which _Handler serves itself


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                request: Request = json.loads(raw)
                if request.get("op") == "events":
                    self._stream_events()
                    return
                reply = {"ok": True, **self.server.answer(request)}
            except DocsightError as error:
                reply = {"ok": False, "error": str(error)}
            except Exception as error:  # one bad request must not stop the owner
                log.exception("request failed")
                reply = {"ok": False, "error": f"the owner failed: {error}"}
            self._send(reply)

    def _send(self, document: Reply) -> None:
        self.wfile.write(json.dumps(document).encode() + b"\n")
        self.wfile.flush()

    def _stream_events(self) -> None:
        events = self.server.subscribe()
        try:
            self._send({"ok": True, "pid": os.getpid()})
            while (event := events.get()) is not None:
                self._send(to_json(event))
        except OSError:
            pass  # the client went away
        finally:
            self.server.unsubscribe(events)


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    engine: Any
    request_sync: Callable[[], None]

    def __init__(self, address: str) -> None:
        super().__init__(address, _Handler)
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._subscribers: set[queue.Queue[Event | None]] = set()

    def answer(self, request: Request) -> Reply:
        handler = HANDLERS.get(request.get("op"))  # type: ignore[arg-type]
        if handler is None:
            raise OwnerRefused(f"unknown request {request.get('op')!r}")
        return handler(self, request)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def subscribe(self) -> queue.Queue[Event | None]:
        events: queue.Queue[Event | None] = queue.Queue(EVENTS_QUEUED)
        with self._lock:
            self._subscribers.add(events)
        return events

    def unsubscribe(self, events: queue.Queue[Event | None]) -> None:
        with self._lock:
            self._subscribers.discard(events)

    def publish(self, event: Event | None) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for events in subscribers:
            try:
                events.put_nowait(event)
            except queue.Full:  # a client that stopped reading: it reloads after the sync
                if not isinstance(event, SyncProgress):
                    log.warning("a client of the index fell behind; dropped %s", event)

    def hang_up(self) -> None:
        """End every connection, so each client sees the owner leave at once."""
        self.publish(None)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class OwnerServer:
    """Serve `engine` to other local docsight processes until `stop()`. `request_sync`
    (a watcher's) takes a client's "sync now"; without it the sync runs in the request."""

    def __init__(self, engine: Any, request_sync: Callable[[], None] | None = None) -> None:
        self.path = socket_path(engine.index_dir)
        self._engine = engine
        self._request_sync = request_sync or (lambda: engine.sync())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # We hold the index lock, so a socket file left here is a dead owner's.
        self.path.unlink(missing_ok=True)
        os.chmod(self.path.parent, 0o700)
        with address(self.path) as name:
            server = _Server(name)
        os.chmod(self.path, 0o600)
        server.engine = self._engine
        server.request_sync = self._request_sync
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="docsight-owner", daemon=True
        )
        self._thread.start()

    def publish(self, event: Event) -> None:
        """Tell every subscribed client (the engine's and watcher's callback calls this)."""
        if self._server is not None:
            self._server.publish(event)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.hang_up()
            self._server.server_close()
            self._server = None
        self.path.unlink(missing_ok=True)
