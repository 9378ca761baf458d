"""The incremental-sync contract (DESIGN.md), against real Milvus Lite and the real
bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.errors import IndexLockedError, RebuildNeeded
from engine.events import FileIndexed, SyncProgress
from engine.results import IndexStatus
from tests.helpers import (
    CountingEmbedder,
    catalog_snapshot,
    long_markdown,
    open_engine,
    paragraph,
    snapshot,
)


@pytest.fixture(scope="session")
def minilm() -> object:
    return make_embedder(Settings().embedding)


@pytest.fixture
def embedder(minilm: object) -> CountingEmbedder:
    return CountingEmbedder(minilm)  # type: ignore[arg-type]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "keys.md").write_text(
        "# Keys\n\n## Rotate\n\nRotate the signing key every 90 days with `keyctl rotate`.\n"
    )
    (root / "guide" / "backup.md").write_text(long_markdown("backup"))
    (root / "todo.txt").write_text("buy milk\n\ncall the plumber about the leaking tap\n")
    return root


@pytest.fixture
def engine(folder: Path, tmp_path: Path, embedder: CountingEmbedder) -> Iterator[Engine]:
    with open_engine(folder, tmp_path / "data", embedder) as opened:
        opened.sync()
        embedder.documents = 0
        yield opened


def fresh_snapshot(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder, settings: Settings | None = None
) -> list[tuple[object, ...]]:
    data = tmp_path / f"fresh-{time.monotonic_ns()}"
    with open_engine(folder, data, embedder, settings) as fresh:
        fresh.sync()
        return snapshot(fresh)


def bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_first_index_counts_and_search(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    with open_engine(folder, tmp_path / "data", embedder) as engine:
        report = engine.sync()
        assert report.files_scanned == 3
        assert report.files_added == 3
        assert report.chunks_total == len(snapshot(engine)) > 3
        assert report.chunks_embedded == report.chunks_total
        hits = engine.search("how often do I rotate the signing key?", k=3)
        assert hits[0].path == "guide/keys.md"
        assert hits[0].start_line is not None and hits[0].end_line is not None
        assert 1 <= hits[0].start_line <= 5 <= hits[0].end_line


def test_second_sync_with_nothing_changed_does_nothing(
    engine: Engine, embedder: CountingEmbedder
) -> None:
    report = engine.sync()
    assert (report.files_added, report.files_changed, report.chunks_embedded) == (0, 0, 0)
    assert embedder.documents == 0


def test_edit_one_paragraph_embeds_only_new_text(
    engine: Engine, folder: Path, embedder: CountingEmbedder
) -> None:
    path = folder / "guide" / "backup.md"
    text = path.read_text()
    path.write_text(text.replace(paragraph("backup", 9), paragraph("restore", 9)))
    report = engine.sync()
    assert report.files_changed == 1
    assert 1 <= report.chunks_embedded <= 2
    assert embedder.documents == report.chunks_embedded
    assert engine.search("restore procedure number 9", k=1)[0].path == "guide/backup.md"


def test_edit_at_top_shifts_lines_without_reembedding(
    engine: Engine, folder: Path, embedder: CountingEmbedder
) -> None:
    path = folder / "guide" / "backup.md"
    before = {row[1]: row[2] for row in snapshot(engine) if row[0] == "guide/backup.md"}
    path.write_text("Intro line added at the top.\n\n" + path.read_text())
    report = engine.sync()
    assert report.chunks_embedded <= 2
    after = {row[1]: row[2] for row in snapshot(engine) if row[0] == "guide/backup.md"}
    moved = [h for h in before if h in after and after[h] != before[h]]
    assert moved and all(after[h] == before[h] + 2 for h in moved)  # type: ignore[operator]


def test_touch_embeds_nothing(engine: Engine, folder: Path, embedder: CountingEmbedder) -> None:
    bump_mtime(folder / "guide" / "keys.md")
    report = engine.sync()
    assert (report.files_changed, report.chunks_embedded, embedder.documents) == (0, 0, 0)


def test_rename_and_move_embed_nothing(
    engine: Engine, folder: Path, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    (folder / "guide" / "keys.md").rename(folder / "guide" / "signing.md")
    (folder / "todo.txt").rename(folder / "guide" / "todo.txt")
    report = engine.sync()
    assert report.files_moved == 2
    assert (report.files_added, report.files_deleted, report.chunks_embedded) == (0, 0, 0)
    assert engine.search("rotate the signing key", k=1)[0].path == "guide/signing.md"
    assert snapshot(engine) == fresh_snapshot(folder, tmp_path, embedder)


def test_copy_reuses_cached_vectors(
    engine: Engine, folder: Path, embedder: CountingEmbedder
) -> None:
    shutil.copy(folder / "guide" / "keys.md", folder / "keys-copy.md")
    report = engine.sync()
    assert report.files_added == 1
    assert report.chunks_embedded == 0 and report.chunks_reused >= 1
    first = engine.search("rotate the signing key", k=2)[0]
    assert {first.path, *first.also_in} == {"guide/keys.md", "keys-copy.md"}  # one passage


def test_delete_removes_rows(engine: Engine, folder: Path) -> None:
    rows = sum(1 for row in snapshot(engine) if row[0] == "todo.txt")
    (folder / "todo.txt").unlink()
    report = engine.sync()
    assert report.files_deleted == 1 and report.chunks_deleted == rows >= 1
    assert all(row[0] != "todo.txt" for row in snapshot(engine))


def test_directory_rename_and_delete(
    engine: Engine, folder: Path, embedder: CountingEmbedder
) -> None:
    (folder / "guide").rename(folder / "handbook")
    report = engine.sync()
    assert (report.files_moved, report.chunks_embedded) == (2, 0)
    shutil.rmtree(folder / "handbook")
    report = engine.sync()
    assert report.files_deleted == 2
    assert {row[0] for row in snapshot(engine)} == {"todo.txt"}


def test_scoped_sync_of_a_renamed_directory(
    engine: Engine, folder: Path, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    (folder / "guide").rename(folder / "handbook")
    report = engine.sync(paths=["guide", "handbook"])
    assert (report.files_moved, report.chunks_embedded) == (2, 0)
    assert report.files_scanned == 2, "each file under a synced directory is read once"
    assert {row[0] for row in snapshot(engine)} == {
        "todo.txt",
        "handbook/keys.md",
        "handbook/backup.md",
    }
    assert snapshot(engine) == fresh_snapshot(folder, tmp_path, embedder)


def test_ignore_rule_change(engine: Engine, folder: Path, embedder: CountingEmbedder) -> None:
    (folder / ".gitignore").write_text("todo.txt\n")
    report = engine.sync()
    assert report.files_deleted == 1
    assert all(row[0] != "todo.txt" for row in snapshot(engine))
    (folder / ".gitignore").write_text("")
    report = engine.sync()
    assert report.files_added == 1 and report.chunks_embedded == 0


def test_settings_change_needs_rebuild(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder, minilm: object
) -> None:
    data = tmp_path / "data"
    with open_engine(folder, data, embedder) as engine:
        engine.sync()
    other_model = CountingEmbedder(minilm, model_id="another/model")  # type: ignore[arg-type]
    with pytest.raises(RebuildNeeded, match="embedding_model"):
        open_engine(folder, data, other_model)
    settings = Settings()
    settings.index.chunk_size = 300
    with pytest.raises(RebuildNeeded, match="chunker"):
        open_engine(folder, data, embedder, settings)
    with open_engine(folder, data, other_model, rebuild=True) as engine:
        report = engine.sync()
        assert report.files_added == 3 and report.chunks_embedded == report.chunks_total


def test_second_owner_gets_a_one_line_message(
    engine: Engine, folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    with pytest.raises(IndexLockedError) as error:
        open_engine(folder, tmp_path / "data", embedder)
    assert f"pid {os.getpid()}" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("crash_at", ["insert", "commit", "delete"])
def test_crash_at_any_point_is_repaired(
    crash_at: str,
    folder: Path,
    tmp_path: Path,
    embedder: CountingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    with open_engine(folder, data, embedder) as engine:
        engine.sync()
        (folder / "guide" / "keys.md").write_text("# Keys\n\nKeys are kept in the vault now.\n")
        (folder / "todo.txt").unlink()
        (folder / "new.md").write_text("A brand new note about the garden.\n")
        _crash(engine, crash_at, monkeypatch)
        with pytest.raises(RuntimeError, match="simulated crash"):
            engine.sync()
        monkeypatch.undo()
    with open_engine(folder, data, embedder) as engine:  # the next start repairs
        engine.sync()
        assert snapshot(engine) == fresh_snapshot(folder, tmp_path, embedder)
        assert snapshot(engine) == catalog_snapshot(engine)
        assert engine.catalog.orphans() == []


def _crash(engine: Engine, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash")

    store = engine.store
    if where == "insert":  # rows reached Milvus, the catalog never heard of them
        original = store.insert

        def insert_then_crash(*args: object) -> None:
            original(*args)  # type: ignore[arg-type]
            raise RuntimeError("simulated crash")

        monkeypatch.setattr(store, "insert", insert_then_crash)
    elif where == "commit":
        from engine.catalog import Catalog

        monkeypatch.setattr(Catalog, "put_chunks", staticmethod(boom))
    else:  # the catalog committed; replaced rows were never deleted from Milvus
        monkeypatch.setattr(store, "delete", boom)


def test_cache_is_bounded_to_unused_entries(
    folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    settings = Settings()
    settings.embedding.cache_max_mb = 0
    with open_engine(folder, tmp_path / "data", embedder, settings) as engine:
        engine.sync()
        in_use = engine.catalog.cache_entries()
        assert in_use == len({row[1] for row in snapshot(engine)})
        (folder / "todo.txt").write_text("completely different text now\n")
        engine.sync()
        assert engine.catalog.cache_entries() == len({row[1] for row in snapshot(engine)})


def test_failed_and_skipped_files_are_recorded(engine: Engine, folder: Path) -> None:
    (folder / "blob.txt").write_bytes(b"\x00\x01binary\x00" * 100)
    (folder / ".env").write_text("TOKEN=abc\n")
    report = engine.sync()
    status = engine.status()
    assert report.files_ignored >= 2
    assert status.ignored >= 2
    reasons = {path: reason for path, reason, _ in engine.catalog.skipped()}
    assert "blob.txt" in reasons and ".env" in reasons
    assert all(row[0] not in ("blob.txt", ".env") for row in snapshot(engine))


def test_file_states_for_the_folder_browser(engine: Engine, folder: Path) -> None:
    (folder / "blob.txt").write_bytes(b"\x00\x01binary\x00" * 100)
    (folder / ".env").write_text("TOKEN=abc\n")
    engine.sync()
    (folder / "new.md").write_text("# New\n\nNot synced yet.\n")
    states = {state.path: state.as_json() for state in engine.file_states()}
    assert states["guide/keys.md"]["state"] == "indexed" and states["guide/keys.md"]["chunks"] == 1
    assert states["new.md"] == {"path": "new.md", "state": "pending", "chunks": 0, "reason": ""}
    assert states["blob.txt"]["state"] == "ignored" and "binary" in str(
        states["blob.txt"]["reason"]
    )
    assert states[".env"]["state"] == "ignored" and states[".env"]["reason"]


def test_path_prefix_limits_search(engine: Engine) -> None:
    hits = engine.search("plumber", k=5, path_prefixes=["guide/"])
    assert hits and all(h.path.startswith("guide/") for h in hits)


def test_dense_only_search(folder: Path, tmp_path: Path, embedder: CountingEmbedder) -> None:
    settings = Settings()
    settings.store.hybrid = False
    with open_engine(folder, tmp_path / "data", embedder, settings) as engine:
        engine.sync()
        hits = engine.search("signing key rotation", k=2)
        assert hits[0].path == "guide/keys.md"
        assert 0 < hits[0].score <= 1.0001


def test_data_and_config_dirs_inside_the_folder_are_never_indexed(
    folder: Path, embedder: CountingEmbedder
) -> None:
    data = folder / ".local" / "share" / "docsight"  # `docsight ~`: the data dir is inside
    config = folder / ".config" / "docsight" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[retrieval]\ntop_k = 5\n")
    with open_engine(folder, data, embedder, config_path=config) as engine:
        report = engine.sync()
        second = engine.sync()
    paths = {str(row[0]) for row in snapshot_after(folder, data, embedder)}
    assert not any(p.startswith((".local/", ".config/")) for p in paths)
    assert report.files_added == 3 and second.files_added == 0


def snapshot_after(
    folder: Path, data: Path, embedder: CountingEmbedder
) -> list[tuple[object, ...]]:
    with open_engine(folder, data, embedder) as engine:
        return snapshot(engine)


@pytest.mark.parametrize("damage", ["lost", "doubled", "stray"])
def test_repair_of_rows_milvus_lost_or_doubled_ends_equal_to_a_fresh_index(
    damage: str, folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    data = tmp_path / "data"
    with open_engine(folder, data, embedder) as engine:
        engine.sync()
        rows = engine.catalog.chunks_of("guide/backup.md")
        assert len(rows) > 2, "a file with several chunks, one of them damaged"
        victim = rows[1]
        if damage == "lost":  # what a Milvus that lost a write leaves
            engine.store.delete([victim.id])
        else:  # the same id twice, or an id no catalog row owns
            vector = engine.catalog.cached_vectors(embedder.model_id, [victim.hash])[victim.hash]
            copy = victim if damage == "doubled" else replace(victim, id=10**9)
            engine.store.insert([copy], [vector])
        engine.store.flush()
    embedder.documents = 0
    with open_engine(folder, data, embedder) as engine:  # the next start repairs
        report = engine.sync()
        ids = [int(row["id"]) for row in engine.store.rows(["id"])]
        assert len(ids) == len(set(ids)), "no id twice"
        assert (
            snapshot(engine)
            == catalog_snapshot(engine)
            == fresh_snapshot(folder, tmp_path, embedder)
        )
        assert engine.catalog.orphans() == []
        if damage != "stray":  # the damaged file came back whole, from the cache
            assert report.files_added == 1 and report.chunks_embedded == 0


# usable while it builds ------------------------------------------------------------------
TOPICS: tuple[str, ...] = ("backup", "billing", "canary", "dns", "email", "firewall", "gpu", "helm")
TOPICS += ("inventory", "jobs", "kafka", "ldap")
# The chunk size the batch sizes below are counted in (the batching, not the default size,
# is what these tests are about).
SMALL_CHUNKS = replace(
    Settings(), index=replace(Settings().index, chunk_size=512, chunk_overlap=51)
)


@pytest.fixture
def big_folder(tmp_path: Path) -> Path:
    """Twelve handbooks of 12 chunks (at SMALL_CHUNKS): three batches (3 files, 6, the
    last 3)."""
    root = tmp_path / "big"
    root.mkdir()
    for topic in TOPICS:
        (root / f"{topic}.md").write_text(long_markdown(topic, sections=3, per_section=4))
    return root


def test_a_first_index_is_searchable_and_counted_while_it_builds(
    big_folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    seen: dict[str, object] = {}
    with open_engine(big_folder, tmp_path / "data", embedder, SMALL_CHUNKS) as engine:
        indexed: list[str] = []

        def on_event(event: object) -> None:
            if isinstance(event, FileIndexed):
                indexed.append(event.path)
            elif isinstance(event, SyncProgress) and indexed and "status" not in seen:
                # the first batch has landed, the rest has not
                topic = indexed[0].removesuffix(".md")
                seen["hits"] = [h.path for h in engine.search(f"{topic} procedure", 3)]
                seen["status"] = engine.status()
                seen["indexed"] = list(indexed)

        report = engine.sync(on_event=on_event)
        final = engine.status()
    status = seen["status"]
    assert isinstance(status, IndexStatus)
    first = seen["indexed"]
    assert isinstance(first, list) and 0 < len(first) < len(TOPICS)
    assert seen["hits"] and set(cast(list[str], seen["hits"])) <= set(first)
    assert status.files == len(first) and status.in_progress is True
    assert status.pending == len(TOPICS) - len(first)
    assert status.indexed is False  # no sync has finished yet
    assert report.files_added == len(TOPICS)
    assert (final.pending, final.in_progress, final.indexed) == (0, False, True)


@pytest.mark.parametrize("batches_done", [1, 2])
def test_a_crash_between_batches_loses_at_most_the_batch_in_flight(
    batches_done: int,
    big_folder: Path,
    tmp_path: Path,
    embedder: CountingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    with open_engine(big_folder, data, embedder, SMALL_CHUNKS) as engine:
        calls = {"n": 0}
        original = engine.catalog.set_sync_state

        def crash_after_batches(pending: int, active: bool) -> None:
            original(pending, active)
            calls["n"] += 1  # 1: the plan; 1 + k: batch k committed
            if calls["n"] == 1 + batches_done and active:
                raise KeyboardInterrupt("killed between two batches")

        monkeypatch.setattr(engine.catalog, "set_sync_state", crash_after_batches)
        with pytest.raises(KeyboardInterrupt):
            engine.sync()
        monkeypatch.undo()
        embedded_before = embedder.documents
    with open_engine(big_folder, data, embedder, SMALL_CHUNKS) as engine:
        status = engine.status()
        assert 0 < status.files < len(TOPICS) and status.in_progress is False
        assert status.pending == len(TOPICS) - status.files
        assert snapshot(engine) == catalog_snapshot(engine)  # what landed is whole
        embedder.documents = 0
        report = engine.sync()
        assert report.files_added == len(TOPICS) - status.files
        assert report.chunks_reused == 0  # every chunk embedded before the kill was committed
        assert embedded_before + embedder.documents == report.chunks_total
        assert snapshot(engine) == fresh_snapshot(big_folder, tmp_path, embedder, SMALL_CHUNKS)
        assert snapshot(engine) == catalog_snapshot(engine)
        assert engine.catalog.orphans() == []


def test_a_restart_reports_the_cached_chunks_it_reuses(
    big_folder: Path, tmp_path: Path, embedder: CountingEmbedder
) -> None:
    """Killed after a batch was embedded, before it was committed: its vectors are in the
    catalog's cache. The next sync reuses them and its progress events say so, counted
    as the report counts them."""
    data = tmp_path / "data"

    def kill_once_embedded(event: object) -> None:
        if not isinstance(event, SyncProgress) or event.phase != "index":
            return
        if event.chunks_embedded and event.chunks_embedded == event.chunks_to_embed:
            raise KeyboardInterrupt("killed before the batch was committed")

    with open_engine(big_folder, data, embedder, SMALL_CHUNKS) as engine:
        with pytest.raises(KeyboardInterrupt):
            engine.sync(on_event=kill_once_embedded)
        cached = embedder.documents
    assert cached > 0
    events: list[object] = []
    with open_engine(big_folder, data, embedder, SMALL_CHUNKS) as engine:
        embedder.documents = 0
        report = engine.sync(on_event=events.append)
    last = [e for e in events if isinstance(e, SyncProgress) and e.phase == "index"][-1]
    assert report.chunks_reused == cached == last.chunks_reused
    assert last.chunks_embedded == report.chunks_embedded == embedder.documents
    assert report.chunks_embedded + report.chunks_reused == report.chunks_total


def test_progress_counts_reused_chunks_of_a_copy(engine: Engine, folder: Path) -> None:
    shutil.copy(folder / "guide" / "backup.md", folder / "backup-copy.md")
    events: list[object] = []
    report = engine.sync(on_event=events.append)
    reused = [e.chunks_reused for e in events if isinstance(e, SyncProgress) and e.phase == "index"]
    assert reused == sorted(reused) and reused[-1] == report.chunks_reused > 1
    assert report.chunks_embedded == 0
