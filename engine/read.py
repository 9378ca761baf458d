"""Exact lines of a file of the folder: for a client that is not a person (the MCP `read`
tool) only what docsight would index, and nothing outside the folder; for a person's viewer
any file of the folder, decoded as the indexer decodes it.

Which files may be read is the scanner's decision (`Scanner.check`), the same one that
decides what is indexed, so a rule that keeps a file out of the index (ignore files,
secrets, editor temp files, symlinks out of the folder) keeps it from being read too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.errors import LoadFailed, LoadSkipped, ReadRefused, SourceUnreadable
from engine.kinds import kind_of
from engine.load import load, pdf_lines, read_text
from engine.paths import on_disk
from engine.results import FileLines
from engine.scan import Scanner
from engine.types import ScannedFile, SkippedFile

MAX_LINES = 2000  # per call: an agent pages through a long file with start_line


def relative_path(path: str) -> str:
    """`path` as the index names it (POSIX, relative to the folder), or a refusal."""
    if not path.strip() or "\x00" in path:
        raise ReadRefused("give a path relative to the folder, as search hits name it")
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute() or Path(path).is_absolute():
        raise ReadRefused(f"{path}: an absolute path; give it relative to the folder")
    if ".." in posix.parts:
        raise ReadRefused(f"{path}: '..' leads outside the folder")
    parts = [part for part in posix.parts if part != "."]
    if not parts:
        raise ReadRefused(f"{path}: a folder, not a file")
    return "/".join(parts)


def readable(folder: Path, scanner: Scanner, path: str) -> ScannedFile:
    """The file at `path` when docsight would index it; else `ReadRefused` with the reason."""
    rel = relative_path(path)
    verdict = scanner.check(rel)
    if verdict is None:
        raise ReadRefused(f"{rel}: no such file in the folder")
    if isinstance(verdict, SkippedFile):
        raise ReadRefused(f"{rel}: not readable, docsight does not index it ({verdict.reason})")
    # The scanner checks the file itself; a directory on the way may still be a link out.
    if not on_disk(folder, rel).resolve().is_relative_to(folder.resolve()):
        raise ReadRefused(f"{rel}: not readable, it lies outside the folder through a symlink")
    return verdict


def read_lines(
    folder: Path, scanner: Scanner, path: str, start: int | None = None, end: int | None = None
) -> FileLines:
    """Lines `start`..`end` (1-based, inclusive; at most MAX_LINES) of a readable file;
    for a PDF, whose lines are those of its extracted text, the first and last page too."""
    file = readable(folder, scanner, path)
    try:
        lines, pages = _lines(folder, file)
    except (LoadFailed, LoadSkipped) as error:
        raise ReadRefused(f"{file.path}: cannot be read: {error}") from None
    first = max(1, start or 1)
    last = min(len(lines), end if end is not None else first + MAX_LINES - 1)
    last = min(last, first + MAX_LINES - 1)
    if lines and first > len(lines):
        raise ReadRefused(f"{file.path} has {len(lines)} lines; start_line {first} is past the end")
    if start is not None and end is not None and end < start:
        raise ReadRefused(f"end_line {end} comes before start_line {start}")
    span: tuple[int | None, ...] | None = None
    if pages is not None:
        span = (pages[first - 1], pages[last - 1]) if lines else ()
    return FileLines(
        path=file.path,
        start_line=first if lines else 0,
        end_line=last,
        total_lines=len(lines),
        text="\n".join(lines[first - 1 : last]),
        pages=span,
    )


def _lines(folder: Path, file: ScannedFile) -> tuple[list[str], list[int | None] | None]:
    if file.kind == "pdf":
        document = load(folder, file)
        return [line.text for line in document.lines], [line.page for line in document.lines]
    text = read_text(on_disk(folder, file.path))
    if text.endswith("\n"):
        text = text[:-1]  # a final newline ends the last line; it does not start another
    return text.split("\n") if text else [], None


@dataclass(frozen=True)
class SourceLines:
    """A file of the folder as a person reads it."""

    path: str
    kind: str  # engine.kinds' name for it ("text" for one it does not know)
    lines: list[str]
    pages: list[int | None] | None = None  # a PDF's page of each line


def source_lines(folder: Path, path: str) -> SourceLines:
    """Every line of the file at `path` as the indexer reads it (a PDF: its extracted text),
    for the viewer; `SourceUnreadable` says why not."""
    full = on_disk(folder, path).resolve()
    if not full.is_relative_to(folder.resolve()):
        raise SourceUnreadable(f"{path} is outside the folder")
    kind = kind_of(path) or "text"
    try:
        if kind == "pdf":
            lines = pdf_lines(full)
            pages = [line.page for line in lines]
            return SourceLines(path, kind, [line.text for line in lines], pages)
        text = read_text(full)
    except (LoadFailed, LoadSkipped) as error:
        raise SourceUnreadable(f"cannot show {path}: {error}") from None
    return SourceLines(path, kind, text.split("\n"))
