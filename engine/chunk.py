"""Chunk: lines of one file -> pieces of at most `size` characters, split at structure first.

1. Blocks: headings, paragraphs between blank lines, fenced code (kept whole) and page
   changes (PDF). Every non-blank line lands in exactly one block.
2. Units: headings join the block under them (a title directly followed by a subheading
   joins that subsection too), so a cited chunk shows its heading and none is a bare title.
3. Packing, per section (a heading always starts a chunk). Page changes and units longer
   than `size` are hard breaks; a long unit is cut by LangChain's
   RecursiveCharacterTextSplitter with `overlap`. Between hard breaks, a stretch longer
   than `size` is halved at the unit whose opening words hash lowest (a content-defined
   point), again and again until every piece fits. Where a cut falls depends on the text
   near it, not on where packing started, so growing, shrinking or rewording a paragraph
   changes its own chunk and rarely a neighbour, anywhere in the file: the rest keep their
   hashes and vectors. Cuts that would leave a piece under MIN_PIECE x size are avoided.
   A unit that opens a definition-list entry (an option or setting of a reference page)
   is always preferred as a cut point, so entries are cut apart rather than split, and a
   chunk holding one entry carries the entry's name in its heading path.

`size` bounds the normalised text of a chunk (runs of blank lines count as one blank line),
plus the heading lines glued in front of a block that had to be cut (at most
LEAD_SLACK x size). A single line with no space to cut at is cut mid-word by LangChain.
Line numbers are not part of a chunk's hash, so text that only moved keeps its vector.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from engine.types import Chunk, LoadedDocument, SourceLine

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

CHUNKER_VERSION = "4"
MIN_PIECE = 0.25  # cuts leaving a piece shorter than this x size are the last resort
LEAD_SLACK = 0.25  # heading lines up to this x size join the text under them
KEY_CHARS = 64  # opening characters of a unit that rank it as a cut point
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
BLANK_RUNS = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Block:
    start: int  # index of its first line in the document
    end: int  # one past its last line
    level: int = 0  # heading level; 0 for text


@dataclass(frozen=True)
class Unit:
    """What packing moves as one: a block, with the heading lines that lead into it."""

    start: int
    body: int  # first line after the leading headings (== start without any)
    end: int
    text: str  # normalised
    page: int | None
    term: str = ""  # the entry's name when the unit opens a definition-list entry


@dataclass
class Section:
    heading: str
    units: list[Unit]


# public API ---------------------------------------------------------------------------------
def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def chunk_hash(heading: str, text: str) -> str:
    payload = f"{CHUNKER_VERSION}\0{heading}\0{normalise(text)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def embedding_text(chunk: Chunk) -> str:
    """What the encoder sees: the heading path gives a paragraph its context."""
    return f"{chunk.heading}\n\n{chunk.text}" if chunk.heading else chunk.text


def chunk_document(doc: LoadedDocument, size: int = 768, overlap: int = 77) -> list[Chunk]:
    # Code has no headings, and ``` in code is usually inside a string, not a fence.
    structured = doc.kind != "code"
    chunks: list[Chunk] = []
    for section in _sections(doc.lines, _blocks(doc.lines, structured), size):
        for group in _pack(section.units, size):
            heading = _entry_heading(section.heading, group)
            if len(group) == 1 and len(group[0].text) > size:
                chunks.extend(_split_unit(doc.lines, heading, group[0], size, overlap))
            else:
                chunks.append(_chunk(doc.lines, heading, group[0].start, group[-1].end))
    return chunks


def _entry_heading(heading: str, group: list[Unit]) -> str:
    """A chunk holding one definition-list entry carries the entry's name in its heading."""
    terms = [unit.term for unit in group if unit.term]
    if len(terms) != 1 or not group[0].term:
        return heading
    return f"{heading} > {terms[0]}" if heading else terms[0]


# blocks -------------------------------------------------------------------------------------
def _blocks(lines: list[SourceLine], structured: bool) -> list[Block]:
    blocks: list[Block] = []
    start = -1  # first line of the open paragraph or fence; -1 when none is open
    fence = ""  # marker of the open fence; "" outside one
    for index, line in enumerate(lines):
        if start >= 0 and line.page != lines[start].page:  # pages are hard breaks
            blocks.append(_trimmed(lines, start, index))
            start, fence = -1, ""
        if fence:
            if _closes(line.text, fence):
                blocks.append(Block(start, index + 1))
                start, fence = -1, ""
            continue
        markup = structured and not line.literal
        opener = FENCE.match(line.text) if markup else None
        heading = HEADING.match(line.text) if markup else None
        if start >= 0 and (opener or heading or not line.text.strip()):
            blocks.append(Block(start, index))
            start = -1
        if heading:
            blocks.append(Block(index, index + 1, len(heading.group(1))))
        elif line.text.strip() and start < 0:
            start, fence = index, opener.group(1) if opener else ""
    if start >= 0:
        blocks.append(_trimmed(lines, start, len(lines)))
    return blocks


def _closes(text: str, fence: str) -> bool:
    stripped = text.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def _trimmed(lines: list[SourceLine], start: int, end: int) -> Block:
    """A block cut short (end of file or page inside a fence) ends at its last text line."""
    while end > start + 1 and not lines[end - 1].text.strip():
        end -= 1
    return Block(start, end)


# sections and units -------------------------------------------------------------------------
def _sections(lines: list[SourceLine], blocks: list[Block], size: int) -> list[Section]:
    sections = [Section("", [])]
    path: list[tuple[int, str]] = []
    lead: Block | None = None  # heading lines not yet followed by text
    for block in blocks:
        if block.level:
            carried = lead is not None and block.level > lead.level
            if lead is not None and not carried:
                sections[-1].units.append(_unit(lines, lead.start, lead.end, lead.end))
            title = HEADING.match(lines[block.start].text)
            path = [(level, name) for level, name in path if level < block.level]
            path.append((block.level, title.group(2) if title else ""))
            sections.append(Section(" > ".join(name for _, name in path), []))
            # a carried title keeps its own start, so the subsection's chunk shows both
            start = lead.start if carried and lead is not None else block.start
            lead = Block(start, block.end, block.level)
            continue
        if lead is not None and _glues(lines, lead, block, size):
            sections[-1].units.append(_unit(lines, lead.start, block.start, block.end))
        else:
            if lead is not None:
                sections[-1].units.append(_unit(lines, lead.start, lead.end, lead.end))
            sections[-1].units.append(_unit(lines, block.start, block.start, block.end))
        lead = None
    if lead is not None:
        sections[-1].units.append(_unit(lines, lead.start, lead.end, lead.end))
    return [section for section in sections if section.units]


def _glues(lines: list[SourceLine], lead: Block, block: Block, size: int) -> bool:
    """Headings join the text under them, unless a page lies between or they are long."""
    same_page = lines[lead.start].page == lines[block.start].page
    return same_page and len(normalise(_raw(lines, lead.start, lead.end))) <= size * LEAD_SLACK


def _unit(lines: list[SourceLine], start: int, body: int, end: int) -> Unit:
    text = normalise(_raw(lines, start, end))
    term = lines[body].text.strip() if body < end and lines[body].term else ""
    return Unit(start, body, end, text, lines[start].page, term)


def _raw(lines: list[SourceLine], start: int, end: int) -> str:
    return "\n".join(line.text.rstrip() for line in lines[start:end])


# packing ------------------------------------------------------------------------------------
def _pack(units: list[Unit], size: int) -> list[list[Unit]]:
    """Groups of units, one chunk each (a lone unit over `size` is cut later)."""
    return [group for run in _runs(units, size) for group in _halve(run, size)]


def _runs(units: list[Unit], size: int) -> list[list[Unit]]:
    """Cut at hard breaks: page changes, and around units too long for one chunk."""
    runs: list[list[Unit]] = []
    for unit in units:
        previous = runs[-1][-1] if runs else None
        if (
            previous is None
            or previous.page != unit.page
            or size < max(len(unit.text), len(previous.text))
        ):
            runs.append([unit])
        else:
            runs[-1].append(unit)
    return runs


def _halve(run: list[Unit], size: int) -> list[list[Unit]]:
    """Cut a run at content-defined points until every piece fits in `size`."""
    # ends[i]: normalised length of units [0, i) as one text, plus the blank line after
    ends = [0]
    for unit in run:
        ends.append(ends[-1] + len(unit.text) + 2)
    ranks = [_rank(unit) - (1.0 if unit.term else 0.0) for unit in run]  # terms first
    groups: list[list[Unit]] = []
    pending = [(0, len(run))]
    while pending:  # a stack, not recursion: a section may hold thousands of units
        first, last = pending.pop()
        if ends[last] - ends[first] - 2 <= size or last - first == 1:
            groups.append(run[first:last])
            continue
        cut = _cut(ends, ranks, first, last, MIN_PIECE * size)
        pending += [(cut, last), (first, cut)]
    return groups


def _cut(ends: list[int], ranks: list[float], first: int, last: int, minimum: float) -> int:
    """The lowest-ranked unit in (first, last) that leaves no small piece; else the fairest."""
    best: tuple[int, float, int] | None = None
    cut = first + 1
    for index in range(first + 1, last):
        shorter = min(ends[index] - ends[first], ends[last] - ends[index])
        if shorter >= minimum:  # ties (equal openings) go to the middle: depth stays log n
            key = (0, ranks[index], abs(2 * index - first - last))
        else:
            key = (1, -shorter, 0)
        if best is None or key < best:
            best, cut = key, index
    return cut


def _rank(unit: Unit) -> float:
    # The opening words alone decide, so an edit further into a paragraph (the common
    # case) moves no cut point; whitespace is collapsed so reflowing moves none either.
    opening = " ".join(unit.text[:KEY_CHARS].split())
    digest = hashlib.blake2b(opening.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# chunks -------------------------------------------------------------------------------------
def _chunk(lines: list[SourceLine], heading: str, start: int, end: int) -> Chunk:
    return _make(heading, _raw(lines, start, end).strip("\n"), lines[start:end])


def _make(heading: str, text: str, lines: list[SourceLine]) -> Chunk:
    # HTML text can come from lines out of order: the range is whatever the text spans.
    numbers = [line.line for line in lines if line.line is not None and line.text.strip()]
    return Chunk(
        text=text,
        start_line=min(numbers) if numbers else None,
        end_line=max(numbers) if numbers else None,
        page=lines[0].page if lines else None,
        heading=heading,
        hash=chunk_hash(heading, text),
    )


def _split_unit(
    lines: list[SourceLine], heading: str, unit: Unit, size: int, overlap: int
) -> list[Chunk]:
    """Cut one long unit's text; its headings stay in front of the first piece."""
    body = _raw(lines, unit.body, unit.end)
    if len(normalise(body)) <= size:  # only the headings made it long: keep it whole
        return [_chunk(lines, heading, unit.start, unit.end)]
    if unit.end - unit.body > 1:
        return _split_lines(lines, heading, unit, size, overlap)
    line_starts = [0] + [match.end() for match in re.finditer("\n", body)]
    chunks: list[Chunk] = []
    for start, end in _pieces(body, size, overlap):
        piece = body[start:end]
        first = unit.body + bisect.bisect_right(line_starts, start) - 1
        last = unit.body + bisect.bisect_right(line_starts, end - 1) - 1
        if not chunks and unit.body > unit.start:  # the first piece starts at the body's top
            piece = _raw(lines, unit.start, unit.body) + "\n" + piece
            first = unit.start
        chunks.append(_make(heading, piece, lines[first : last + 1]))
    return chunks


def _split_lines(
    lines: list[SourceLine], heading: str, unit: Unit, size: int, overlap: int
) -> list[Chunk]:
    units = [_unit(lines, i, i, i + 1) for i in range(unit.body, unit.end)]
    chunks: list[Chunk] = []
    for group in _halve(units, size):
        start = unit.start if not chunks else group[0].start
        if len(group) == 1 and len(group[0].text) > size:
            part = Unit(start, group[0].start, group[0].end, group[0].text, group[0].page)
            chunks.extend(_split_unit(lines, heading, part, size, overlap))
        else:
            chunks.append(_chunk(lines, heading, start, group[-1].end))
    return chunks


def _pieces(text: str, size: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Where LangChain's pieces lie in `text`, found in order so overlaps map right."""
    overlap = min(overlap, size // 2)
    end = 0
    for piece in _splitter(size, overlap).split_text(text):
        # A piece starts no more than `overlap` before the previous one ended.
        start = text.find(piece, max(0, end - overlap))
        start = start if start >= 0 else max(0, text.find(piece))
        end = start + len(piece)
        yield start, end


@lru_cache(maxsize=8)
def _splitter(size: int, overlap: int) -> RecursiveCharacterTextSplitter:
    # Imported on first use: LangChain takes a while to import and most files never need it.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
