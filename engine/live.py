"""One folder's live index, for a docsight process that stays up (the TUI, the MCP server).

Milvus Lite lets one process open an index. When nobody holds this folder's, this process
becomes its owner: it opens the `Engine`, sweeps and watches the folder, and serves the
other docsight processes over the owner socket (engine.serve). When another docsight owns
it, this process is that owner's client: it loads neither the encoder nor Milvus, and
follows the owner's events. When the owner exits, the client takes over without a restart.

Either way the rest of the program calls one `IndexAccess`: `LiveIndex` answers what an
`Engine` answers, through whichever side holds the index at the moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from engine import indexes
from engine.client import OwnerClient, connect
from engine.config import Settings
from engine.embed import Embedder
from engine.errors import DocsightError, IndexLockedError, IndexNotOpen, OwnerGone
from engine.events import Event, OwnerChanged, WatcherDegraded
from engine.results import FileLines, FileState, IndexStatus
from engine.types import Hit

if TYPE_CHECKING:  # imported when this process owns the index: a client needs neither
    from engine.answer import Answerer
    from engine.conversations import Conversations
    from engine.engine import Engine
    from engine.llm import Endpoint
    from engine.watch import Following

log = logging.getLogger(__name__)

OWNER_WAIT_S = 120.0  # how long an owner that does not serve yet (still opening) is awaited
RETRY_S = 0.1
T = TypeVar("T")


class IndexAccess(Protocol):
    """What programs built on an index call, answered alike by an `Engine` (this process
    owns the index) and an `OwnerClient` (another docsight owns it)."""

    def search(
        self, query: str, k: int | None = None, path_prefixes: Sequence[str] = ()
    ) -> list[Hit]: ...
    def status(self) -> IndexStatus: ...
    def file_states(self) -> list[FileState]: ...
    def read_lines(
        self, path: str, start: int | None = None, end: int | None = None
    ) -> FileLines: ...
    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


class LiveIndex:
    """`open()`, then `start(on_event)` to keep it live, then `close()`."""

    def __init__(
        self,
        folder: Path,
        settings: Settings,
        data_dir: Path,
        *,
        config_path: Path | None = None,
        embedder: Embedder | None = None,
        owner_wait_s: float | None = None,
    ) -> None:
        self.folder = folder.resolve()
        self.settings = settings
        self.data_dir = data_dir.resolve()
        self.index_dir = indexes.index_dir_for(self.folder, self.data_dir)
        self.config_path = config_path
        self.served_by: int | None = None  # the owner's pid while this process is a client
        self._embedder = embedder
        self._owner_wait_s = OWNER_WAIT_S if owner_wait_s is None else owner_wait_s
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._on_event: Callable[[Event], None] = lambda event: None
        self._live = False
        self._access: IndexAccess | None = None
        self._engine: Engine | None = None
        self._following: Following | None = None
        self._client: OwnerClient | None = None
        self._follower: OwnerClient | None = None
        self._lost: DocsightError | None = None  # why a takeover failed

    # lifecycle ----------------------------------------------------------------------------
    def open(self) -> None:
        """Own the index, or become its owner's client (waiting while an owner opens)."""
        with self._lock:
            self._attach()

    def start(self, on_event: Callable[[Event], None] | None = None) -> None:
        """Keep the index live from now on: as its owner, sweep, watch and serve; as a
        client, follow the owner's events. `on_event` hears them, and `OwnerChanged`."""
        self._on_event = on_event or (lambda event: None)
        with self._lock:
            self._live = True
            if self._engine is not None:
                self._watch(self._engine)
            else:
                self._follow()
        self._load_encoder()

    @property
    def owner(self) -> bool:
        return self._engine is not None

    def close(self) -> None:
        """Stop watching, serving or following; release the index. Safe to call twice."""
        self._closed.set()
        self._lost = IndexNotOpen("the index is closed")
        with self._lock:
            self._detach()

    def __enter__(self) -> LiveIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the index ----------------------------------------------------------------------------
    def search(
        self, query: str, k: int | None = None, path_prefixes: Sequence[str] = ()
    ) -> list[Hit]:
        return self._use(lambda index: index.search(query, k, list(path_prefixes)))

    def status(self) -> IndexStatus:
        return self._use(lambda index: index.status())

    def file_states(self) -> list[FileState]:
        return self._use(lambda index: index.file_states())

    def read_lines(self, path: str, start: int | None = None, end: int | None = None) -> FileLines:
        return self._use(lambda index: index.read_lines(path, start, end))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self._use(lambda index: index.embed_texts(texts))

    def request_sync(self, on_event: Callable[[Event], None] | None = None) -> None:
        """A full sync now, by whoever owns the index: its watcher's, or one in this thread
        (reported to `on_event`) when this process owns the index and does not watch yet."""
        with self._lock:
            following, engine, client = self._following, self._engine, self._client
        if following is not None:
            following.request_full_sync()
        elif engine is not None:
            engine.sync(on_event=on_event, cancel=self._closed)
        elif client is not None:
            try:
                client.sync()
            except OwnerGone:
                self._take_over(client)
                self.request_sync(on_event)

    def answerer(self) -> Answerer:
        """Questions answered from this index, whoever owns it (close it after use)."""
        from engine.engine import open_answerer

        return open_answerer(
            self.settings,
            self.data_dir,
            self.index_dir,
            self.search,
            self.embed_texts,
            folder=self.folder,
            indexing=self.indexing_note,
        )

    def model_server(
        self, on_state: Callable[[str], None], cancel: threading.Event | None = None
    ) -> Endpoint:
        """The model server answers come from, started now if need be (so the first
        question does not wait for it); `cancel` stops the wait, not the server."""
        from engine.llm_server import ensure_server

        return ensure_server(self.settings, self.data_dir, on_state, cancel)

    def conversations(self) -> Conversations:
        """The folder's saved conversations (close the store after use)."""
        from engine.conversations import Conversations

        return Conversations(indexes.conversations_path(self.index_dir))

    def indexing_note(self) -> str:
        """How far this process's sync has got ("" when none runs here)."""
        engine = self._engine
        return engine.indexing_note() if engine is not None else ""

    def _use(self, call: Callable[[IndexAccess], T]) -> T:
        """`call` on the side that holds the index; once more after a takeover when the
        owner left in the middle."""
        access = self._current()
        try:
            return call(access)
        except OwnerGone:
            self._take_over(access)
            return call(self._current())

    def _current(self) -> IndexAccess:
        with self._lock:
            if self._access is None:
                raise self._lost or IndexNotOpen("the index is not open")
            return self._access

    # owning, following, taking over ----------------------------------------------------------
    def _attach(self) -> None:
        deadline = time.monotonic() + self._owner_wait_s
        while not self._closed.is_set():
            try:
                self._own()
                return
            except IndexLockedError:
                if self._join_owner():
                    return
                if time.monotonic() > deadline:
                    raise  # an owner that never serves (`docsight index` on a large folder)
            self._closed.wait(RETRY_S)
        raise IndexNotOpen("docsight is closing")

    def _own(self) -> None:
        from engine.engine import Engine

        self._engine = Engine(
            self.folder,
            self.settings,
            self.data_dir,
            embedder=self._embedder,
            config_path=self.config_path,
            serving=self._live,  # clients wait for its socket while it opens
        )
        self._access, self.served_by = self._engine, None
        log.info("this process owns the index of %s", self.folder)
        if self._live:  # a takeover: say so before the new owner's sweep reports anything
            self._on_event(OwnerChanged(None))
            self._watch(self._engine)

    def _join_owner(self) -> bool:
        client = connect(self.index_dir)
        if client is None:
            return False  # the owner is still opening, or just left
        try:
            self.served_by = client.ping()
        except DocsightError:
            client.close()
            return False
        self._client = self._access = client
        log.info("the index of %s is served by pid %d", self.folder, self.served_by)
        if self._live:  # a takeover: say so before the new owner's events
            self._on_event(OwnerChanged(self.served_by))
            self._follow()
        return True

    def _watch(self, engine: Engine) -> None:
        self._following = engine.follow(lambda event: self._on_event(event))

    def _load_encoder(self) -> None:
        """As the owner, load the encoder now, not at the first question (outside the lock:
        calls that need no encoder go on meanwhile)."""
        engine = self._engine
        if engine is not None:
            engine.embedder  # noqa: B018

    def _follow(self) -> None:
        client = self._client
        follower = connect(self.index_dir)
        if follower is None or client is None:
            threading.Thread(target=self._take_over, args=(client,), daemon=True).start()
            return
        self._follower = follower
        thread = threading.Thread(
            target=self._follow_events, args=(client, follower), name="docsight-follow"
        )
        thread.daemon = True
        thread.start()

    def _follow_events(self, client: OwnerClient, follower: OwnerClient) -> None:
        try:
            for event in follower.events():
                self._on_event(event)
        except DocsightError as error:
            log.info("stopped following the owner: %s", error)
        self._take_over(client)

    def _take_over(self, gone: IndexAccess | None) -> None:
        """The owner left: own the index now, or follow whoever owns it first."""
        with self._lock:
            if self._closed.is_set() or self._access is not gone:
                return  # closing, or another thread took over already
            log.info("the owner of the index of %s left", self.folder)
            self._detach()
            try:
                self._attach()
            except DocsightError as error:
                log.warning("could not take the index over: %s", error)
                self._lost = error
                self._on_event(WatcherDegraded(f"the index was lost: {error}"))
                return
        if self._live:
            self._load_encoder()

    def _detach(self) -> None:
        if self._following is not None:
            self._following.stop()
        if self._engine is not None:
            self._engine.close()
        for client in (self._follower, self._client):
            if client is not None:
                client.close()
        self._access = self._engine = self._following = None
        self._client = self._follower = None
