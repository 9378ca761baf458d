"""A file of the folder as the source viewer shows it: its lines as the indexer decodes
them (engine.source_lines), with the Pygments lexer to highlight it (HTML is shown as its
text, not rendered)."""

from __future__ import annotations

from pathlib import Path

from engine import source_lines
from tui.messages import SourceText

LEXER_BY_KIND = {"markdown": "markdown", "rst": "rst", "html": "html", "text": "text"}


def read_source(folder: Path, path: str) -> SourceText:
    """What the viewer shows of `path`; `SourceUnreadable` says why it cannot."""
    source = source_lines(folder, path)
    if source.pages is not None:
        return SourceText(path, source.lines, "text", source.pages)
    return SourceText(path, source.lines, language_for(path, source.kind))


def language_for(path: str, kind: str) -> str:
    if kind != "code":
        return LEXER_BY_KIND.get(kind, "text")
    from pygments.lexers import find_lexer_class_for_filename

    lexer = find_lexer_class_for_filename(path)
    if lexer is None or not lexer.aliases:
        return "text"
    return str(lexer.aliases[0])
