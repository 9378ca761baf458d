"""What the app asks of docsight, as one blocking interface the thread workers call.

`Backend` is the protocol the screens rely on; `EngineBackend` is the real one, a thin
client of the `Engine` facade (and of the watcher and the answer API). Tests hand the app a
stand-in with fixed data for snapshots; behaviour tests use `EngineBackend`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from engine.config import Settings
from engine.embed import Embedder
from tui.messages import AnswerResult, ConversationInfo, FileState, SourceRef, SourceText
from tui.widgets import answers, source_text

EventSink = Callable[[object], None]
ModelSink = Callable[[str, "bool | None"], None]
RefsSink = Callable[[list[SourceRef]], None]
TokenSink = Callable[[str], None]


class Backend(Protocol):
    folder: Path

    def open(self) -> dict[str, Any]: ...
    def watch(self, on_event: EventSink) -> tuple[bool, str]: ...
    def status(self) -> dict[str, Any]: ...
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
    ) -> AnswerResult: ...
    def conversations(self) -> list[ConversationInfo]: ...
    def conversation(self, conversation_id: str) -> list[AnswerResult]: ...
    def delete_conversation(self, conversation_id: str) -> None: ...
    def close(self) -> None: ...


class EngineBackend:
    """The real thing: an `Engine` opened in a worker, its watcher, the answer API."""

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
        self._engine: Any = None
        self._watcher: Any = None
        self._answers: answers.Answers | None = None
        self._stop = threading.Event()
        self._syncing = threading.Lock()

    @property
    def engine(self) -> Any:
        if self._engine is None:
            raise RuntimeError("the index is not open yet")
        return self._engine

    def open(self) -> dict[str, Any]:
        from engine.engine import Engine

        self._engine = Engine(
            self.folder,
            self.settings,
            self.data_dir,
            embedder=self._embedder,
            config_path=self.config_path,
        )
        self._answers = answers.Answers(self._engine, self.data_dir)
        return dict(self._engine.status())

    def watch(self, on_event: EventSink) -> tuple[bool, str]:
        """Sweep the folder, then follow it; (False, why) when only the sweep could run."""
        try:
            from engine.watch import Watcher
        except ModuleNotFoundError:
            with self._syncing:
                if not self._stop.is_set():
                    self.engine.sync(on_event=on_event, cancel=self._stop)
            return False, "no watcher in this build"
        self.engine.embedder  # noqa: B018 - load the encoder now, not at the first question
        if self._stop.is_set():
            return False, "stopped"
        self._watcher = Watcher(self.engine, on_event)
        self._watcher.start(sweep=True)
        return True, ""

    def status(self) -> dict[str, Any]:
        return dict(self.engine.status())

    def file_states(self) -> dict[str, FileState]:
        from tui.widgets.engine_adapter import file_states

        return file_states(self.engine)

    def read_source(self, path: str) -> SourceText:
        return source_text.read_source(self.folder, path)

    def start_model(self, on_state: ModelSink) -> None:
        if self._answers is None:
            raise RuntimeError("the index is not open yet")
        self._answers.start_model(on_state)

    def ask(
        self,
        question: str,
        prefixes: list[str],
        conversation_id: str | None,
        on_sources: RefsSink,
        on_token: TokenSink,
        cancel: threading.Event,
    ) -> AnswerResult:
        if self._answers is None:
            raise RuntimeError("the index is not open yet")
        return self._answers.ask(question, prefixes, conversation_id, on_sources, on_token, cancel)

    def conversations(self) -> list[ConversationInfo]:
        return self._answers.conversations() if self._answers else []

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        return self._answers.conversation(conversation_id) if self._answers else []

    def delete_conversation(self, conversation_id: str) -> None:
        if self._answers:
            self._answers.delete_conversation(conversation_id)

    def close(self) -> None:
        """Stop syncing and watching, then release the index (waits for a sync to stop)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.stop()
        if self._answers is not None:
            self._answers.close()
        with self._syncing:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
