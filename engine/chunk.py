"""Chunk: lines of one file -> pieces of at most `size` characters, split at structure first.

1. Blocks: headings, paragraphs between blank lines, fenced code (kept whole), and page
   changes (PDF) as hard breaks. Every non-blank line lands in exactly one block.
2. Units: a heading joins the block after it (and a title directly followed by a subheading
   joins that subsection), so a cited chunk shows its heading and no chunk is a bare title.
3. Packing, per section. A heading, a page change and a unit longer than `size` (cut by
   LangChain's RecursiveCharacterTextSplitter with `overlap`) are hard breaks. Between them
   boundaries are content-defined: a unit whose opening words hash below len/TARGET starts
   a new segment, whatever came before it, so an edit that grows or shrinks a paragraph
   only repacks its own segment and the rest of the file keeps its chunks (and vectors).
   Segments shorter than MIN_SEGMENT merge forward; a segment longer than `size` is cut
   into evenly filled chunks.

`size` bounds the normalised text of a chunk (a run of blank lines counts as one).
Line numbers are not part of a chunk's hash, so text that only moved keeps its vector.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from collections.abc import Iterator
from typing import TYPE_CHECKING

from engine.types import Chunk, LoadedDocument, SourceLine

if TYPE_CHECKING:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

CHUNKER_VERSION = "2"
RULE="len"
FILL="balanced"
PROB=0.5
LOCAL=False
TARGET_SEGMENT = 1.0  # mean segment length between content-defined boundaries, x size
MIN_SEGMENT = 0.25  # shorter segments merge into the next one, x size
KEY_CHARS = 64
LEAD_SLACK = 0.25  # headings up to this x size join the text under them  # opening characters that decide whether a unit starts a segment
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


def chunk_document(doc: LoadedDocument, size: int = 512, overlap: int = 51) -> list[Chunk]:
    # Code has no headings, and ``` in code is usually inside a string, not a fence.
    structured = doc.kind != "code"
    chunks: list[Chunk] = []
    for section in _sections(doc.lines, _blocks(doc.lines, structured), size):
        for group in _pack(section.units, size):
            if len(group) == 1 and len(group[0].text) > size:
                chunks.extend(_split_unit(doc.lines, section.heading, group[0], size, overlap))
            else:
                chunks.append(_chunk(doc.lines, section.heading, group[0].start, group[-1].end))
    return chunks


# blocks -------------------------------------------------------------------------------------
def _blocks(lines: list[SourceLine], structured: bool) -> list[Block]:
    blocks: list[Block] = []
    start: int | None = None  # first line of the open paragraph or fence
    fence = ""  # marker of the open fence; "" outside one
    for index, line in enumerate(lines):
        if start is not None and line.page != lines[start].page:  # pages are hard breaks
            blocks.append(_trimmed(lines, start, index))
            start, fence = None, ""
        if fence:
            if _closes(line.text, fence):
                blocks.append(Block(start or 0, index + 1))
                start, fence = None, ""
            continue
        opener = FENCE.match(line.text) if structured else None
        heading = HEADING.match(line.text) if structured else None
        if start is not None and (opener or heading or not line.text.strip()):
            blocks.append(Block(start, index))
            start = None
        if heading:
            blocks.append(Block(index, index + 1, len(heading.group(1))))
        elif line.text.strip() and start is None:
            start, fence = index, opener.group(1) if opener else ""
    if start is not None:
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
            lead = Block(lead.start if carried and lead else block.start, block.end, block.level)
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
    return Unit(start, body, end, text, lines[start].page)


def _raw(lines: list[SourceLine], start: int, end: int) -> str:
    return "\n".join(line.text.rstrip() for line in lines[start:end])


# packing ------------------------------------------------------------------------------------
def _pack(units: list[Unit], size: int) -> list[list[Unit]]:
    """Groups of units, one chunk each (a lone unit over `size` is cut later)."""
    groups: list[list[Unit]] = []
    for segment in _segments(units, size):
        for run in _runs(segment, size):
            groups.extend(_fill(run, size))
    return groups


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


def _segments(units: list[Unit], size: int) -> list[list[Unit]]:
    """Cut where the content says so: each decision depends on a few units alone."""
    segments: list[list[Unit]] = [[]]
    since = 0  # characters since the last unit that asked to start a segment
    for unit in units:
        if segments[-1] and _starts_segment(unit, size):
            # Too close to the last one that asked: no cut, so segments are not tiny.
            # Measuring from the last ask, not the last cut, keeps an edit from deciding
            # the cuts after it.
            if since >= MIN_SEGMENT * size:
                segments.append([])
            since = 0
        segments[-1].append(unit)
        since += len(unit.text) + 2
    return segments


def _starts_segment(unit: Unit, size: int) -> bool:
    # Like byte-level content-defined chunking, each character is a chance to cut, so a
    # unit's chance grows with its length; its opening words pick it, so an edit further
    # in (the common case) leaves the decision as it was.
    opening = " ".join(unit.text[:KEY_CHARS].split())
    digest = hashlib.blake2b(opening.encode("utf-8"), digest_size=8).digest()
    draw = int.from_bytes(digest, "big") / 2**64
    if RULE == "none":
        return False
    if RULE == "len":
        return draw < len(unit.text) / (TARGET_SEGMENT * size)
    if RULE == "log":
        return draw < 2 ** int(__import__("math").log2(len(unit.text))) / (TARGET_SEGMENT * size)
    return draw < min(len(unit.text), KEY_CHARS) / KEY_CHARS * PROB


def _fill(segment: list[Unit], size: int) -> list[list[Unit]]:
    """Cut a segment into chunks of even length, each at most `size`."""
    if FILL == "greedy":
        total = size
    else:
        total = _length(segment)
    target = total / -(-total // size)
    groups: list[list[Unit]] = [[]]
    filled = 0
    for unit in segment:
        grown = filled + len(unit.text) + (2 if groups[-1] else 0)
        if groups[-1] and (grown > size or grown - target > target - filled):
            groups.append([])
            grown = len(unit.text)
        groups[-1].append(unit)
        filled = grown
    return groups


def _length(units: list[Unit]) -> int:
    """Normalised length of the units as one chunk: a blank line between each two."""
    return sum(len(unit.text) for unit in units) + 2 * max(len(units) - 1, 0)


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
    line_starts = [0] + [match.end() for match in re.finditer("\n", body)]
    chunks: list[Chunk] = []
    for start, end in _pieces(body, size, overlap):
        piece = body[start:end]
        first = bisect.bisect_right(line_starts, start) - 1
        last = bisect.bisect_right(line_starts, end - 1) - 1
        if not chunks and unit.body > unit.start:
            piece = _raw(lines, unit.start, unit.body) + "\n" + piece
            first = unit.start - unit.body
        chunks.append(_make(heading, piece, lines[unit.body + first : unit.body + last + 1]))
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
