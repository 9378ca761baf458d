"""A question -> retrieved contexts -> prompt within the model's window -> streamed answer
-> citations -> saved turn. One path for every model server (engine.llm).

With no model at all the answer is the best passages and the reason (`generated: false`):
retrieval alone is still worth showing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import cite, followup
from engine.claims import Checked, check_sentence
from engine.config import Settings
from engine.conversations import Conversations, Turn
from engine.errors import ConversationNotFound, GenerationBroken, LLMUnavailable
from engine.llm import ChatClient, Endpoint
from engine.prompt import PASSAGE_CHARS, SAFETY_TOKENS, Context, build_contexts, fit_prompt
from engine.quote import Quote, choose_quote
from engine.rerank import absent_names
from engine.results import Source
from engine.types import Hit
from engine.units import join_units, split_units

log = logging.getLogger(__name__)

SearchFn = Callable[[str, int, Sequence[str]], list[Hit]]
# (say what is happening, stop waiting when set) -> the server to ask
EndpointFn = Callable[[Callable[[str], None], threading.Event | None], Endpoint]


@dataclass
class Answer:
    question: str
    answer: str = ""
    generated: bool = False
    incomplete: bool = False
    reason: str = ""
    citations: list[Source] = field(default_factory=list)  # cited, by whoever cited them
    sources: list[Source] = field(default_factory=list)  # retrieved, cited by nobody
    conversation_id: str = ""
    model: str = ""
    seconds: float = 0.0
    quote: list[Quote] = field(default_factory=list)
    sentences: list[Checked] = field(default_factory=list)  # the generated text, checked
    declined: bool = False  # no passage was relevant enough: nothing was generated
    followup: bool = False  # retrieved with the previous question
    relevance: float = 0.0  # of the best passage, 0-1
    indexing: str = ""  # the folder was still being indexed: how far it had got
    hits: list[Hit] = field(default_factory=list)
    contexts: list[Context] = field(default_factory=list)
    quoted: list[Context] = field(default_factory=list)  # the context of each quote
    timings: dict[str, float] = field(default_factory=dict)

    def quote_json(self) -> list[dict[str, object]]:
        return [q.as_json(c.n) for q, c in zip(self.quote, self.quoted, strict=True)]

    def as_json(self) -> dict[str, object]:
        """The `ask --json` document (docs/reference/cli.md)."""
        return {
            "answer": self.answer,
            "generated": self.generated,
            "incomplete": self.incomplete,
            "reason": self.reason,
            "citations": [citation.as_json() for citation in self.citations],
            "sources": [source.as_json() for source in self.sources],
            "conversation_id": self.conversation_id,
            "model": self.model,
            "seconds": round(self.seconds, 3),
            "quote": self.quote_json(),
            "sentences": [sentence.as_json() for sentence in self.sentences],
            "declined": self.declined,
            "followup": self.followup,
            "relevance": round(self.relevance, 3),
            "indexing": self.indexing,
        }

    @classmethod
    def from_saved(cls, turn: Turn) -> Answer:
        """A saved turn as it was answered: its document, with the passages it kept."""
        document = turn.result
        contexts = [Context(**passage) for passage in turn.passages]
        known = {context.n: context for context in contexts}
        saved = document.get("quote") or []
        quote = [Quote.from_json(entry) for entry in saved]
        quoted = [_quoted(q, int(entry["n"]), known) for q, entry in zip(quote, saved, strict=True)]
        return cls(
            turn.question,
            answer=str(document.get("answer", turn.answer)),
            generated=bool(document.get("generated")),
            incomplete=bool(document.get("incomplete")),
            reason=str(document.get("reason") or ""),
            citations=[Source.from_json(entry) for entry in document.get("citations") or []],
            sources=[Source.from_json(entry) for entry in document.get("sources") or []],
            conversation_id=str(document.get("conversation_id") or ""),
            model=str(document.get("model") or ""),
            seconds=float(document.get("seconds") or 0.0),
            quote=quote,
            sentences=[Checked.from_json(entry) for entry in document.get("sentences") or []],
            declined=bool(document.get("declined")),
            followup=bool(document.get("followup")),
            relevance=float(document.get("relevance") or 0.0),
            indexing=str(document.get("indexing") or ""),
            contexts=contexts,
            quoted=quoted,
        )


def _quoted(quote: Quote, n: int, known: dict[int, Context]) -> Context:
    """The passage a saved quote came from: kept with its turn, or remade from the quote."""
    found = known.get(n)
    if found is not None:
        return found
    return Context(quote.path, quote.start_line, quote.end_line, quote.page, "", quote.text, 0.0, n)


@dataclass(frozen=True)
class Hooks:
    """What a caller hears while an answer is made."""

    on_contexts: Callable[[list[Context]], None] | None = None
    on_quote: Callable[[Answer], None] | None = None
    on_token: Callable[[str], None] | None = None
    on_state: Callable[[str], None] | None = None


# the whole question ------------------------------------------------------------------------
class Answerer:
    """Answers questions about one folder; keeps its conversations."""

    def __init__(
        self,
        settings: Settings,
        search: SearchFn,
        endpoint: EndpointFn,
        conversations_path: Path,
        embed: cite.Embed | None = None,
        folder: Path | None = None,
        indexing: Callable[[], str] | None = None,
    ) -> None:
        self.settings = settings
        self.search = search
        self.endpoint = endpoint
        self.embed = embed
        self.folder = folder  # to find a quote's exact lines on disk
        self.indexing = indexing or (lambda: "")
        self.conversations = Conversations(conversations_path)

    def close(self) -> None:
        self.conversations.close()

    def ask(
        self,
        question: str,
        *,
        prefixes: Sequence[str] = (),
        conversation_id: str | None = None,
        on_contexts: Callable[[list[Context]], None] | None = None,
        on_quote: Callable[[Answer], None] | None = None,
        on_token: Callable[[str], None] | None = None,
        on_state: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        started = time.monotonic()
        hooks = Hooks(on_contexts, on_quote, on_token, on_state)
        turns = self._history(conversation_id)
        result = self._retrieve(question, turns, prefixes)
        result.timings["retrieve"] = time.monotonic() - started
        if hooks.on_contexts:
            hooks.on_contexts(result.contexts)
        floor = self.settings.retrieval.min_relevance
        absent = absent_names(question, result.hits, self._search_for(prefixes))
        if not result.contexts:
            result.reason = "no indexed passage matches the question"
            result.answer = "The index holds nothing that matches this question."
        elif result.relevance < floor or absent:
            result.declined = True
            result.reason = (
                f"no passage mentions {', '.join(absent)}"
                if absent
                else f"no passage is relevant enough (best {result.relevance:.2f}, "
                f"needs {floor:.2f})"
            ) + ": the folder does not seem to hold the answer"
        else:
            self._quote(result, hooks)
            result.timings["quote"] = time.monotonic() - started
            self._generate(result, turns, hooks, cancel)
        self._finish(result)
        result.seconds = time.monotonic() - started
        result.conversation_id = self._save(conversation_id, question, result)
        return result

    def _search_for(self, prefixes: Sequence[str]) -> Callable[[str], list[Hit]]:
        return lambda query: self.search(query, self.settings.retrieval.top_k, prefixes)

    def _history(self, conversation_id: str | None) -> list[Turn]:
        if conversation_id is None:
            return []
        if not self.conversations.exists(conversation_id):
            raise ConversationNotFound(conversation_id, " (docsight conversations DIR lists them)")
        return self.conversations.turns(conversation_id)

    def _retrieve(self, question: str, turns: list[Turn], prefixes: Sequence[str]) -> Answer:
        previous = turns[-1].question if turns else None
        retrieved = followup.retrieve(
            question,
            previous,
            self._search_for(prefixes),
            self.settings.retrieval.min_relevance,
        )
        result = Answer(question, followup=retrieved.followup, indexing=self.indexing())
        result.relevance = followup.best(retrieved.hits)
        result.hits = retrieved.hits
        best_first = self.settings.llm.prompt_order == "best_first"
        result.contexts = build_contexts(retrieved.hits, best_first)
        return result

    def _quote(self, result: Answer, hooks: Hooks) -> None:
        """The verbatim sentences that answer, shown before the model starts."""
        result.quote = choose_quote(result.question, result.hits, self.folder)
        result.quoted = [context_of(result.contexts, result.hits[q.hit]) for q in result.quote]
        if hooks.on_quote and result.quote:
            hooks.on_quote(result)

    def _generate(
        self, result: Answer, turns: list[Turn], hooks: Hooks, cancel: threading.Event | None
    ) -> None:
        pieces: list[str] = []
        try:
            endpoint = self.endpoint(hooks.on_state or (lambda line: None), cancel)
            result.model = endpoint.model
            client = ChatClient(endpoint)
            try:
                self._stream(client, result, turns, pieces, hooks, cancel)
            finally:
                client.close()
        except GenerationBroken as error:
            result.generated, result.incomplete, result.reason = True, True, str(error)
            result.answer = "".join(pieces)
        except LLMUnavailable as error:
            log.info("answering with the quote and passages only: %s", error)
            result.reason = str(error)

    def _stream(
        self,
        client: ChatClient,
        result: Answer,
        turns: list[Turn],
        pieces: list[str],
        hooks: Hooks,
        cancel: threading.Event | None,
    ) -> None:
        llm = self.settings.llm
        window = client.endpoint.context_length
        answer_tokens = min(llm.max_tokens, window // 4)
        budget = window - answer_tokens - SAFETY_TOKENS
        retrieved = [context.where() for context in result.contexts]
        messages, contexts = fit_prompt(client, result.question, result.contexts, turns, budget)
        renumbered = [c.where() for c in contexts] != retrieved
        _renumber(result, contexts)
        if renumbered and hooks.on_contexts:
            hooks.on_contexts(result.contexts)  # some did not fit the window
            if hooks.on_quote and result.quote:
                hooks.on_quote(result)
        first = time.monotonic()
        for piece in client.stream(
            messages,
            temperature=llm.temperature,
            top_p=llm.top_p,
            max_tokens=answer_tokens,
            cancel=cancel,
        ):
            if not pieces:
                result.timings["first_token"] = time.monotonic() - first
            pieces.append(piece)
            if hooks.on_token:
                hooks.on_token(piece)
        result.timings["stream"] = time.monotonic() - first
        result.timings["pieces"] = len(pieces)  # servers stream about one token a piece
        result.generated = True
        result.answer = "".join(pieces)
        if cancel is not None and cancel.is_set():
            result.incomplete, result.reason = True, "stopped before the end"

    def _finish(self, result: Answer) -> None:
        """Check what the model wrote, place every citation, compose the answer text."""
        if result.generated:
            passages = {c.n: c.text for c in result.contexts}
            result.sentences = check_answer(result.answer, passages, self.embed)
        made: dict[int, str] = {}
        for context in result.quoted:
            made.setdefault(context.n, "quote")
        for sentence in result.sentences:
            for n in sentence.citations:
                made[n] = "model" if sentence.by == "model" else made.get(n, "attribution")
        by_number = {context.n: context for context in result.contexts}
        result.citations = [by_number[n].source(by) for n, by in sorted(made.items())]
        result.sources = [c.source(None) for c in reversed(result.contexts) if c.n not in made]
        result.answer = compose(result)

    def _save(self, conversation_id: str | None, question: str, result: Answer) -> str:
        chosen = conversation_id or self.conversations.new(question)
        result.conversation_id = chosen
        passages = [context.as_saved() for context in result.contexts]
        self.conversations.add_turn(chosen, question, result.as_json(), passages)
        return chosen


UNSUPPORTED_MARK = "[not in the sources]"
TRAILING_MARKERS = re.compile(r"(?:\s+\[\d{1,3}(?:\s*,\s*\d{1,3})*\])*\s*$")


def compose(result: Answer) -> str:
    """The answer as text: the quote ("> " lines), then the checked generated sentences
    with their markers; a sentence no passage supports carries UNSUPPORTED_MARK."""
    if result.declined:
        return "The documents do not seem to answer this; the nearest passages are listed."
    if not result.contexts:
        return result.answer
    parts = [f"> {q.text} [{c.n}]" for q, c in zip(result.quote, result.quoted, strict=True)]
    quote = "\n".join(parts)
    if not result.sentences:
        return quote or passages_answer(result.contexts)
    said = join_units([_piece(sentence) for sentence in result.sentences])
    return f"{quote}\n\n{said}" if quote else said


def _piece(sentence: Checked) -> tuple[str, str, str, str]:
    markers = "".join(f"[{n}]" for n in sentence.citations)
    warning = "" if sentence.supported else UNSUPPORTED_MARK
    return sentence.kind, sentence.text, markers, warning


def check_answer(answer: str, passages: dict[int, str], embed: cite.Embed | None) -> list[Checked]:
    """The answer's units (sentences, list items, code lines), each checked against the
    passages (engine/claims.py), markers out of range dropped."""
    units = split_units(answer)
    texts = [answer[u.start : u.end] for u in units]
    numbers = sorted(passages)
    similar = cite.support_scores(
        [cite.MARKER.sub("", t) for t in texts], [passages[n] for n in numbers], embed
    )
    lines = answer.split("\n")
    checked = []
    for unit, text, row in zip(units, texts, similar, strict=True):
        cited = cite.markers(text, max(numbers, default=0))
        scores = {n: float(score) for n, score in zip(numbers, row, strict=True)}
        sentence = check_sentence(text, cited, passages, scores)
        sentence.kind = unit.kind
        if unit.kind == "code":  # as written, indentation and all; `a[1]` is code
            sentence.text = TRAILING_MARKERS.sub("", lines[unit.first])
        checked.append(sentence)
    return [sentence for sentence in checked if sentence.text]


def context_of(contexts: Sequence[Context], hit: Hit) -> Context:
    """The context a hit ended up in (merged with its neighbours, or on its own)."""
    for context in contexts:
        if context.path == hit.path and context.page == hit.page and _overlaps(context, hit):
            return context
    return max(contexts, key=lambda c: c.score)


def _overlaps(context: Context, hit: Hit) -> bool:
    if context.start_line is None or hit.start_line is None:
        return True
    assert context.end_line is not None and hit.end_line is not None
    return context.start_line <= hit.end_line and hit.start_line <= context.end_line


def _renumber(result: Answer, contexts: list[Context]) -> None:
    """fit_prompt numbers fresh copies: carry the quotes over to them."""
    fresh = {c.where(): c for c in contexts}
    result.quoted = [fresh.get(c.where(), c) for c in result.quoted]
    result.contexts = contexts


def passages_answer(contexts: Sequence[Context]) -> str:
    """The answer when no model could write one: the best passages, best first."""
    parts = []
    for context in reversed(contexts):
        text = " ".join(context.text.split())
        if len(text) > PASSAGE_CHARS:
            text = text[: PASSAGE_CHARS - 1].rstrip() + "…"
        parts.append(f"[{context.n}] {context.where()}\n{text}")
    return "\n\n".join(parts)


def embed_with(embedder: Callable[[], Any]) -> cite.Embed:
    """The engine's encoder (loaded on first use) as the attribution's `embed`."""

    def embed(texts: list[str]) -> np.ndarray:
        return np.asarray(embedder().embed_documents(texts))

    return embed
