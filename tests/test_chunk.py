"""Chunking: line ranges, heading paths, fences, pages, size bounds and edit locality."""

from __future__ import annotations

import random

from engine.chunk import CHUNKER_VERSION, chunk_document, chunk_hash, embedding_text
from engine.types import LoadedDocument, SourceLine
from tests.helpers import long_markdown, paragraph


def doc(text: str, kind: str = "markdown") -> LoadedDocument:
    lines = [SourceLine(t, n) for n, t in enumerate(text.split("\n"), 1)]
    return LoadedDocument("x", kind, lines)  # type: ignore[arg-type]


def test_chunk_text_is_the_lines_it_claims() -> None:
    text = long_markdown("deploy")
    source = text.split("\n")
    chunks = chunk_document(doc(text))
    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.start_line is not None and chunk.end_line is not None
        assert chunk.text == "\n".join(source[chunk.start_line - 1 : chunk.end_line]).strip()


def test_heading_paths_and_title_joins_first_section() -> None:
    text = "# Guide\n\n## Install\n\nRun make.\n\n### Linux\n\nUse apt.\n\n## Usage\n\nAsk.\n"
    chunks = chunk_document(doc(text))
    assert [c.heading for c in chunks] == [
        "Guide > Install",
        "Guide > Install > Linux",
        "Guide > Usage",
    ]
    assert chunks[0].text.startswith("# Guide\n\n## Install")
    assert (chunks[0].start_line, chunks[0].end_line) == (1, 5)


def test_code_fence_is_never_split_at_blank_lines_or_hash_lines() -> None:
    fence = "```sh\n# not a heading\n\nmake run\n```"
    chunks = chunk_document(doc(f"## Setup\n\n{fence}\n\nAfter.\n"))
    assert fence in chunks[0].text
    assert all(c.heading == "Setup" for c in chunks)


def test_pdf_pages_are_hard_boundaries() -> None:
    lines = [SourceLine("Page one text.", None, 1), SourceLine("Page two text.", None, 2)]
    chunks = chunk_document(LoadedDocument("m.pdf", "pdf", lines))
    assert [(c.page, c.start_line, c.text) for c in chunks] == [
        (1, None, "Page one text."),
        (2, None, "Page two text."),
    ]


def test_long_block_is_cut_with_overlap_and_correct_lines() -> None:
    words = [f"word{i}" for i in range(400)]
    text = "\n".join(" ".join(words[i : i + 10]) for i in range(0, 400, 10))  # 40 lines
    chunks = chunk_document(doc(text, "text"), size=200, overlap=40)
    source = text.split("\n")
    assert len(chunks) > 10
    for chunk in chunks:
        assert len(chunk.text) <= 200
        assert chunk.start_line is not None and chunk.end_line is not None
        span = "\n".join(source[chunk.start_line - 1 : chunk.end_line])
        assert chunk.text in span
    joined = " ".join(c.text for c in chunks)
    assert all(word in joined for word in words)  # nothing dropped


def test_one_huge_line_is_bounded() -> None:
    chunks = chunk_document(doc("x" * 50_000, "code"), size=512, overlap=51)
    assert len(chunks) >= 98 and all(len(c.text) <= 512 for c in chunks)
    assert all((c.start_line, c.end_line) == (1, 1) for c in chunks)


def test_no_text_is_dropped_and_sizes_are_bounded() -> None:
    text = long_markdown("network", sections=5, per_section=7)
    chunks = chunk_document(doc(text), size=512)
    body = "\n".join(c.text for c in chunks)
    for line in text.split("\n"):
        assert line.strip() in body
    assert all(len(c.text) <= 512 for c in chunks)


def test_whitespace_only_edit_keeps_hashes() -> None:
    text = long_markdown("audit")
    spaced = text.replace("\n\n", "\n   \n\n").replace(".", ".  ", 3)
    before = [c.hash for c in chunk_document(doc(text))]
    after = [c.hash for c in chunk_document(doc(spaced))]
    assert len(set(before) - set(after)) <= 1  # only the chunks with trailing spaces inside


def test_insert_at_top_keeps_every_other_hash() -> None:
    text = long_markdown("release")
    before = {c.hash for c in chunk_document(doc(text))}
    after = chunk_document(doc("Intro.\n\n" + text))
    assert len({c.hash for c in after} - before) <= 2


def test_hash_covers_version_heading_and_normalised_text() -> None:
    assert chunk_hash("A", "text") != chunk_hash("B", "text")
    assert chunk_hash("A", "text  \n\n\n") == chunk_hash("A", "text")
    assert len(CHUNKER_VERSION) >= 1
    chunk = chunk_document(doc("## Keys\n\nRotate them.\n"))[0]
    assert embedding_text(chunk) == "Keys\n\n## Keys\n\nRotate them."


def test_edit_locality_over_many_positions() -> None:
    """One paragraph edited (grown or shrunk) at 30 places: few chunks change each time."""
    rng = random.Random(1)
    blocks = ["# Runbook", ""]
    for s in range(3):
        blocks += [f"## Part {s}", ""]
        blocks += [p for n in range(14) for p in (_varied(rng, s * 14 + n), "")]
    text = "\n".join(blocks)
    base = {c.hash for c in chunk_document(doc(text))}
    paragraphs = [i for i, b in enumerate(blocks) if b.startswith("Paragraph")]
    changed = []
    for position in rng.sample(paragraphs, 30):
        edited = list(blocks)
        edited[position] = _varied(rng, 1000 + position)
        new = {c.hash for c in chunk_document(doc("\n".join(edited)))}
        changed.append(len(new - base))
    assert max(changed) <= 3
    assert sum(changed) / len(changed) <= 2


def _varied(rng: random.Random, n: int) -> str:
    return " ".join(paragraph("topic", n).split()[: rng.randint(12, 45)])


def test_reference_entries_keep_their_names_and_are_cut_between_entries() -> None:
    lines = [SourceLine("# git-config", 1), SourceLine("", 1), SourceLine("## Variables", 2)]
    lines.append(SourceLine("", 2))
    for n in range(12):
        row = 10 + 10 * n
        lines += [
            SourceLine(f"core.setting{n}", row, term=True),
            SourceLine(paragraph(f"setting{n}", n)[:220], row + 1),
            SourceLine("", row + 1),
        ]
    chunks = chunk_document(LoadedDocument("git-config.html", "html", lines))
    for chunk in chunks[1:]:  # every cut falls before an entry's name, never inside one
        assert chunk.text.startswith("core.setting"), chunk.text[:40]
    single = [c for c in chunks if c.text.count("core.setting") == 1]
    assert single, "some chunk holds exactly one entry"
    for chunk in single:
        name = next(t for t in chunk.text.split("\n") if t.startswith("core.setting"))
        assert chunk.heading == f"git-config > Variables > {name}"
