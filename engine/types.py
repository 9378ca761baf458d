"""Plain data that flows between the engine's stages.

Every stage speaks in these types, so scan, load, chunk, embed, store and sync can be
read and tested on their own. Paths are always POSIX strings relative to the indexed folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from engine.results import source_ref

FileKind = Literal["markdown", "text", "rst", "html", "pdf", "code"]


@dataclass(frozen=True)
class ScannedFile:
    """A file that belongs in the index, as seen by stat()."""

    path: str
    size: int
    mtime_ns: int
    kind: FileKind


@dataclass(frozen=True)
class SkippedFile:
    """A file the scan left out, with the reason a person would want to read."""

    path: str
    reason: str
    failed: bool = False  # unreadable (a failure to fix), not left out on purpose


@dataclass
class ScanResult:
    files: list[ScannedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


@dataclass(frozen=True)
class SourceLine:
    """One line of extracted text and where it came from in the file on disk.

    `line` is the 1-based line of the file on disk (for HTML: the line the text came
    from); None for PDF, where `page` (1-based) is set instead.
    """

    text: str
    line: int | None
    page: int | None = None
    term: bool = False  # the name of a definition-list entry (an option, a setting)
    # prose that only looks like markdown (an HTML line starting "# are ignored" after a
    # wrapped <code>#</code>): the chunker reads it as text, never as a heading or a fence
    literal: bool = False


@dataclass
class LoadedDocument:
    """Text of one file, line by line, ready to chunk.

    Headings are written markdown style (`# Title`, `## Section`) whatever the source
    format, so the chunker finds structure the same way in every kind of file.
    """

    path: str
    kind: FileKind
    lines: list[SourceLine]


@dataclass(frozen=True)
class Chunk:
    """A piece of a file that is embedded and stored as one row."""

    text: str
    start_line: int | None
    end_line: int | None
    page: int | None
    heading: str
    hash: str


@dataclass(frozen=True)
class Hit:
    """A search result: one chunk of one file.

    `score` is the chunk's relevance to the query in 0-1 once rescored (engine/rerank.py);
    `unit_scores` holds the relevance of each of its units (engine/units.py), in order.
    """

    path: str
    start_line: int | None
    end_line: int | None
    page: int | None
    heading: str
    score: float
    text: str
    unit_scores: tuple[float, ...] = ()
    hash: str = ""
    also_in: tuple[str, ...] = ()  # other files holding the same text word for word

    def where(self) -> str:
        return source_ref(self.path, self.start_line, self.end_line, self.page)

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "page": self.page,
            "heading": self.heading,
            "score": self.score,
            "text": self.text,
            "unit_scores": list(self.unit_scores),
            "also_in": list(self.also_in),
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Hit:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in document.items() if key in known}
        values["unit_scores"] = tuple(values.get("unit_scores") or ())
        values["also_in"] = tuple(values.get("also_in") or ())
        return cls(**values)
