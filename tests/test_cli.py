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
HIT_KEYS |= {"also_in"}
STATUS_KEYS = {
    "indexed", "files", "chunks", "embedding_model", "store_uri", "last_sync", "failed",
    "ignored", "owner_pid", "skipped", "pending", "in_progress",
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
    assert code == 0 and out.startswith("[1] garden.txt:1  score")
    code, out, _ = run(capsys, "indexes")
    assert str(notes) in out
    code, out, _ = run(capsys, "forget", str(notes))
    assert code == 0 and "forgot" in out
    code, out, _ = run(capsys, "indexes", "--json")
    assert json.loads(out) == {"indexes": []}


def test_a_passage_two_files_hold_is_one_hit_naming_the_other(
    notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (notes / "garden-2025.txt").write_text("Water the tomatoes every evening in July.\n")
    code, out, _ = run(capsys, "search", str(notes), "tomatoes", "-k", "5")
    assert code == 0 and out.count("Water the tomatoes") == 1
    [first, also, *_] = out.splitlines()
    assert first.startswith("[1] garden")
    named = {first.split()[1].split(":")[0], also.removeprefix("    also in ")}
    assert named == {"garden.txt", "garden-2025.txt"}


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


@pytest.mark.parametrize("k", ["100000", "-1", "0", "many"])
def test_a_bad_flag_is_one_line_naming_it_and_the_range(
    notes: Path, capsys: pytest.CaptureFixture[str], k: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["search", str(notes), "tomatoes", "-k", k])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "argument -k" in err and ("between 1 and 16384" in err or "integer" in err)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[retrieval]\ntop_k = 0\n", "retrieval.top_k"),
        ('[index]\nbm25_analyzer = "klingon"\n', "index.bm25_analyzer"),
        ("[index]\nchunk_size = 0\n", "index.chunk_size"),
    ],
)
def test_a_bad_setting_is_refused_before_a_rebuild_deletes_anything(
    notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, key: str
) -> None:
    assert run(capsys, "index", str(notes), "--json")[0] == 0
    config = tmp_path / "bad.toml"
    config.write_text(body)
    for command in (["search", str(notes), "x"], ["index", str(notes), "--rebuild"]):
        code, out, err = run(capsys, *command, "--config", str(config))
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert key in err and str(config) in err and "Traceback" not in err
    code, out, _ = run(capsys, "index", str(notes), "--json")  # nothing was deleted
    assert code == 0 and json.loads(out)["chunks_embedded"] == 0
    code, out, _ = run(capsys, "search", str(notes), "tomatoes", "--json")
    assert json.loads(out)["hits"][0]["path"] == "garden.txt"


def test_a_model_that_cannot_load_stops_a_rebuild_before_it_deletes(
    notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "index", str(notes), "--json")[0] == 0
    config = tmp_path / "model.toml"
    config.write_text(f'[embedding]\nmodel = "{tmp_path / "no-such-model"}"\n')
    code, _, err = run(capsys, "index", str(notes), "--rebuild", "--config", str(config))
    assert code == 1 and err.count("\n") == 1 and "cannot load embedding model" in err
    code, out, _ = run(capsys, "status", str(notes), "--json")
    assert json.loads(out)["chunks"] >= 2, "the index survived the failed rebuild"


SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_no_secret_is_indexed_through_a_symlink(
    notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (notes / ".env").write_text(SECRET + "\n")
    (notes / "notes.md").symlink_to(".env")
    (notes / ".git").mkdir()
    (notes / ".git" / "config").write_text('[remote "origin"]\nurl = https://tok3n@host/x\n')
    (notes / "git.md").symlink_to(".git/config")
    (notes / ".ssh").mkdir()
    (notes / ".ssh" / "config").write_text("Host bastion\n  IdentityFile ~/.ssh/id_ed25519\n")
    (notes / "ssh.txt").symlink_to(notes / ".ssh" / "config")
    (notes / "repo").symlink_to(".git")  # a directory link into an excluded place
    code, out, _ = run(capsys, "index", str(notes), "--json")
    assert code == 0 and json.loads(out)["files_added"] == 2  # keys.md and garden.txt
    for query in ("AWS_SECRET_ACCESS_KEY", "remote origin url tok3n", "Host bastion"):
        code, out, _ = run(capsys, "search", str(notes), query, "-k", "10", "--json")
        texts = [hit["text"] for hit in json.loads(out)["hits"]]
        assert not any(w in t for t in texts for w in ("wJalr", "tok3n", "bastion"))
    code, out, _ = run(capsys, "status", str(notes), "--json")
    reasons = {entry["path"]: entry["reason"] for entry in json.loads(out)["skipped"]}
    assert reasons["notes.md"] == "symlink to .env: may hold secrets: never indexed"
    assert reasons["git.md"].startswith("symlink to .git/config: .git directories")
    assert reasons["ssh.txt"].startswith("symlink to .ssh/config: .ssh directories")
    assert reasons["repo"].startswith("symlink to .git: .git directories")


ESCAPES = (
    "Colour \x1b[31mred\x1b[0m, title \x1b]0;pwned\x07, clear \x1b[2J, clip \x1b]52;c;SGk=\x07."
)


def test_human_output_shows_control_characters_and_json_stays_exact(
    notes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (notes / "escapes.md").write_text(f"# Terminal tricks\n\n{ESCAPES}\n")
    (notes / "evil\x1b]0;name\x07.png").write_bytes(b"\x89PNG")
    code, out, _ = run(capsys, "search", str(notes), "terminal tricks colour", "-k", "1")
    assert code == 0 and "escapes.md" in out
    assert "␛[31mred␛[0m" in out and "␛]0;pwned␇" in out and "␛[2J" in out
    code, json_out, _ = run(capsys, "search", str(notes), "terminal tricks", "-k", "1", "--json")
    assert ESCAPES in json.loads(json_out)["hits"][0]["text"]
    code, status_out, _ = run(capsys, "status", str(notes))
    assert "evil␛]0;name␇.png: binary file type (.png)" in status_out
    closed = tmp_path / "down.toml"  # no model: the answer is the passages, printed
    closed.write_text('[llm]\nbase_url = "http://127.0.0.1:9"\n')
    code, ask_out, _ = run(capsys, "ask", str(notes), "terminal tricks?", "--config", str(closed))
    assert code == 0 and "␛[31mred" in ask_out
    for printed in (out, status_out, ask_out):
        assert "\x1b" not in printed and "\x07" not in printed


def test_status_lists_what_was_left_out_and_why(
    notes: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (notes / "photo.png").write_bytes(b"\x89PNG")
    (notes / "empty.md").write_text("")
    assert run(capsys, "index", str(notes), "--json")[0] == 0
    code, out, _ = run(capsys, "status", str(notes), "--json")
    skipped = {entry["path"]: entry["reason"] for entry in json.loads(out)["skipped"]}
    assert skipped == {
        ".env": "may hold secrets: never indexed",
        "empty.md": "empty file",
        "photo.png": "binary file type (.png)",
    }
    assert json.loads(out)["ignored"] == 3
    code, out, _ = run(capsys, "status", str(notes))
    assert "  - photo.png: binary file type (.png)" in out.splitlines()


def test_the_progress_bar_counts_reused_chunks(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.events import SyncProgress
    from tui.commands_index import ProgressBar

    progress = ProgressBar()
    try:
        progress(SyncProgress("index", 3, 900, 0, 40, 1900))
        progress(SyncProgress("index", 120, 900, 300, 2000, 1900))
        assert progress._bar is not None
        shown = str(progress._bar)  # what the bar draws now, whatever tqdm's refresh rate
        assert "120/900" in shown and "300 chunks embedded, 1,900 reused" in shown
    finally:
        progress.close()
