"""Citations: the [n] markers a model wrote, and the ones docsight adds where it wrote none.

Small models rarely cite (SmolLM2-135M: no marker in 10 of 10 answers), so every answer
sentence without a marker is compared with the contexts the model was given; when one
context clearly supports it (it shares most of the sentence's words, or its meaning by the
engine's encoder, and beats the runner-up), the sentence gets that context's marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"[A-Za-z0-9_]{3,}")
_STOP_TEXT = """the and for are but not you all any can had her was one our out has have this
that with from they will would there their what when which who how its into than then them
these those does did also only just more most some such very your about should could use used
using answer context question documents document"""
STOPWORDS = frozenset(_STOP_TEXT.split())
NO_ANSWER = re.compile(
    r"\b((?:do|does)(?:n't| not) (?:contain|mention|say|cover|include)|no information"
    r"|not (?:mentioned|covered|provided|found)|cannot (?:answer|find)|can't (?:answer|find)"
    r"|(?:don't|do not) know)\b",
    re.IGNORECASE,
)
MIN_SENTENCE_WORDS = 3
SUPPORT = 0.5  # a sentence's score against its best context must reach this
MARGIN = 0.1  # ... and beat the runner-up by this much

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class Marked:
    """An answer after attribution: the text with added markers, and who made each."""

    text: str
    by_model: list[int]
    by_attribution: list[int]


def markers(text: str, count: int) -> list[int]:
    """Context numbers cited in `text`, first appearance first; numbers out of range dropped."""
    found: list[int] = []
    for match in MARKER.finditer(text):
        for part in match.group(1).split(","):
            number = int(part)
            if 1 <= number <= count and number not in found:
                found.append(number)
    return found


def says_not_found(answer: str) -> bool:
    """The model said the documents do not hold the answer: nothing to cite."""
    return bool(NO_ANSWER.search(answer))


def attribute(answer: str, contexts: Sequence[str], embed: Embed | None = None) -> Marked:
    """Add a marker to each unmarked sentence one context clearly supports; when the answer
    cites nothing at all and does not say the documents lack the answer, cite the context
    that supports the answer as a whole best."""
    by_model = markers(answer, len(contexts))
    spans = [span for span in _sentences(answer) if not MARKER.search(answer[span[0] : span[1]])]
    sentences = [answer[start:end] for start, end in spans]
    scores = _scores(sentences, contexts, embed)
    insertions: list[tuple[int, int]] = []
    for (_, end), row in zip(spans, scores, strict=True):
        best = _clear_winner(row)
        if best is not None:  # the marker goes before the sentence's closing punctuation
            insertions.append((end - 1 if answer[end - 1] in ".!?:" else end, best + 1))
    text = answer
    for position, number in sorted(insertions, reverse=True):
        text = f"{text[:position]} [{number}]{text[position:]}"
    by_attribution = [n for n in dict.fromkeys(n for _, n in insertions) if n not in by_model]
    cites_nothing = not by_model and not by_attribution
    if cites_nothing and contexts and answer.strip() and not says_not_found(answer):
        whole = _scores([answer], contexts, embed)[0]
        number = int(np.argmax(whole)) + 1
        text = f"{text.rstrip()} [{number}]"
        by_attribution = [number]
    return Marked(text, by_model, by_attribution)


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text.rstrip())))
    return [
        (start, end)
        for start, end in spans
        if len(_words(text[start:end])) >= MIN_SENTENCE_WORDS
        and not text[start:end].lstrip().startswith(("```", "    "))
    ]


def _words(text: str) -> set[str]:
    return {word.lower() for word in WORD.findall(text)} - STOPWORDS


def support_scores(
    sentences: list[str], contexts: Sequence[str], embed: Embed | None
) -> np.ndarray:
    """sentences x contexts: how clearly each context supports each sentence."""
    return _scores(sentences, contexts, embed)


def _scores(sentences: list[str], contexts: Sequence[str], embed: Embed | None) -> np.ndarray:
    """sentences x contexts: the larger of word overlap and (when an encoder is at hand)
    cosine similarity."""
    if not sentences or not contexts:
        return np.zeros((len(sentences), len(contexts)))
    context_words = [_words(context) for context in contexts]
    lexical = np.array(
        [
            [len(words & other) / max(len(words), 1) for other in context_words]
            for words in (_words(sentence) for sentence in sentences)
        ]
    )
    if embed is None:
        return lexical
    vectors = embed([*sentences, *contexts])
    semantic = vectors[: len(sentences)] @ vectors[len(sentences) :].T
    best: np.ndarray = np.maximum(lexical, semantic)
    return best


def _clear_winner(row: np.ndarray) -> int | None:
    if row.size == 0:
        return None
    order = np.argsort(row)[::-1]
    best = float(row[order[0]])
    runner_up = float(row[order[1]]) if row.size > 1 else 0.0
    return int(order[0]) if best >= SUPPORT and best - runner_up >= MARGIN else None
