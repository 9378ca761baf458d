"""File names as the index stores them, and the way back to the file on disk.

A Linux file name is bytes. Python shows the bytes of a name that are not UTF-8 as lone
surrogates (PEP 383: `caf\\udce9.md`), which neither SQLite nor Milvus can store. The index
stores such a name with each of those bytes written `\\xHH` (`caf\\xe9.md`, as
`docsight` shows it too) and turns it back into the bytes to open the file. A valid UTF-8
name is stored as it is. The one clash, a file literally named `caf\\xe9.md` beside
`caf<0xe9>.md`, is refused by the scan, so the way back is never ambiguous.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ESCAPED_BYTE = re.compile(rb"\\x([89a-f][0-9a-f])")


def stored(path: str) -> str:
    """The name the index keeps for `path` (relative, as os.scandir spells it)."""
    if path.isascii() or not _has_surrogates(path):
        return path
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def is_escaped(path: str) -> bool:
    """True when `path` differs from the name on disk (it holds escaped bytes)."""
    return stored(path) != path


def on_disk(root: Path, path: str) -> Path:
    """The file an index path (stored or real) names under `root`."""
    direct = root / path
    if "\\x" not in path or os.path.lexists(direct):
        return direct
    raw = _ESCAPED_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), os.fsencode(path))
    return root / os.fsdecode(raw)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
