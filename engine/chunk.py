"""Chunk: lines of one file -> pieces of about `size` characters, split at structure first.

Blocks come first (headings, paragraphs between blank lines, fenced code, PDF pages); a
heading always starts a chunk; blocks of one section are packed up to `size`. Chunk
boundaries are content-defined: besides the size limit, a chunk also ends after a block
whose own hash picks it as an anchor, so after an edit the packing falls back into step
within a block or two and the rest of the file keeps its chunks (and their vectors).
A block longer than `size` is cut by LangChain's RecursiveCharacterTextSplitter with
`overlap`. Line numbers are not part of a chunk's hash: moved text keeps its vector.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from engine.types import Chunk, LoadedDocument, SourceLine

CHUNKER_VERSION = "1"
ANCHOR_EVERY = 3  # about one block in three may end a chunk early
MIN_FILL = 0.3  # ... but only once the chunk holds this share of `size`
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
STRUCTURED_KINDS = {"markdown", "rst", "html", "pdf"}


@dataclass
class Block:
    lines: list[SourceLine]
    heading_level: int = 0

    @property
    def text(self) -> str:
        return "\n".join(line.text.rstrip() for line in self.lines)


@dataclass
class Section:
    heading: str
    blocks: list[Block] = field(default_factory=list)


def normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def chunk_hash(heading: str, text: str) -> str:
    payload = f"{CHUNKER_VERSION}\0{heading}\0{normalise(text)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def embedding_text(chunk: Chunk) -> str:
    """What the encoder sees: the heading path gives a paragraph its context."""
    return f"{chunk.heading}\n\n{chunk.text}" if chunk.heading else chunk.text


def chunk_document(doc: LoadedDocument, size: int = 512, overlap: int = 51) -> list[Chunk]:
    structured = doc.kind in STRUCTURED_KINDS
    chunks: list[Chunk] = []
    for section in _sections(_blocks(doc.lines, structured)):
        chunks.extend(_pack(section, size, overlap))
    return chunks


# blocks and sections ------------------------------------------------------------------------
def _blocks(lines: list[SourceLine], structured: bool) -> list[Block]:
    blocks: list[Block] = []
    current: list[SourceLine] = []
    fence: str | None = None
    page: int | None = None

    def close() -> None:
        if any(line.text.strip() for line in current):
            blocks.append(Block(list(current)))
        current.clear()

    for line in lines:
        if line.page != page:
            close()
            page = line.page
        opener = FENCE.match(line.text)
        if fence is not None:
            current.append(line)
            if opener and opener.group(1) == fence:
                fence = None
                close()
        elif opener:
            close()
            fence = opener.group(1)
            current.append(line)
        elif structured and (match := HEADING.match(line.text)):
            close()
            blocks.append(Block([line], heading_level=len(match.group(1))))
        elif not line.text.strip():
            close()
        else:
            current.append(line)
    close()
    return blocks


def _sections(blocks: list[Block]) -> list[Section]:
    path: list[tuple[int, str]] = []
    sections = [Section("")]
    for block in blocks:
        if block.heading_level:
            title = HEADING.match(block.lines[0].text)
            name = title.group(2) if title else block.text
            path = [(level, text) for level, text in path if level < block.heading_level]
            path.append((block.heading_level, name))
            previous = sections[-1]
            heading_only = len(previous.blocks) == 1 and previous.blocks[0].heading_level
            # A title directly followed by a subheading joins its first section, so no
            # chunk holds a bare heading.
            carried = previous.blocks if heading_only and len(path) > 1 else []
            if carried:
                sections.pop()
            sections.append(Section(" > ".join(text for _, text in path), list(carried)))
        sections[-1].blocks.append(block)
    return [section for section in sections if section.blocks]


# packing ----------------------------------------------------------------------------------
def _pack(section: Section, size: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[Block] = []

    def flush() -> None:
        if current:
            chunks.append(_make_chunk(section.heading, current))
            current.clear()

    for block in section.blocks:
        length = len(block.text)
        if length > size:
            flush()
            chunks.extend(_split_block(section.heading, block, size, overlap))
            continue
        filled = sum(len(b.text) + 2 for b in current)
        if current and (filled + length > size or _page(current[-1]) != _page(block)):
            flush()
        current.append(block)
        filled += length + 2
        if _is_anchor(block) and filled >= size * MIN_FILL:
            flush()
    flush()
    return chunks


def _is_anchor(block: Block) -> bool:
    if block.heading_level:
        return False
    digest = hashlib.blake2b(normalise(block.text).encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % ANCHOR_EVERY == 0


def _page(block: Block) -> int | None:
    return block.lines[0].page


def _make_chunk(heading: str, blocks: list[Block]) -> Chunk:
    text = normalise("\n\n".join(block.text for block in blocks))
    lines = [line for block in blocks for line in block.lines]
    return _chunk(heading, text, lines)


def _chunk(heading: str, text: str, lines: list[SourceLine]) -> Chunk:
    numbers = [line.line for line in lines if line.line is not None]
    return Chunk(
        text=text,
        start_line=min(numbers) if numbers else None,
        end_line=max(numbers) if numbers else None,
        page=lines[0].page if lines else None,
        heading=heading,
        hash=chunk_hash(heading, text),
    )


def _split_block(heading: str, block: Block, size: int, overlap: int) -> list[Chunk]:
    """Cut one long block; each piece is located in the block to keep its line range."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=min(overlap, size // 2), add_start_index=True
    )
    text = block.text
    line_starts = _line_offsets(text)
    chunks = []
    for document in splitter.create_documents([text]):
        piece = document.page_content
        start = int(document.metadata.get("start_index", -1))
        if start < 0:
            start = max(0, text.find(piece))
        first = _line_at(line_starts, start)
        last = _line_at(line_starts, start + max(len(piece) - 1, 0))
        chunks.append(_chunk(heading, normalise(piece), block.lines[first : last + 1]))
    return chunks


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    for index, char in enumerate(text):
        if char == "\n":
            offsets.append(index + 1)
    return offsets


def _line_at(offsets: list[int], position: int) -> int:
    import bisect

    return max(0, bisect.bisect_right(offsets, position) - 1)
