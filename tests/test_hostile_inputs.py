"""A folder of everything that goes wrong with files, indexed from outside as a person
would: `docsight index` exits 0, the good files are indexed and searchable, and each bad
one is skipped or failed with its reason in `status --json`, never a traceback. Real
Milvus Lite, the real bundled model, real files (a real FIFO, a real 2 GB sparse file)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.events import Event, SyncProgress
from engine.paths import on_disk
from tests.helpers import catalog_snapshot, open_engine, run_cli, snapshot
from tests.test_load import minimal_pdf
from tui.session.source_text import read_source

TINY_FILES = 20_000
NESTED = "/".join(["level"] * 200) + "/bottom.md"
GOOD = {  # path -> words a search must find it by
    "good.md": "The lighthouse lamp is cleaned every Tuesday.",
    "with space.md": "The ferry timetable changes in October.",
    "new\nline.md": "The kiln is fired on Thursdays.",
    "emoji 🎉.md": "The party budget is two hundred euros.",
    "-dash.md": "The compost heap is turned monthly.",
    NESTED: "The deepest note mentions the submarine hatch.",
}
LATIN_NAME = os.fsdecode(b"caf\xe9.md")


def build(root: Path, outside: Path) -> None:
    for rel, text in GOOD.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Note\n\n{text}\n")
    (root / LATIN_NAME).write_text("# Caf\u00e9\n\nThe espresso grinder is set to fine.\n")
    (root / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "nul.txt").write_bytes(b"text with a\x00NUL byte in it\n" * 10)
    (root / "empty.md").write_bytes(b"")
    with open(root / "sparse.txt", "wb") as handle:  # 2 GB, no blocks on disk
        handle.truncate(2 * 1024**3)
    one_bad = ("The sewing machine needs oil. " * 170).encode()
    (root / "one-bad-byte.md").write_bytes(one_bad[:2500] + b"\xff" + one_bad[2500:])
    (root / "utf16.txt").write_bytes("The harp is tuned before concerts.\n".encode("utf-16"))
    (root / "latin1.txt").write_bytes(
        "La cr\u00e8me br\u00fbl\u00e9e is torched.\n".encode("latin-1")
    )
    os.mkfifo(root / "fifo.md")
    (root / "loop-a.md").symlink_to("loop-b.md")
    (root / "loop-b.md").symlink_to("loop-a.md")
    (root / "passwd.md").symlink_to("/etc/passwd")
    outside.mkdir()
    (outside / "elsewhere.md").write_text("Outside the folder.\n")
    (root / "outside").symlink_to(outside)
    (root / "one-line.txt").write_text("x" * 10_000_000)  # under 10 MB, one line
    (root / "truncated.pdf").write_bytes(minimal_pdf(["Page one", "Page two"])[:300])
    data_uri = "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAA" * 220_000  # 5 MB
    (root / "page.html").write_text(
        f'<html><body><h1>Atlas</h1><img src="{data_uri}">'
        "<p>The atlas shows the old harbour walls.</p></body></html>\n"
    )
    many = root / "many"
    many.mkdir()
    for n in range(TINY_FILES):
        (many / f"t{n:05d}.txt").write_text(f"Tiny note kind {n % 20}.\n")


SKIPPED = {
    "binary.md": "binary content",
    "nul.txt": "binary content",
    "empty.md": "empty file",
    "sparse.txt": "larger than 10 MB (index.max_file_mb)",
    "fifo.md": "not a regular file",
    "loop-a.md": "symlink loop",
    "loop-b.md": "symlink loop",
    "passwd.md": "symlink to outside the folder",
    "outside": "symlink to outside the folder",
    "one-line.txt": "a line of 10,000,000 characters (minified or generated content)",
}


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


def test_every_bad_input_is_left_out_with_a_reason_and_the_rest_is_indexed(
    tmp_path: Path, minilm: Embedder
) -> None:
    root = tmp_path / "hostile"
    root.mkdir()
    build(root, tmp_path / "outside")
    result = run_cli("index", str(root), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr
    report = json.loads(result.stdout)
    decoded = ["caf\\xe9.md", "one-bad-byte.md", "utf16.txt", "latin1.txt", "page.html"]
    assert report["files_added"] == len(GOOD) + len(decoded) + TINY_FILES
    assert report["files_failed"] == 1  # truncated.pdf

    status = json.loads(run_cli("status", str(root), "--json").stdout)
    assert status["files"] == report["files_added"]
    assert [f["path"] for f in status["failed"]] == ["truncated.pdf"]
    assert status["failed"][0]["error"].startswith("cannot read PDF")
    skipped = {entry["path"]: entry["reason"] for entry in status["skipped"]}
    assert skipped == SKIPPED
    assert status["ignored"] == len(SKIPPED)

    again = run_cli("index", str(root), "--json")  # and nothing changes on a second run
    assert again.returncode == 0
    second = json.loads(again.stdout)
    assert (second["files_added"], second["files_changed"], second["chunks_embedded"]) == (0, 0, 0)

    searches = {**GOOD, "caf\\xe9.md": "espresso grinder set to fine"}
    searches |= {"one-bad-byte.md": "sewing machine oil", "utf16.txt": "harp tuned concerts"}
    searches |= {"latin1.txt": "crème brûlée torched", "page.html": "atlas old harbour walls"}
    data = Path(os.environ["DOCSIGHT_DATA_DIR"])
    with open_engine(root, data, minilm) as engine:  # the index the command left
        for path, words in searches.items():
            hits = engine.search(words, 1)
            assert hits and hits[0].path == path, (path, hits[:1])
        assert "crème brûlée" in engine.search("crème brûlée", 1)[0].text  # not mojibake
    # the escaped name leads back to the file: what the viewer and $EDITOR open
    assert on_disk(root, "caf\\xe9.md") == root / LATIN_NAME
    assert "espresso grinder" in "\n".join(read_source(root, "caf\\xe9.md").lines)


def test_a_file_deleted_while_the_sync_reads_is_simply_gone(
    tmp_path: Path, minilm: Embedder
) -> None:
    root = tmp_path / "notes"
    root.mkdir()
    for name in ("a.md", "b.md", "c.md"):
        (root / name).write_text(f"# {name}\n\nThe note called {name} talks about owls.\n")

    def delete_the_next(event: Event) -> None:
        if isinstance(event, SyncProgress) and event.phase == "index" and event.done == 1:
            (root / "b.md").unlink()  # a.md is read, b.md was scanned and hashed

    with open_engine(root, tmp_path / "data", minilm) as engine:
        report = engine.sync(on_event=delete_the_next)
        assert (report.files_added, report.files_failed) == (2, 0)
        assert set(engine.catalog.files()) == {"a.md", "c.md"}
        assert snapshot(engine) == catalog_snapshot(engine)
        assert engine.status().failed == ()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: none is unreadable")
def test_an_unreadable_folder_is_counted_alike_by_index_and_status(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "a.md").write_text("hidden\n")
    (root / "open.md").write_text("# Open\n\nReadable.\n")
    (root / "locked").chmod(0)
    try:
        report = json.loads(run_cli("index", str(root), "--json").stdout)
        status = json.loads(run_cli("status", str(root), "--json").stdout)
    finally:
        (root / "locked").chmod(0o755)
    assert report["files_failed"] == len(status["failed"]) == 1
    assert report["files_ignored"] == status["ignored"] == 0
    assert status["failed"] == [{"path": "locked/", "error": "permission denied"}]
