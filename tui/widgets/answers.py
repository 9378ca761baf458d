"""The app's side of the answer API: start the model, stream an answer, conversations.

When no model can answer (no answer module in this build, the server down), the question
still gets the retrieved passages and a one-line reason, as `docsight ask` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui.messages import AnswerResult, ConversationInfo, SourceRef

ModelSink = Callable[[str, "bool | None"], None]


def ref_from_hit(n: int, hit: Any, cited: bool = False, by: str = "") -> SourceRef:
    return SourceRef(
        n=n,
        path=hit.path,
        start_line=hit.start_line,
        end_line=hit.end_line,
        page=hit.page,
        heading=hit.heading,
        score=hit.score,
        text=hit.text,
        cited=cited,
        by=by,
    )


class Answers:
    def __init__(self, engine: Any, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir
        self.unavailable = "no answer module in this build"

    def start_model(self, on_state: ModelSink) -> None:
        on_state(f"model unavailable: {self.unavailable}", False)

    def ask(
        self,
        question: str,
        prefixes: list[str],
        conversation_id: str | None,
        on_sources: Callable[[list[SourceRef]], None],
        on_token: Callable[[str], None],
        cancel: threading.Event,
    ) -> AnswerResult:
        return self.passages_only(question, prefixes, self.unavailable, on_sources)

    def passages_only(
        self,
        question: str,
        prefixes: list[str],
        reason: str,
        on_sources: Callable[[list[SourceRef]], None],
    ) -> AnswerResult:
        hits = self.engine.search(question, path_prefixes=prefixes)
        refs = [ref_from_hit(n, hit) for n, hit in enumerate(hits, 1)]
        on_sources(refs)
        return AnswerResult(question, generated=False, reason=reason, sources=refs)

    def conversations(self) -> list[ConversationInfo]:
        return []

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        return []

    def delete_conversation(self, conversation_id: str) -> None:
        return None

    def close(self) -> None:
        return None
