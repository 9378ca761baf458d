"""The app's side of the answer API: start the model, stream an answer, conversations.

A thin translation between `engine.answer` (contexts, the `ask --json` document) and the
app's plain data (`SourceRef`, `AnswerResult`). When no model can answer, the question still
gets the retrieved passages and a one-line reason, as `docsight ask` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from engine import Answer, Answerer, Context, Conversations, DocsightError, LiveIndex
from tui.messages import AnswerResult, ConversationInfo, QuoteRef, SentenceRef, SourceRef

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


def ref_from_context(context: Context, by: str = "") -> SourceRef:
    return ref_from_hit(context.n, context, cited=bool(by), by=by)


def ref_from_json(entry: dict[str, Any], known: dict[int, Context]) -> SourceRef:
    """A saved citation; text, heading and score come from the contexts when at hand."""
    context = known.get(int(entry["n"]))
    return SourceRef(
        n=int(entry["n"]),
        path=str(entry["path"]),
        start_line=entry.get("start_line"),
        end_line=entry.get("end_line"),
        page=entry.get("page"),
        heading=context.heading if context else "",
        score=context.score if context else None,
        text=context.text if context else "",
        cited=bool(entry.get("by")),
        by=str(entry.get("by") or ""),
    )


def quote_refs(document: dict[str, Any]) -> list[QuoteRef]:
    refs = []
    for entry in document.get("quote") or []:
        ref = SourceRef(0, str(entry["path"]), entry.get("start_line"), entry.get("end_line"),
                        entry.get("page"))  # fmt: skip
        refs.append(QuoteRef(str(entry["text"]), int(entry["n"]), ref.where))
    return refs


def sentence_refs(document: dict[str, Any]) -> list[SentenceRef]:
    return [
        SentenceRef(
            str(entry["text"]),
            tuple(int(n) for n in entry.get("citations") or []),
            str(entry.get("by") or "model"),
            not entry.get("unsupported"),
            str(entry.get("kind") or "sentence"),
        )
        for entry in document.get("sentences") or []
    ]


def result_from(question: str, document: dict[str, Any], contexts: list[Context]) -> AnswerResult:
    known = {context.n: context for context in contexts}
    relevance = document.get("relevance")
    return AnswerResult(
        question,
        answer=str(document.get("answer", "")),
        generated=bool(document.get("generated")),
        incomplete=bool(document.get("incomplete")),
        reason=str(document.get("reason") or ""),
        citations=[ref_from_json(entry, known) for entry in document.get("citations", [])],
        sources=[ref_from_json(entry, known) for entry in document.get("sources", [])],
        conversation_id=document.get("conversation_id"),
        model=str(document.get("model") or ""),
        quote=quote_refs(document),
        sentences=sentence_refs(document),
        declined=bool(document.get("declined")),
        followup=bool(document.get("followup")),
        relevance=float(relevance) if relevance is not None else None,
        indexing=str(document.get("indexing") or ""),
    )


class Answers:
    def __init__(self, index: LiveIndex) -> None:
        self.index = index
        self._answerer: Answerer | None = None
        self._saved: Conversations | None = None
        self._on_state: ModelSink = lambda text, ready: None
        self._lock = threading.Lock()
        self._closing = threading.Event()

    @property
    def answerer(self) -> Answerer:
        with self._lock:
            if self._answerer is None:
                self._answerer = self.index.answerer()
            return self._answerer

    @property
    def saved(self) -> Conversations:
        """The folder's saved conversations, as the conversations screen lists them."""
        with self._lock:
            if self._saved is None:
                self._saved = self.index.conversations()
            return self._saved

    def start_model(self, on_state: ModelSink) -> None:
        """Start (or find) the model server now, so the first question does not wait."""
        self._on_state = on_state
        on_state("starting the model...", None)
        try:
            endpoint = self.index.model_server(
                lambda line: on_state(line, None),
                self._closing,  # quitting stops the wait; a loading server loads on
            )
        except DocsightError as error:
            on_state(f"unavailable: {error}", False)
            return
        on_state(f"{endpoint.backend} {endpoint.model}: ready", True)

    def ask(
        self,
        question: str,
        prefixes: list[str],
        conversation_id: str | None,
        on_sources: Callable[[list[SourceRef]], None],
        on_token: Callable[[str], None],
        cancel: threading.Event,
        on_quote: Callable[[list[QuoteRef], bool, str], None] | None = None,
    ) -> AnswerResult:
        def quoted(answer: Answer) -> None:
            if on_quote is not None:
                on_quote(
                    quote_refs({"quote": answer.quote_json()}), answer.followup, answer.indexing
                )

        result: Answer = self.answerer.ask(
            question,
            prefixes=prefixes,
            conversation_id=conversation_id,
            on_contexts=lambda contexts: on_sources(
                [ref_from_context(c) for c in reversed(contexts)]
            ),
            on_quote=quoted,
            on_token=on_token,
            on_state=lambda line: self._on_state(line, None),
            cancel=cancel,
        )
        if result.generated:
            self._on_state(f"{result.model}: ready", True)
        elif result.reason and result.contexts and not result.declined:
            self._on_state(f"unavailable: {result.reason}", False)  # the model failed
        return result_from(question, result.as_json(), result.contexts)

    def conversations(self) -> list[ConversationInfo]:
        return [
            ConversationInfo(summary.id, summary.title, summary.turns, summary.updated)
            for summary in self.saved.list()
        ]

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        turns = self.saved.turns(conversation_id)
        return [
            result_from(turn.question, turn.result, [Context(**p) for p in turn.passages])
            for turn in turns
        ]

    def delete_conversation(self, conversation_id: str) -> None:
        self.saved.delete(conversation_id)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            if self._answerer is not None:
                self._answerer.close()
            if self._saved is not None:
                self._saved.close()
            self._answerer = self._saved = None
