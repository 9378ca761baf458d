"""Text from documents, file names and models, made safe to print on a terminal.

Document text is data: an escape sequence in a note must not colour the terminal, set its
title, clear it or write the clipboard (OSC 52). Control characters become visible symbols
(Unicode control pictures: `\\x1b[2J` prints as `␛[2J`), and bidirectional overrides,
which reorder what follows them on screen, become U+FFFD. The CLI's human output and the
TUI both use this; `--json` output stays exact.
"""

from __future__ import annotations

import re

TAB_SIZE = 4
# C0 controls except newline and tab, DEL, C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
# Bidirectional overrides and isolates reorder what follows them on screen.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
# A file name that is not valid UTF-8 keeps its bytes as lone surrogates (PEP 383).
_SURROGATE = re.compile(r"[\udc80-\udcff]")


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
    text = _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)
    return _BIDI.sub("\ufffd", text)


def clean_line(text: str) -> str:
    """One line: tabs expanded, newlines shown as symbols too (file names, reasons)."""
    return clean(text.expandtabs(TAB_SIZE)).replace("\n", "\u2424")
