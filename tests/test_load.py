"""Load: text per kind, source lines kept (HTML included), encodings detected, bad files
turned into one-line reasons."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from engine.chunk import chunk_document
from engine.errors import LoadFailed, LoadSkipped
from engine.kinds import kind_of
from engine.load import load, read_text
from engine.types import ScannedFile

HTML = """<!doctype html>
<html>
<head><title>FAQ</title><script>alert("[bold]")</script><style>p { color: red }</style></head>
<body>
<nav><a href="/">Home</a></nav>
<main>
  <h1>Docsight FAQ</h1>
  <p>The index is stored
     under the data dir &amp; never in the folder.</p>
  <h2>
    Rebuilding
  </h2>
  <ul><li>Run index --rebuild</li></ul>
  <pre><code>docsight index ~/notes --rebuild
echo done</code></pre>
</main>
<footer>Copyright</footer>
</body>
</html>
"""


def loaded(root: Path, rel: str) -> list[tuple[str, int | None, int | None]]:
    path = root / rel
    scanned = ScannedFile(rel, path.stat().st_size, path.stat().st_mtime_ns, kind_of(rel) or "text")
    return [(line.text, line.line, line.page) for line in load(root, scanned).lines]


def test_markdown_lines_are_the_file_lines(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\r\n\r\nBody [bold] text\r\n")
    assert loaded(tmp_path, "a.md") == [
        ("# Title", 1, None),
        ("", 2, None),
        ("Body [bold] text", 3, None),
        ("", 4, None),
    ]


def test_html_text_keeps_its_source_lines(tmp_path: Path) -> None:
    (tmp_path / "faq.html").write_text(HTML)
    source = HTML.split("\n")
    lines = [(text, line) for text, line, _ in loaded(tmp_path, "faq.html") if text]
    texts = [text for text, _ in lines]
    assert texts == [
        "# Docsight FAQ",
        "The index is stored",
        "under the data dir & never in the folder.",
        "## Rebuilding",
        "Run index --rebuild",
        "```",
        "docsight index ~/notes --rebuild",
        "echo done",
        "```",
    ]
    for text, line in lines:
        assert line is not None
        if text == "```":  # the fence docsight adds around <pre>: on the <pre>'s lines
            assert "pre>" in source[line - 1], (text, line, source[line - 1])
            continue
        word = text.lstrip("# ").split()[0].replace("&", "&amp;")
        assert word in source[line - 1], (text, line, source[line - 1])
    assert not any("alert" in t or "Home" in t or "Copyright" in t for t in texts)


def test_rst_titles_become_headings(tmp_path: Path) -> None:
    (tmp_path / "g.rst").write_text(
        "=====\nGuide\n=====\n\nIntro.\n\nInstall\n-------\n\nSteps.\n\nLinux\n~~~~~\n\nApt.\n"
    )
    lines = [(t, n) for t, n, _ in loaded(tmp_path, "g.rst") if t]
    assert lines == [
        ("# Guide", 2),
        ("Intro.", 5),
        ("## Install", 7),
        ("Steps.", 10),
        ("### Linux", 12),
        ("Apt.", 15),
    ]


def test_non_utf8_text_is_decoded_not_dropped(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("Café crème, naïve façade.\n".encode("cp1252"))
    (tmp_path / "wide.txt").write_bytes("Grüße aus Köln\n".encode("utf-16"))
    assert read_text(tmp_path / "latin.txt").startswith("Café crème")
    assert read_text(tmp_path / "wide.txt").startswith("Grüße aus Köln")


def test_binary_content_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "blob.txt").write_bytes(b"ELF\x00\x01\x02" * 50)
    with pytest.raises(LoadSkipped, match="binary"):
        loaded(tmp_path, "blob.txt")


def test_vanished_file_fails_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(LoadFailed, match="file vanished"):
        load(tmp_path, ScannedFile("gone.md", 1, 1, "markdown"))


def minimal_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one line of text per page, offsets computed for the xref table."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>")
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>"
        )
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


def test_pdf_text_per_page(tmp_path: Path) -> None:
    (tmp_path / "manual.pdf").write_bytes(minimal_pdf(["Rotate keys yearly", "Back up nightly"]))
    lines = [(t, n, p) for t, n, p in loaded(tmp_path, "manual.pdf") if t]
    assert lines == [("Rotate keys yearly", None, 1), ("Back up nightly", None, 2)]


def test_corrupt_pdf_fails_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf")
    with pytest.raises(LoadFailed, match="cannot read PDF"):
        loaded(tmp_path, "broken.pdf")


REFERENCE = """<html><body><h1>git-gc(1)</h1>
<h2>CONFIGURATION</h2>
<div class="dlist"><dl>
<dt class="hdlist1">
gc.auto
</dt>
<dd>
<p>When there are approximately more than this many loose
objects, git gc --auto will pack them. The default value is 6700.</p>
<p>Setting this to 0 disables it.</p>
</dd>
<dt class="hdlist1">gc.autoPackLimit</dt>
<dd><p>The default value is 50.</p></dd>
</dl></div>
<pre># not a heading: a shell comment
git gc --auto</pre>
<table><tr><th>key</th><th>default</th></tr>
<tr><td><p>gc.auto</p></td><td>6700</td></tr></table>
</body></html>
"""


def test_html_reference_entries_tables_and_preformatted_text(tmp_path: Path) -> None:
    (tmp_path / "git-gc.html").write_text(REFERENCE)
    scanned = ScannedFile("git-gc.html", len(REFERENCE), 0, "html")
    lines = load(tmp_path, scanned).lines
    texts = [line.text for line in lines]
    # a term is marked and glued to its description: no blank line between them
    term = texts.index("gc.auto")
    assert lines[term].term and texts[term + 1].startswith("When there are approximately")
    assert [line.text for line in lines if line.term] == ["gc.auto", "gc.autoPackLimit"]
    # preformatted text is fenced, so its "#" line is code, not a heading
    fence = texts.index("# not a heading: a shell comment")
    assert texts[fence - 1] == texts[fence + 2] == "```"
    # a table row is one line, even with a paragraph inside a cell
    assert "| key | default |" in texts and "| gc.auto | 6700 |" in texts


WRAPPED_HASH = """<html><body><h1>git-config(1)</h1><h2>blame</h2><dl>
<dt class="hdlist1">blame.ignoreRevsFile</dt>
<dd><p>
        Whitespace and comments beginning with
        <code>#</code> are ignored.  This option may be repeated multiple times.  Empty
        file names will reset the list.
</p></dd>
<dt class="hdlist1">blame.markIgnoredLines</dt>
<dd><p>Mark lines.</p></dd></dl>
<p><code>```</code> opens a fenced block in markdown.</p>
<h2>branch</h2><p>Branch settings.</p>
</body></html>
"""


def test_html_text_that_looks_like_markdown_is_no_heading_or_fence(tmp_path: Path) -> None:
    # git-config.html wraps "<code>#</code> are ignored" onto a line of its own: read as
    # a heading, it became the heading path of every later entry (388 chunks of git-doc)
    (tmp_path / "git-config.html").write_text(WRAPPED_HASH)
    doc = load(tmp_path, ScannedFile("git-config.html", len(WRAPPED_HASH), 0, "html"))
    literal = [line.text for line in doc.lines if line.literal]
    assert literal == [
        "# are ignored. This option may be repeated multiple times. Empty",
        "``` opens a fenced block in markdown.",
    ]
    headings = {chunk.heading for chunk in chunk_document(doc, size=120)}
    assert headings == {
        "git-config(1) > blame > blame.ignoreRevsFile",
        "git-config(1) > blame > blame.markIgnoredLines",
        "git-config(1) > branch",
    }


def test_one_bad_byte_keeps_the_file_as_text(tmp_path: Path) -> None:
    ascii_text = ("Backups run nightly and are kept for thirty days. " * 100).encode()
    utf8_text = ("Grüße aus Köln: die Sicherung läuft nachts. " * 50).encode()
    (tmp_path / "ascii.md").write_bytes(ascii_text[:2500] + b"\xff" + ascii_text[2500:])
    (tmp_path / "utf8.md").write_bytes(utf8_text + b"\xff" + utf8_text)
    (tmp_path / "short.md").write_bytes("Grüße, café".encode() + b"\xff")
    assert read_text(tmp_path / "utf8.md").count("Grüße aus Köln") == 100  # not cp932 noise
    assert read_text(tmp_path / "utf8.md").count("\ufffd") == 1
    assert read_text(tmp_path / "short.md") == "Grüße, café\ufffd"
    ascii_read = read_text(tmp_path / "ascii.md")  # one stray byte: text, whatever it was
    assert len(ascii_read) == len(ascii_text) + 1 and ascii_read.startswith("Backups run")


def test_random_bytes_are_still_binary(tmp_path: Path) -> None:
    rng = random.Random(3)
    noise = bytes(rng.randrange(1, 256) for _ in range(5000))  # no NUL byte to give it away
    (tmp_path / "noise.md").write_bytes(noise)
    with pytest.raises(LoadSkipped, match="binary"):
        loaded(tmp_path, "noise.md")


def test_a_fifo_where_a_file_was_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")  # the scan saw a file; it was replaced meanwhile
    with pytest.raises(LoadSkipped, match="not a regular file"):
        load(tmp_path, ScannedFile("pipe.md", 10, 1, "markdown"))


def test_generated_lines_and_data_uris(tmp_path: Path) -> None:
    (tmp_path / "bundle.js").write_text("var a=1;" * 20_000)  # 160,000 characters, one line
    with pytest.raises(LoadSkipped, match=r"a line of 160,000 characters"):
        loaded(tmp_path, "bundle.js")
    payload = "iVBORw0KGgo" * 50_000
    (tmp_path / "note.md").write_text(
        f"# Diagram\n\n![flow](data:image/png;base64,{payload})\n\nText.\n"
    )
    assert loaded(tmp_path, "note.md") == [
        ("# Diagram", 1, None),
        ("", 2, None),
        ("![flow](data:image/png;base64,...)", 3, None),
        ("", 4, None),
        ("Text.", 5, None),
        ("", 6, None),
    ]
