"""Scan: every reason a file is left out, and the kinds of the files that are not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import IndexSettings
from engine.kinds import kind_of
from engine.paths import on_disk
from engine.scan import Scanner
from engine.types import ScannedFile, SkippedFile


def write(root: Path, rel: str, text: str = "text\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def scan(root: Path, **settings: object) -> tuple[list[str], dict[str, str]]:
    result = Scanner(root, IndexSettings(**settings)).scan()  # type: ignore[arg-type]
    return [f.path for f in result.files], {s.path: s.reason for s in result.skipped}


def test_gitignore_at_two_levels_with_negation(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "# logs\n*.log\n!keep.log\nbuild/\n")
    write(tmp_path, "a.log")
    write(tmp_path, "keep.log")
    write(tmp_path, "build/out.md")
    write(tmp_path, "sub/.gitignore", "!a.log\ndrafts/\n")
    write(tmp_path, "sub/a.log")
    write(tmp_path, "sub/drafts/x.md")
    write(tmp_path, "sub/b.log")
    files, skipped = scan(tmp_path)
    assert files == ["keep.log", "sub/a.log"]
    assert skipped["a.log"] == "ignored by .gitignore:2 (*.log)"
    assert skipped["build/"] == "ignored by .gitignore:4 (build/)"
    assert skipped["sub/drafts/"] == "ignored by sub/.gitignore:2 (drafts/)"
    assert skipped["sub/b.log"] == "ignored by .gitignore:2 (*.log)"


def test_docsightignore_and_config_globs(tmp_path: Path) -> None:
    write(tmp_path, ".docsightignore", "private/\n")
    write(tmp_path, "private/diary.md")
    write(tmp_path, "notes/a.md")
    write(tmp_path, "notes/b.txt")
    write(tmp_path, "notes/c.tmp.md")
    files, skipped = scan(tmp_path, include=["*.md"], exclude=["*.tmp.md"])
    assert files == ["notes/a.md"]
    assert skipped["private/"].startswith("ignored by .docsightignore:1")
    assert skipped["notes/b.txt"] == "not matched by index.include"
    assert skipped["notes/c.tmp.md"] == "excluded by index.exclude"


def test_secrets_editor_files_and_vcs_dirs_are_never_indexed(tmp_path: Path) -> None:
    for name in (".env", ".env.local", "id_rsa", "server.pem", ".netrc", "credentials.json"):
        write(tmp_path, name)
    for name in ("notes.md.swp", "notes.md~", ".#notes.md", "4913"):
        write(tmp_path, name)
    write(tmp_path, ".git/config")
    write(tmp_path, "node_modules/x/readme.md")
    write(tmp_path, "notes.md")
    files, skipped = scan(tmp_path)
    assert files == ["notes.md"]
    assert skipped[".env"] == "may hold secrets: never indexed"
    assert skipped["id_rsa"] == "may hold secrets: never indexed"
    assert skipped["notes.md.swp"] == "editor temp or backup file"
    assert skipped[".git/"] == ".git directories are never indexed"
    assert "node_modules/" in skipped


def test_size_binary_type_and_special_files(tmp_path: Path) -> None:
    write(tmp_path, "big.txt", "x" * 2_000_000)
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    os.mkfifo(tmp_path / "pipe")
    write(tmp_path, "ok.md")
    files, skipped = scan(tmp_path, max_file_mb=1)
    assert files == ["ok.md"]
    assert skipped["big.txt"] == "larger than 1 MB (index.max_file_mb)"
    assert skipped["photo.png"] == "binary file type (.png)"
    assert skipped["pipe"] == "not a regular file"


def test_symlinks_loops_and_escapes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root, "real/a.md")
    write(tmp_path, "outside/secret.md")
    (root / "loop").symlink_to(root)
    (root / "escape").symlink_to(tmp_path / "outside")
    (root / "escape.md").symlink_to(tmp_path / "outside" / "secret.md")
    (root / "broken.md").symlink_to(root / "nope.md")
    (root / "alias.md").symlink_to(root / "real" / "a.md")
    files, skipped = scan(root)
    assert files == ["alias.md", "real/a.md"]
    assert skipped["loop/"] == "symlink loop"
    assert skipped["escape"] == "symlink to outside the folder"
    assert skipped["escape.md"] == "symlink to outside the folder"
    assert skipped["broken.md"] == "broken symlink"


def test_own_data_dir_inside_the_folder_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, ".local/share/docsight/indexes/x/catalog.md")
    write(tmp_path, "notes.md")
    result = Scanner(tmp_path, IndexSettings(), [tmp_path / ".local/share/docsight"]).scan()
    assert [f.path for f in result.files] == ["notes.md"]
    reasons = {s.path: s.reason for s in result.skipped}
    assert reasons[".local/share/docsight/"] == "docsight's own data or config directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_directory(tmp_path: Path) -> None:
    write(tmp_path, "locked/a.md")
    (tmp_path / "locked").chmod(0)
    try:
        _, skipped = scan(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert skipped["locked/"] == "permission denied"


def test_check_one_path_agrees_with_the_scan(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "drafts/\n")
    write(tmp_path, "drafts/a.md")
    write(tmp_path, "notes/b.md")
    scanner = Scanner(tmp_path, IndexSettings())
    assert isinstance(scanner.check("notes/b.md"), ScannedFile)
    skipped = scanner.check("drafts/a.md")
    assert isinstance(skipped, SkippedFile) and "drafts/" in skipped.reason
    assert scanner.check("notes") is None
    assert scanner.check("missing.md") is None
    write(tmp_path, ".gitignore", "")  # an ignore file edit is seen at once
    assert isinstance(scanner.check("drafts/a.md"), ScannedFile)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("a.md", "markdown"),
        ("a.rst", "rst"),
        ("a/b.html", "html"),
        ("x.pdf", "pdf"),
        ("main.py", "code"),
        ("Makefile", "code"),
        ("config.yaml", "code"),
        ("README", "text"),
        ("notes.txt", "text"),
        ("x.png", None),
    ],
)
def test_kinds(path: str, kind: str | None) -> None:
    assert kind_of(path) == kind


def test_symlinks_are_judged_by_what_they_resolve_to(tmp_path: Path) -> None:
    write(tmp_path, ".env", "AWS_SECRET_ACCESS_KEY=x\n")
    write(tmp_path, ".git/config", "[remote]\n")
    write(tmp_path, ".ssh/config", "Host x\n")
    write(tmp_path, ".gitignore", "drafts/\n")
    write(tmp_path, "drafts/plan.md")
    write(tmp_path, "real/a.md")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    links = {
        "notes.md": ".env",
        "git.md": ".git/config",
        "ssh.txt": ".ssh/config",
        "plan.md": "drafts/plan.md",
        "photo.md": "photo.png",
        "repo": ".git",
        "alias": "real",
    }
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    files, skipped = scan(tmp_path)
    assert files == ["real/a.md"]
    assert skipped["alias"] == "symlink to real: indexed where it lies"
    assert skipped["notes.md"] == "symlink to .env: may hold secrets: never indexed"
    assert skipped["git.md"] == "symlink to .git/config: .git directories are never indexed"
    assert skipped["ssh.txt"] == "symlink to .ssh/config: .ssh directories are never indexed"
    assert skipped["plan.md"] == "symlink to drafts/plan.md: ignored by .gitignore:1 (drafts/)"
    assert skipped["photo.md"] == "symlink to photo.png: binary file type"
    assert skipped["repo"] == "symlink to .git: .git directories are never indexed"
    scanner = Scanner(tmp_path, IndexSettings())  # one path at a time (the watcher) agrees
    for name in ("notes.md", "git.md", "ssh.txt", "plan.md", "photo.md"):
        assert scanner.check(name) == SkippedFile(name, skipped[name])
    assert scanner.check("alias/a.md") == SkippedFile("alias/a.md", skipped["alias"])


def test_odd_names_are_indexed_under_faithful_names(tmp_path: Path) -> None:
    for name in ("with space.md", "new\nline.md", "emoji 🎉.md", "-dash.md"):
        write(tmp_path, name)
    raw = os.fsdecode(b"caf\xe9.md")  # Latin-1, as old archives spell it
    write(tmp_path, raw)
    write(tmp_path, os.fsdecode(b"dir\xff/inner.md"))
    files, _ = scan(tmp_path)
    assert files == sorted(
        [
            "-dash.md",
            "caf\\xe9.md",
            "dir\\xff/inner.md",
            "emoji 🎉.md",
            "new\nline.md",
            "with space.md",
        ]
    )
    assert on_disk(tmp_path, "caf\\xe9.md") == tmp_path / raw  # the way back to the bytes
    assert on_disk(tmp_path, "dir\\xff/inner.md").read_text() == "text\n"
    scanner = Scanner(tmp_path, IndexSettings())
    assert scanner.check(raw) == scanner.check("caf\\xe9.md")  # either spelling, one answer
    found = scanner.check(raw)
    assert isinstance(found, ScannedFile) and found.path == "caf\\xe9.md"


def test_a_name_that_would_clash_once_stored_is_left_out(tmp_path: Path) -> None:
    write(tmp_path, os.fsdecode(b"caf\xe9.md"), "bytes\n")
    write(tmp_path, "caf\\xe9.md", "a backslash in its name\n")
    files, skipped = scan(tmp_path)
    assert files == ["caf\\xe9.md"]
    assert on_disk(tmp_path, files[0]).read_text() == "a backslash in its name\n"
    assert "is another file's name" in skipped["caf\\xe9.md"]


def test_deep_and_empty(tmp_path: Path) -> None:
    deep = "/".join(["d"] * 200) + "/deep.md"
    write(tmp_path, deep)
    write(tmp_path, "empty.md", "")
    files, skipped = scan(tmp_path)
    assert files == [deep]
    assert skipped == {"empty.md": "empty file"}
    assert isinstance(Scanner(tmp_path, IndexSettings()).check(deep), ScannedFile)


def test_a_symlink_loop_between_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").symlink_to("b.md")
    (tmp_path / "b.md").symlink_to("a.md")
    _, skipped = scan(tmp_path)
    assert skipped == {"a.md": "symlink loop", "b.md": "symlink loop"}
