"""Units: a chunk's text cut into the pieces a person would quote.

Prose becomes sentences (wrapped lines joined, abbreviations and version numbers kept
whole); a list item, a table row, a definition term with its first line, a heading or a
line of code is a unit of its own. Each unit knows its characters in the chunk text and the
chunk lines it spans, so a quote can cite the exact lines on disk.

Rescoring ranks a chunk by its best unit, and the answer quotes the best units verbatim:
both read these spans, so they must not change without UNITS_VERSION changing too (the
unit vectors in the cache are keyed by it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

UNITS_VERSION = "1"
MIN_CHARS = 12  # shorter pieces join the unit after them (or before, at the end)
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}#{1,6}\s")
ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
TABLE = re.compile(r"^\s*\|.*\|\s*$")
# A sentence ends at . ! or ? followed by space and an opening character; not after a
# common abbreviation or a single letter ("e.g. ", "i.e. ", "J. Smith").
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[`]?[A-Z0-9$~/-])")
ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|resp|Mr|Mrs|Dr|St|No|Fig|Sec|Ch|vol|al)"
    r"|\b[A-Za-z])\.$"
)


@dataclass(frozen=True)
class Unit:
    """Characters [start, end) of a chunk's text, on chunk lines first..last (0-based)."""

    start: int
    end: int
    first: int
    last: int
    kind: str  # "sentence", "item", "row", "heading", "code"


def split_units(text: str) -> list[Unit]:
    """The units of `text`, in order, covering every non-blank line."""
    lines = text.split("\n")
    offsets = _line_offsets(lines)
    units: list[Unit] = []
    index, in_fence = 0, False
    while index < len(lines):
        line = lines[index]
        if FENCE.match(line) or in_fence:
            if FENCE.match(line):
                in_fence = not in_fence
            if line.strip() and not FENCE.match(line):
                units.append(_line_unit(offsets, lines, index, "code"))
            index += 1
            continue
        if not line.strip():
            index += 1
            continue
        kind = _line_kind(line)
        if kind != "prose":
            end = _item_end(lines, index) if kind == "item" else index + 1
            units.append(_span_unit(offsets, lines, index, end, kind))
            index = end
            continue
        end = _paragraph_end(lines, index)
        units.extend(_sentences(text, offsets, lines, index, end))
        index = end
    return _merge_short(units, text)


def join_units(pieces: list[tuple[str, str, str, str]]) -> str:
    """Units back into one text, from (kind, text, citation markers, warning) each.
    Neighbours of one kind make a block: sentences joined by spaces, list items, table rows
    and headings one per line, code lines fenced, with their markers and warnings after
    the fence (inside it they would read as code), less the markers of the line that
    introduces the block."""
    blocks: list[str] = []
    before = ""  # the markers of the piece before the current block
    for kind, group in groupby(pieces, key=lambda piece: piece[0]):
        members = list(group)
        if kind == "code":
            own = (m for _, _, *marks in members for m in marks if m and m != before)
            lines = ["```", *(text for _, text, _, _ in members), "```"]
            marks = " ".join(dict.fromkeys(own))
            blocks.append("\n".join([*lines, marks] if marks else lines))
        else:
            marked = [_marked(text, markers, warning) for _, text, markers, warning in members]
            blocks.append((" " if kind == "sentence" else "\n").join(marked))
        before = members[-1][2]
    return "\n\n".join(blocks)


def _marked(text: str, markers: str, warning: str) -> str:
    if markers:  # before the closing punctuation
        cut = len(text.rstrip(".!?:"))
        text = f"{text[:cut]} {markers}{text[cut:]}"
    return f"{text} {warning}" if warning else text


def unit_text(text: str, unit: Unit) -> str:
    """The unit as a person reads it: its characters with wrapped lines joined; a line of
    code as written (the spaces inside it can matter), less the indentation around it."""
    if unit.kind == "code":
        return text[unit.start : unit.end].strip()
    return " ".join(text[unit.start : unit.end].split())


def _line_offsets(lines: list[str]) -> list[int]:
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    return offsets


def _line_kind(line: str) -> str:
    if HEADING.match(line):
        return "heading"
    if TABLE.match(line):
        return "row"
    if ITEM.match(line):
        return "item"
    if line.startswith(("    ", "\t")):
        return "code"
    return "prose"


def _paragraph_end(lines: list[str], start: int) -> int:
    end = start + 1
    while end < len(lines) and lines[end].strip() and _line_kind(lines[end]) == "prose":
        end += 1
    return end


def _item_end(lines: list[str], start: int) -> int:
    """A list item runs on over its indented continuation lines."""
    end = start + 1
    while end < len(lines) and lines[end].startswith(" ") and lines[end].strip():
        if ITEM.match(lines[end]):
            break
        end += 1
    return end


def _line_unit(offsets: list[int], lines: list[str], index: int, kind: str) -> Unit:
    return _span_unit(offsets, lines, index, index + 1, kind)


def _span_unit(offsets: list[int], lines: list[str], start: int, end: int, kind: str) -> Unit:
    first_char = offsets[start] + len(lines[start]) - len(lines[start].lstrip())
    last_char = offsets[end - 1] + len(lines[end - 1].rstrip())
    return Unit(first_char, last_char, start, end - 1, kind)


def _sentences(text: str, offsets: list[int], lines: list[str], start: int, end: int) -> list[Unit]:
    """Sentences of the paragraph on lines [start, end)."""
    begin = offsets[start] + len(lines[start]) - len(lines[start].lstrip())
    stop = offsets[end - 1] + len(lines[end - 1].rstrip())
    units: list[Unit] = []
    cursor = begin
    for match in SENTENCE_END.finditer(text, begin, stop):
        if ABBREVIATIONS.search(text[cursor : match.start()].rstrip("\"')]")):
            continue
        units.append(_char_unit(offsets, cursor, match.start(), start))
        cursor = match.end()
    if cursor < stop:
        units.append(_char_unit(offsets, cursor, stop, start))
    return [unit for unit in units if text[unit.start : unit.end].strip()]


def _char_unit(offsets: list[int], start: int, end: int, first_line: int) -> Unit:
    first = _line_of(offsets, start, first_line)
    last = _line_of(offsets, max(start, end - 1), first)
    return Unit(start, end, first, last, "sentence")


def _line_of(offsets: list[int], char: int, hint: int) -> int:
    line = hint
    while line + 1 < len(offsets) and offsets[line + 1] <= char:
        line += 1
    return line


def _merge_short(units: list[Unit], text: str) -> list[Unit]:
    """A sentence too short to stand alone ("Yes.", "See below.") joins the sentence before
    it in the same paragraph, or else the one after it."""
    merged: list[Unit] = []
    for unit in units:
        previous = merged[-1] if merged else None
        short = len(text[unit.start : unit.end].strip()) < MIN_CHARS
        if (
            previous is not None
            and same_paragraph(previous, unit)
            and (short or _is_short(previous, text))
        ):
            merged[-1] = Unit(previous.start, unit.end, previous.first, unit.last, "sentence")
        else:
            merged.append(unit)
    return merged


def _is_short(unit: Unit, text: str) -> bool:
    return unit.kind == "sentence" and len(text[unit.start : unit.end].strip()) < MIN_CHARS


def same_paragraph(first: Unit, second: Unit) -> bool:
    """Two sentences of one paragraph (the second starts on the line the first ends on, or
    the next one)."""
    same_kind = first.kind == second.kind == "sentence"
    return same_kind and second.first - first.last <= 1


def unit_spans(encoded: str, text: str) -> list[tuple[int, int]]:
    """Where `text`'s units lie in `encoded`, the string the encoder sees (which ends with
    the chunk's text: the heading path comes first)."""
    offset = len(encoded) - len(text)
    return [(offset + unit.start, offset + unit.end) for unit in split_units(text)]
