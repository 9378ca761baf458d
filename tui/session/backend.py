"""What the app asks of docsight, as one blocking interface the thread workers call.

`Backend` is the protocol the screens rely on; `EngineBackend` is the real one, a thin
client of the folder's `LiveIndex` (an `Engine` this app owns, or the docsight process
that owns the index) and of the answer API. Tests hand the app a
stand-in with fixed data for snapshots; behaviour tests use `EngineBackend`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from engine import Embedder, FileState, IndexNotOpen, LiveIndex, Settings
from tui.messages import (
    AnswerResult,
    ConversationInfo,
    IndexView,
    QuoteRef,
    SourceRef,
    SourceText,
)
from tui.session import source_text
from tui.session.answers import Answers

EventSink = Callable[[object], None]
ModelSink = Callable[[str, "bool | None"], None]
RefsSink = Callable[[list[SourceRef]], None]
TokenSink = Callable[[str], None]
QuoteSink = Callable[[list[QuoteRef], bool, str], None]  # quote, follow-up, indexing note
NOT_OPEN = "the index is not open (the status line says why)"


class Backend(Protocol):
    folder: Path

    def open(self) -> IndexView: ...
    def watch(self, on_event: EventSink) -> tuple[bool, str]: ...
    def sync(self, on_event: EventSink) -> None: ...
    def status(self) -> IndexView: ...
    def file_states(self) -> dict[str, FileState]: ...
    def read_source(self, path: str) -> SourceText: ...
    def start_model(self, on_state: ModelSink) -> None: ...
    def ask(
        self,
        question: str,
        prefixes: list[str],
        conversation_id: str | None,
        on_sources: RefsSink,
        on_token: TokenSink,
        cancel: threading.Event,
        on_quote: QuoteSink | None = None,
    ) -> AnswerResult: ...
    def conversations(self) -> list[ConversationInfo]: ...
    def conversation(self, conversation_id: str) -> list[AnswerResult]: ...
    def delete_conversation(self, conversation_id: str) -> None: ...
    def close(self) -> None: ...


class EngineBackend:
    """The real thing: the folder's live index (owned here, or served by another docsight
    and taken over when that one exits) and the answer API over it."""

    def __init__(
        self,
        folder: Path,
        settings: Settings,
        data_dir: Path,
        config_path: Path | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.folder = folder.resolve()
        self.settings = settings
        self.data_dir = data_dir
        self.config_path = config_path
        self._embedder = embedder
        self._index: LiveIndex | None = None
        self._answers: Answers | None = None
        self._stop = threading.Event()
        self._life = threading.Lock()  # held to open, start watching, close

    @property
    def engine(self) -> LiveIndex:
        if self._index is None:
            raise IndexNotOpen(NOT_OPEN)
        return self._index

    @property
    def answer_api(self) -> Answers:
        if self._answers is None:
            raise IndexNotOpen(NOT_OPEN)
        return self._answers

    def open(self) -> IndexView:
        with self._life:  # a close() meanwhile waits for the open, then undoes it
            if self._stop.is_set():
                raise RuntimeError("docsight is closing")
            index = LiveIndex(
                self.folder,
                self.settings,
                self.data_dir,
                embedder=self._embedder,
                config_path=self.config_path,
            )
            index.open()
            self._index = index
            self._answers = Answers(index)
            return self.status()

    def watch(self, on_event: EventSink) -> tuple[bool, str]:
        """Sweep the folder, then follow it; (False, why) when it cannot follow it.

        While the app owns the index it also serves it, so `docsight search` in another
        terminal answers meanwhile (Milvus Lite lets only one process open an index); while
        another docsight owns it, the app follows that one's events."""
        with self._life:
            if self._stop.is_set():
                return False, "docsight is closing"
            self.engine.start(on_event)
        return True, ""

    def sync(self, on_event: EventSink) -> None:
        """A full sync now, by whoever owns the index."""
        self.engine.request_sync(on_event)

    def status(self) -> IndexView:
        """The index status, and the owner's pid while this app is its client."""
        return IndexView(self.engine.status(), self.engine.served_by)

    def file_states(self) -> dict[str, FileState]:
        """path -> state for every file the folder holds (ignored directories end with "/")."""
        return {state.path: state for state in self.engine.file_states()}

    def read_source(self, path: str) -> SourceText:
        return source_text.read_source(self.folder, path)

    def start_model(self, on_state: ModelSink) -> None:
        self.answer_api.start_model(on_state)

    def ask(
        self,
        question: str,
        prefixes: list[str],
        conversation_id: str | None,
        on_sources: RefsSink,
        on_token: TokenSink,
        cancel: threading.Event,
        on_quote: QuoteSink | None = None,
    ) -> AnswerResult:
        return self.answer_api.ask(
            question, prefixes, conversation_id, on_sources, on_token, cancel, on_quote
        )

    def conversations(self) -> list[ConversationInfo]:
        return self.answer_api.conversations()

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        return self.answer_api.conversation(conversation_id)

    def delete_conversation(self, conversation_id: str) -> None:
        self.answer_api.delete_conversation(conversation_id)

    def close(self) -> None:
        """Stop watching and serving, then release the index. Safe to call twice, from any
        thread; waits for an open in progress (a sync stops between two files)."""
        self._stop.set()
        with self._life:
            if self._answers is not None:
                self._answers.close()
            if self._index is not None:
                self._index.close()
            self._answers = self._index = None
