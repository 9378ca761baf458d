"""A file of the folder as the source viewer shows it: decoded the way the indexer decodes
it, with the Pygments lexer to highlight it (HTML is shown as its text, not rendered)."""

from __future__ import annotations

from pathlib import Path

from engine.errors import DocsightError
from engine.kinds import kind_of
from engine.load import LoadFailed, LoadSkipped, load, read_text
from engine.paths import on_disk
from engine.types import ScannedFile
from tui.messages import SourceText

LEXER_BY_KIND = {"markdown": "markdown", "rst": "rst", "html": "html", "text": "text"}


class SourceUnreadable(DocsightError):
    """The viewer cannot show this file; the message says why."""


def read_source(folder: Path, path: str) -> SourceText:
    full = on_disk(folder, path).resolve()
    if not full.is_relative_to(folder.resolve()):
        raise SourceUnreadable(f"{path} is outside the folder")
    kind = kind_of(path)
    try:
        if kind == "pdf":
            return _pdf_source(folder, path)
        text = read_text(full)
    except (LoadFailed, LoadSkipped) as error:
        raise SourceUnreadable(f"cannot show {path}: {error}") from None
    return SourceText(path, text.split("\n"), language_for(path, kind or "text"))


def _pdf_source(folder: Path, path: str) -> SourceText:
    document = load(folder, ScannedFile(path, 0, 0, "pdf"))
    lines = [line.text for line in document.lines]
    pages = [line.page for line in document.lines]
    return SourceText(path, lines, "text", pages)


def language_for(path: str, kind: str) -> str:
    if kind != "code":
        return LEXER_BY_KIND.get(kind, "text")
    from pygments.lexers import find_lexer_class_for_filename

    lexer = find_lexer_class_for_filename(path)
    if lexer is None or not lexer.aliases:
        return "text"
    return str(lexer.aliases[0])
