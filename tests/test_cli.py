"""The CLI contract (DESIGN.md): JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import Settings
from engine.engine import Engine
from tui.cli import main

INDEX_KEYS = {
    "files_scanned", "files_added", "files_changed", "files_deleted", "files_moved",
    "files_failed", "files_ignored", "chunks_total", "chunks_embedded", "chunks_reused",
    "chunks_deleted", "seconds",
}  # fmt: skip
HIT_KEYS = {"path", "start_line", "end_line", "page", "heading", "score", "text", "unit_scores"}
STATUS_KEYS = {
    "indexed", "files", "chunks", "embedding_model", "store_uri", "last_sync", "failed",
    "ignored", "owner_pid", "pending", "in_progress",
}  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_search_status_json(notes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "status", str(notes), "--json")
    status = json.loads(out)
    assert code == 0 and set(status) == STATUS_KEYS
    assert (status["indexed"], status["files"], status["chunks"]) == (False, 0, 0)

    code, out, _ = run(capsys, "index", str(notes), "--json")
    report = json.loads(out)
    assert code == 0 and set(report) == INDEX_KEYS
    assert report["files_added"] == 2 and report["files_ignored"] >= 1

    code, out, _ = run(capsys, "search", str(notes), "rotate signing key", "-k", "1", "--json")
    result = json.loads(out)
    assert code == 0 and set(result) == {"hits", "seconds"}
    assert len(result["hits"]) == 1 and set(result["hits"][0]) == HIT_KEYS
    assert result["hits"][0]["path"] == "ops/keys.md"
    assert 0 < result["hits"][0]["score"] <= 1  # a relevance a person can read, not RRF
    assert len(result["hits"][0]["unit_scores"]) == 2  # "# Keys" and its one sentence

    code, out, _ = run(capsys, "search", str(notes), "water", "--path", "ops/", "--json")
    assert all(hit["path"].startswith("ops/") for hit in json.loads(out)["hits"])

    code, out, _ = run(capsys, "status", str(notes), "--json")
    status = json.loads(out)
    assert (status["indexed"], status["files"]) == (True, 2)
    assert status["owner_pid"] is None and status["last_sync"] > 0


def test_human_output(notes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "index", str(notes))
    assert code == 0 and "2 added" in out and "chunks in the index" in out
    code, out, _ = run(capsys, "search", str(notes), "tomatoes")
    assert code == 0 and out.startswith("[1] garden.txt:1-1")
    code, out, _ = run(capsys, "indexes")
    assert str(notes) in out
    code, out, _ = run(capsys, "forget", str(notes))
    assert code == 0 and "forgot" in out
    code, out, _ = run(capsys, "indexes", "--json")
    assert json.loads(out) == {"indexes": []}


def test_search_indexes_a_new_folder_first(notes: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", str(notes), "tomatoes", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["path"] == "garden.txt"


def test_bad_usage_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "index", str(tmp_path / "missing"))
    assert code == 2 and err.count("\n") == 1 and "not a folder" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["search"])
    assert exit_info.value.code == 2


def test_broken_config_names_key_and_file(
    notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[retrieval]\ntop_k = 'many'\n")
    code, _, err = run(capsys, "search", str(notes), "x", "--config", str(config))
    assert code == 2 and "retrieval.top_k" in err and str(config) in err
    assert err.count("\n") == 1


def test_rebuild_needed_is_exit_4(
    notes: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "index", str(notes), "--json")[0] == 0
    monkeypatch.setenv("DOCSIGHT_INDEX__CHUNK_SIZE", "300")
    code, out, err = run(capsys, "index", str(notes), "--json")
    assert code == 4 and out == "" and "--rebuild" in err
    code, out, _ = run(capsys, "index", str(notes), "--json", "--rebuild")
    assert code == 0 and json.loads(out)["files_added"] == 2


def test_locked_index_is_exit_3_from_another_process(notes: Path, tmp_path: Path) -> None:
    data = Path(os.environ["DOCSIGHT_DATA_DIR"])
    with Engine(notes, Settings(), data):
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", "index", str(notes), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 3, result.stderr
    assert f"pid {os.getpid()}" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
