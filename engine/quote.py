"""Quote first: the sentences of the retrieved passages that answer the question, verbatim,
each cited to the exact lines on disk.

The units (engine/units.py) of the best passages are scored against the question: their
cosine with it (from the search's unit scores, pooled at index time), the share of the
question's content words they hold, and the names it mentions that they contain, plus the
passage's own relevance. The best unit is the quote; its neighbour joins it when the best
is only a name or a fragment (a definition term, a heading-like line), or when it is nearly
as good and continues the same paragraph; and the best unit of another passage joins it
when it is nearly as good. With no model at all, the quote is the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import LoadFailed, LoadSkipped
from engine.kinds import kind_of
from engine.load import load
from engine.rerank import content_words, identifiers
from engine.results import source_ref
from engine.types import Hit, ScannedFile
from engine.units import Unit, split_units, unit_text

PASSAGES = 3  # the quote comes from the best few passages only
SHORT_UNIT = 60  # a best unit this short takes its neighbour along
NEAR = 0.05  # a neighbour this close to the best unit's score joins it
MAX_QUOTE_CHARS = 400
# The best unit of another passage joins the quote when it scores this close to the best
# (bench/quote_quality.py: with 0.15, the quote states the answer for 0.63 of the docs
# questions and 0.38 of git's, against 0.51 and 0.28 with one passage's units alone).
SECOND_NEAR = 0.15
NAME_PARTS = re.compile(r"[._-]")


@dataclass(frozen=True)
class Quote:
    """One quoted unit and where it is on disk."""

    text: str
    path: str
    start_line: int | None
    end_line: int | None
    page: int | None
    score: float
    hit: int  # index of the hit it comes from

    def where(self) -> str:
        return source_ref(self.path, self.start_line, self.end_line, self.page)

    def as_json(self, n: int) -> dict[str, object]:
        return {
            "text": self.text,
            "n": n,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "page": self.page,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Quote:
        """A saved quote (its score and hit are not kept: 0 and -1)."""
        return cls(
            str(document["text"]),
            str(document["path"]),
            document.get("start_line"),
            document.get("end_line"),
            document.get("page"),
            0.0,
            -1,
        )


def choose_quote(question: str, hits: Sequence[Hit], folder: Path | None) -> list[Quote]:
    """The units that answer `question`: the best one (with its neighbour, see
    `_with_neighbour`), then the best unit of another passage when it scores nearly as
    well (a fact is often stated where the question's words are not)."""
    scored: dict[int, list[tuple[Unit, float]]] = {}
    words, names = content_words(question), identifiers(question)
    for index, hit in enumerate(list(hits)[:PASSAGES]):
        units = split_units(hit.text)
        scores = list(hit.unit_scores) + [0.0] * (len(units) - len(hit.unit_scores))
        scored[index] = [
            (unit, _score(hit, unit, cosine, words, names))
            for unit, cosine in zip(units, scores, strict=False)
        ]
    best = _best_unit(scored, exclude=None)
    if best is None:
        return []
    top, index, position = best
    chosen = _with_neighbour(scored[index], position, hits[index].text)
    lines = source_lines(folder, hits[index])
    quotes = [_quote(hits[index], index, unit, score, lines) for unit, score in chosen]
    second = _best_unit(scored, exclude=index)
    if second is not None and second[0] >= top - SECOND_NEAR:
        _, other, place = second
        unit, score = scored[other][place]
        quotes.append(_quote(hits[other], other, unit, score, source_lines(folder, hits[other])))
    return quotes


def _best_unit(
    scored: dict[int, list[tuple[Unit, float]]], exclude: int | None
) -> tuple[float, int, int] | None:
    """(score, passage, unit) of the best unit that is not a heading, outside `exclude`."""
    best: tuple[float, int, int] | None = None
    for index, rows in scored.items():
        if index == exclude:
            continue
        for position, (unit, score) in enumerate(rows):
            if unit.kind != "heading" and (best is None or score > best[0]):
                best = (score, index, position)
    return best


def _words(text: str) -> set[str]:
    """Content words, with the parts of a compound name too (`chunk_size`: chunk, size)."""
    held = content_words(text)
    return held | {part for word in held for part in NAME_PARTS.split(word) if part}


def _score(hit: Hit, unit: Unit, cosine: float, words: set[str], names: list[str]) -> float:
    text = unit_text(hit.text, unit)
    held = _words(text)
    word_share = len(words & held) / len(words) if words else 0.0
    lowered = text.lower()
    name_share = sum(name in lowered for name in names) / len(names) if names else 0.0
    return cosine + 0.5 * hit.score + 0.4 * word_share + 0.3 * name_share


def _with_neighbour(
    rows: list[tuple[Unit, float]], position: int, text: str
) -> list[tuple[Unit, float]]:
    unit, score = rows[position]
    chosen = [rows[position]]
    following = rows[position + 1] if position + 1 < len(rows) else None
    if following is None or following[0].kind == "heading":
        return chosen
    short = len(unit_text(text, unit)) < SHORT_UNIT
    continues = following[0].first - unit.last <= 1 and following[1] >= score - NEAR
    combined = len(unit_text(text, unit)) + len(unit_text(text, following[0]))
    if (short or continues) and combined <= MAX_QUOTE_CHARS:
        chosen.append(following)
    return chosen


def _quote(hit: Hit, index: int, unit: Unit, score: float, lines: list[int | None]) -> Quote:
    first = lines[unit.first] if unit.first < len(lines) else hit.start_line
    last = lines[unit.last] if unit.last < len(lines) else hit.end_line
    numbers = [n for n in lines[unit.first : unit.last + 1] if n is not None]
    if numbers:  # HTML text can come from source lines out of order
        first, last = min(numbers), max(numbers)
    return Quote(unit_text(hit.text, unit), hit.path, first, last, hit.page, round(score, 4), index)


def source_lines(folder: Path | None, hit: Hit) -> list[int | None]:
    """The line on disk of each line of the hit's text: the file is read again and the
    chunk's lines found in it (HTML and rST text lines are not the file's lines). When the
    file changed or cannot be read, lines count on from the chunk's first line."""
    text_lines = hit.text.split("\n")
    fallback: list[int | None] = (
        [hit.start_line + i for i in range(len(text_lines))]
        if hit.start_line
        else [None] * len(text_lines)
    )
    kind = kind_of(hit.path)
    if (
        folder is None
        or kind is None
        or hit.page is not None
        or kind in ("markdown", "text", "code")
    ):
        return fallback  # these kinds' text lines are the file's lines
    try:
        document = load(folder, ScannedFile(hit.path, 0, 0, kind))
    except (LoadFailed, LoadSkipped, OSError, ValueError):
        return fallback
    loaded = document.lines
    wanted = [line.rstrip() for line in text_lines]
    for start, line in enumerate(loaded):
        if line.text.rstrip() != wanted[0]:
            continue
        window = loaded[start : start + len(wanted)]
        numbers = [w.line for w in window if w.line is not None and w.text.strip()]
        same_place = bool(numbers) and min(numbers) == hit.start_line
        if same_place and [w.text.rstrip() for w in window] == wanted:
            return [w.line for w in window]
    return fallback
