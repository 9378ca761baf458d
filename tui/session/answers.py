"""The app's side of the answer API: start the model, stream an answer, conversations.

A thin translation between `engine.answer` (an `Answer`, its contexts and sources) and the
app's plain data (`SourceRef`, `AnswerResult`). When no model can answer, the question still
gets the retrieved passages and a one-line reason, as `docsight ask` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from engine import Answer, Answerer, Context, Conversations, DocsightError, Hit, LiveIndex, Source
from tui.messages import AnswerResult, ConversationInfo, QuoteRef, SentenceRef, SourceRef

ModelSink = Callable[[str, "bool | None"], None]


def ref_from_hit(n: int, hit: Hit | Context, cited: bool = False, by: str = "") -> SourceRef:
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


def ref_from_source(source: Source, known: dict[int, Context]) -> SourceRef:
    """A source of an answer; text, heading and score come from its passage when at hand."""
    context = known.get(source.n)
    return SourceRef(
        n=source.n,
        path=source.path,
        start_line=source.start_line,
        end_line=source.end_line,
        page=source.page,
        heading=context.heading if context else "",
        score=context.score if context else None,
        text=context.text if context else "",
        cited=bool(source.by),
        by=source.by or "",
    )


def quote_refs(answer: Answer) -> list[QuoteRef]:
    return [
        QuoteRef(quote.text, context.n, quote.where())
        for quote, context in zip(answer.quote, answer.quoted, strict=True)
    ]


def result_from(answer: Answer) -> AnswerResult:
    known = {context.n: context for context in answer.contexts}
    return AnswerResult(
        answer.question,
        answer=answer.answer,
        generated=answer.generated,
        incomplete=answer.incomplete,
        reason=answer.reason,
        citations=[ref_from_source(source, known) for source in answer.citations],
        sources=[ref_from_source(source, known) for source in answer.sources],
        conversation_id=answer.conversation_id or None,
        model=answer.model,
        quote=quote_refs(answer),
        sentences=[
            SentenceRef(s.text, tuple(s.citations), s.by, s.supported, s.kind)
            for s in answer.sentences
        ],
        declined=answer.declined,
        followup=answer.followup,
        relevance=answer.relevance,
        indexing=answer.indexing,
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
                on_quote(quote_refs(answer), answer.followup, answer.indexing)

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
        return result_from(result)

    def conversations(self) -> list[ConversationInfo]:
        return [
            ConversationInfo(summary.id, summary.title, summary.turns, summary.updated)
            for summary in self.saved.list()
        ]

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        turns = self.saved.turns(conversation_id)
        return [result_from(Answer.from_saved(turn)) for turn in turns]

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
