"""Failures a person can act on, said in one line and losing nothing: a full disk, Milvus'
own messages kept off the terminal, a data dir only its owner can read. Real Milvus Lite,
the real bundled model, a real small file system where the machine lets us mount one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.errors import DiskFull
from tests.helpers import REPO, catalog_snapshot, open_engine, run_cli, snapshot


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


def cli(*argv: str, env: dict[str, str] | None = None, umask: int = -1) -> Any:
    return run_cli(*argv, env=env, umask=umask)


def fresh(folder: Path, tmp_path: Path, embedder: Embedder) -> list[tuple[object, ...]]:
    with open_engine(folder, tmp_path / f"fresh-{time.monotonic_ns()}", embedder) as engine:
        engine.sync()
        return snapshot(engine)


# Milvus' messages ---------------------------------------------------------------------------
def test_milvus_messages_go_to_the_log_not_the_terminal(tmp_path: Path) -> None:
    """pymilvus' traceback block and the Milvus Lite server's own lines (made chatty here
    with LOG_LEVEL=INFO) land in the data dir, not on stderr."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tui.cli import setup_logging\n"
        "from engine.config import StoreSettings\n"
        "from engine.store import VectorStore\n"
        "data = Path(sys.argv[1])\n"
        "setup_logging(data, 0)\n"
        "store = VectorStore(StoreSettings(), data / 'index' / 'milvus.db', 'none', 'f')\n"
        "try:\n"
        "    store.count()\n"
        "except Exception as error:\n"
        "    print(type(error).__name__)\n"
        "store.close()\n"
    )
    (tmp_path / "index").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "LOG_LEVEL": "INFO"},
    )
    assert result.stdout == "MilvusException\n" and result.stderr == ""
    assert "RPC error" in (tmp_path / "docsight.log").read_text()
    assert "Start milvus-local" in (tmp_path / "index" / "milvus.log").read_text()


# Milvus Lite's start ------------------------------------------------------------------------
def test_a_corrupt_vector_store_is_named_with_its_log_not_called_locked(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nThe boiler is serviced every October.\n")
    env = {"DOCSIGHT_DATA_DIR": str(tmp_path / "data")}
    assert cli("index", str(folder), env=env).returncode == 0
    [database] = (tmp_path / "data").rglob("milvus.db")
    database.write_bytes(os.urandom(4096))
    result = cli("search", str(folder), "boiler", env=env)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "could not open" in line and "milvus.log" in line and "docsight forget" in line
    assert "another docsight" not in line


def test_a_starting_server_counts_as_started_only_once_it_listens(tmp_path: Path) -> None:
    # the socket file appears when the server binds it; pymilvus' first call is refused
    # until the server listens (seen on a busy machine), so only a connection counts
    import socket as sockets

    from engine.store import _listening

    path = str(tmp_path / "milvus.sock")
    assert not _listening(path), "no socket yet"
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as server:
        server.bind(path)
        assert Path(path).exists() and not _listening(path), "bound, not listening"
        server.listen(1)
        assert _listening(path)


def test_a_store_whose_lock_another_process_holds_is_locked_not_corrupt(tmp_path: Path) -> None:
    from engine.config import StoreSettings
    from engine.errors import IndexLockedError
    from engine.store import VectorStore

    database = tmp_path / "milvus.db"
    holder = subprocess.Popen(  # holds Milvus Lite's lock until its stdin closes
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / ".milvus.db.lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(IndexLockedError):
            VectorStore(StoreSettings(), database, "c", "notes")
    finally:
        holder.communicate("")


HOLD_LOCK = (
    "import fcntl, sys\n"
    "lock = open(sys.argv[1], 'a')\n"
    "fcntl.lockf(lock, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


# a full disk ----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 48 MB file system (tmpfs), where this machine lets the tests mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("mounting a small file system needs root (CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(0, free - leave))
    return filler


def test_a_full_disk_is_said_plainly_and_loses_nothing(
    notes: Path, small_disk: Path, tmp_path: Path, minilm: Embedder
) -> None:
    data = small_disk / "data"
    env = {"DOCSIGHT_DATA_DIR": str(data)}
    assert cli("index", str(notes), "--json", env=env).returncode == 0
    (notes / "new.md").write_text("# New\n\nThe generator is tested every first Monday.\n")
    filler = fill(small_disk, leave=2_000_000)
    result = cli("index", str(notes), "--json", env=env)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1 and result.stdout == ""
    assert last.startswith(f"docsight: the disk holding the data dir ({data}) is full")
    assert "nothing indexed was lost" in last
    assert "Traceback" not in result.stderr and "[ERROR]" not in result.stderr
    status = json.loads(cli("status", str(notes), "--json", env=env).stdout)
    assert (status["indexed"], status["files"]) == (True, 2)  # as it was before

    filler.unlink()  # space freed: the rerun completes
    rerun = cli("index", str(notes), "--json", env=env)
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["files_added"] == 1
    with open_engine(notes, data, minilm) as engine:
        assert snapshot(engine) == catalog_snapshot(engine) == fresh(notes, tmp_path, minilm)


def test_a_catalog_that_cannot_grow_is_a_full_disk_and_loses_nothing(
    notes: Path, tmp_path: Path, minilm: Embedder
) -> None:
    """SQLite's own "database or disk is full" (SQLITE_FULL), reached by capping the
    catalog's size where it stands, as a full disk would."""
    data = tmp_path / "data"
    with open_engine(notes, data, minilm) as engine:
        engine.sync()
        before = snapshot(engine)
        pages = engine.catalog._db.execute("PRAGMA page_count").fetchone()[0]
        engine.catalog._db.execute(f"PRAGMA max_page_count = {pages}")
        for n in range(40):
            (notes / f"more-{n}.md").write_text(f"# Note {n}\n\n" + f"Unique text {n}. " * 60)
        with pytest.raises(DiskFull, match="nothing indexed was lost"):
            engine.sync()
        assert snapshot(engine) == before
        engine.catalog._db.execute("PRAGMA max_page_count = 1073741823")
        assert engine.sync().files_added == 40
        assert snapshot(engine) == catalog_snapshot(engine) == fresh(notes, tmp_path, minilm)


# a private data dir ----------------------------------------------------------------------------
def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        if not path.is_symlink() and not path.is_socket():
            found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_the_data_dir_is_private_and_an_old_one_is_fixed(notes: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"DOCSIGHT_DATA_DIR": str(data)}
    closed = tmp_path / "down.toml"  # ask writes a conversation; no model needed for it
    closed.write_text('[llm]\nbase_url = "http://127.0.0.1:9"\n')
    assert cli("index", str(notes), "--json", env=env, umask=0).returncode == 0  # even umask 0
    assert (
        cli("ask", str(notes), "keys?", "--config", str(closed), env=env, umask=0).returncode == 0
    )
    found = modes(data)
    names = {Path(p).name for p in found}
    assert {"docsight.log", "catalog.sqlite", "milvus.db", "conversations.sqlite"} <= names
    assert all(
        mode == (0o700 if (data / path).is_dir() else 0o600) for path, mode in found.items()
    ), found

    for path in [data, *data.rglob("*")]:  # a data dir from before: 0755 and 0644
        if not path.is_symlink() and not path.is_socket():
            path.chmod(0o755 if path.is_dir() else 0o644)
    (data / "ui-state.json").write_text('{"questions": ["keys?"]}')  # the TUI's, from before
    (data / "ui-state.json").chmod(0o644)
    (data / "unrelated.txt").write_text("not docsight's\n")
    (data / "unrelated.txt").chmod(0o644)
    assert cli("status", str(notes), env=env).returncode == 0
    fixed = modes(data)
    assert fixed.pop("unrelated.txt") == 0o644, "only docsight's own files are touched"
    assert all(mode & 0o077 == 0 for mode in fixed.values()), fixed
    assert "ui-state.json" in fixed
