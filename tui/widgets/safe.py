"""Document and model text is data. Nothing from a file or a model reaches the terminal
as markup or as a control sequence: markup is never parsed (Text objects, escaped Markdown
inline text) and control characters become visible symbols, so `\\x1b[2J` shows as
`␛[2J` instead of clearing the screen.
"""

from __future__ import annotations

import re

from rich.text import Text

TAB_SIZE = 4
# C0 controls except newline and tab, DEL, C1 controls; shown as Unicode control pictures.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
# Bidirectional overrides and isolates reorder what follows them on screen.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ .. ␟ (␛ for ESC)
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def clean(text: str) -> str:
    """`text` with every control character replaced by a visible symbol (newlines kept)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub(_picture, text)
    return _BIDI.sub("\ufffd", text)


def clean_line(text: str) -> str:
    """One line for a fixed-width view: tabs expanded, newlines shown as symbols too."""
    return clean(text.expandtabs(TAB_SIZE)).replace("\n", "\u2424")


def plain(text: str, style: str = "") -> Text:
    """A Rich Text of `text`: its brackets are characters, never markup."""
    return Text(clean(text), style=style, end="")


def snippet(text: str, width: int = 60) -> str:
    """The first words of a chunk on one line, for lists."""
    flat = " ".join(clean(text).split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."
