"""Document and model text is data. Nothing from a file or a model reaches the terminal
as markup or as a control sequence: markup is never parsed (Text objects, escaped Markdown
inline text) and control characters become visible symbols (engine/visible.py, shared with
the CLI), so `\\x1b[2J` shows as `␛[2J` instead of clearing the screen.
"""

from __future__ import annotations

from rich.text import Text

from engine import clean


def plain(text: str, style: str = "") -> Text:
    """A Rich Text of `text`: its brackets are characters, never markup."""
    return Text(clean(text), style=style, end="")


def snippet(text: str, width: int = 60) -> str:
    """The first words of a chunk on one line, for lists."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."
