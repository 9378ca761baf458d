"""Load: the bytes of one file -> lines of text, each knowing where it came from on disk.

Every format's headings come out markdown style ("## Install"), so the chunker finds
structure the same way in markdown, reStructuredText and HTML. HTML text keeps the line of
the HTML file it came from, so a citation opens the editor on it; PDF text keeps its page.

Text is UTF-8 unless a BOM or detection says otherwise; a mostly-UTF-8 file with a few bad
bytes keeps its text (bad bytes become U+FFFD) rather than being taken for another
charset or for binary. Only regular files are opened (a FIFO would block). Base64 data
URIs are dropped from the text, and a file with a line longer than MAX_LINE_CHARS after
that (minified or generated content) is left out with the reason.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from dataclasses import replace
from pathlib import Path

from engine.errors import LoadFailed, LoadSkipped
from engine.html_text import html_lines
from engine.paths import on_disk
from engine.types import LoadedDocument, ScannedFile, SourceLine

SNIFF_BYTES = 8192
MAX_LINE_CHARS = 100_000
STRAY_BYTES = 0.01  # at most this share of undecodable bytes still counts as text
DATA_URI = re.compile(r"(data:[\w.+-]+/[\w.+-]+;base64,)[A-Za-z0-9+/=]{64,}")
NON_ASCII = re.compile(r"[^\x00-\x7f\ufffd]")
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


LATIN_CODE_PAGES = {
    "cp1250", "cp1252", "cp1257", "cp775", "latin_1", "iso8859_2", "iso8859_4",
    "iso8859_10", "iso8859_13", "iso8859_15", "mac_latin2",
}  # fmt: skip


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file; anything else (a FIFO, a device) is refused unopened:
    O_NONBLOCK makes even the open of a FIFO that replaced a file return at once."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise LoadSkipped("not a regular file")
            return handle.read()
    except FileNotFoundError:
        raise LoadFailed("file vanished") from None
    except PermissionError:
        raise LoadFailed("permission denied") from None
    except IsADirectoryError:
        raise LoadFailed("is a directory") from None
    except OSError as error:
        raise LoadFailed(error.strerror or str(error)) from None


def decode(data: bytes) -> str:
    """Bytes -> text: a BOM, else UTF-8, else detection. Binary raises LoadSkipped."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:SNIFF_BYTES]:
        raise LoadSkipped("binary content")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count("\ufffd".encode())
    if len(NON_ASCII.findall(text)) >= bad:  # real UTF-8 text with a few broken bytes
        return text
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None and bad <= len(data) * STRAY_BYTES:
        return text  # text with stray bytes no charset explains
    if best is None:
        raise LoadSkipped("binary content (no text encoding fits)")
    candidates = [match.encoding for match in results][:3]
    if best.encoding in LATIN_CODE_PAGES and "cp1252" in candidates:
        # Short Western text fits several Latin code pages equally; Windows-1252 is by far
        # the most common of them in people's old notes.
        return data.decode("cp1252", errors="replace")
    return str(best)


def read_text(path: Path) -> str:
    """A text file's content, decoded as the indexer decodes it (the TUI viewer uses this)."""
    return normalise_newlines(decode(read_bytes(path)))


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load(root: Path, file: ScannedFile) -> LoadedDocument:
    path = on_disk(root, file.path)
    if file.kind == "pdf":
        return LoadedDocument(file.path, file.kind, pdf_lines(path))
    text = read_text(path)
    if file.kind == "html":
        lines = html_lines(text)
    elif file.kind == "rst":
        lines = rst_lines(text)
    else:
        lines = [SourceLine(t, n) for n, t in enumerate(text.split("\n"), 1)]
    return LoadedDocument(file.path, file.kind, _readable(lines))


def _readable(lines: list[SourceLine]) -> list[SourceLine]:
    """Lines without base64 payloads; a line still too long means no prose to index."""
    kept = []
    for line in lines:
        text = DATA_URI.sub(r"\1...", line.text) if "base64," in line.text else line.text
        if len(text) > MAX_LINE_CHARS:
            raise LoadSkipped(f"a line of {len(text):,} characters (minified or generated content)")
        kept.append(line if text is line.text else replace(line, text=text))
    return kept


def pdf_lines(path: Path) -> list[SourceLine]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    data = read_bytes(path)
    try:
        import io

        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise LoadFailed("cannot read PDF: it is encrypted")
        lines: list[SourceLine] = []
        for number, page in enumerate(reader.pages, 1):
            text = normalise_newlines(page.extract_text() or "")
            # a PDF has no markdown: a line opening with "#" is text (a comment, "#3")
            lines.extend(SourceLine(t, None, number, literal=True) for t in text.split("\n"))
            lines.append(SourceLine("", None, number))
        return lines
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        raise LoadFailed(f"cannot read PDF: {error}") from None


RST_ADORNMENT = re.compile(r"^([=\-~^\"'`#*+:._])\1{2,}\s*$")


def rst_lines(text: str) -> list[SourceLine]:
    """reStructuredText with its section titles rewritten as markdown headings."""
    raw = text.split("\n")
    styles: list[tuple[str, bool]] = []
    out: list[SourceLine] = []
    skip = 0
    for index, line in enumerate(raw):
        if skip:
            skip -= 1
            continue
        title = _rst_title(raw, index)
        if title is None:
            out.append(SourceLine(line, index + 1))
            continue
        style, overlined, consumed = title
        if (style, overlined) not in styles:
            styles.append((style, overlined))
        level = styles.index((style, overlined)) + 1
        text_index = index + 1 if overlined else index
        out.append(SourceLine("#" * min(level, 6) + " " + raw[text_index].strip(), text_index + 1))
        skip = consumed - 1
    return out


def _rst_title(raw: list[str], index: int) -> tuple[str, bool, int] | None:
    """(adornment char, overlined, lines consumed) when a section title starts here."""
    line = raw[index]
    following = raw[index + 1] if index + 1 < len(raw) else ""
    if RST_ADORNMENT.match(line) and index + 2 < len(raw):
        title, under = raw[index + 1], raw[index + 2]
        if title.strip() and under.strip() == line.strip():
            return line.strip()[0], True, 3
    underlined = (
        line.strip()
        and not line.startswith(" ")
        and RST_ADORNMENT.match(following)
        and not RST_ADORNMENT.match(line)
        and len(following.rstrip()) >= len(line.rstrip())
    )
    return (following.strip()[0], False, 2) if underlined else None
