"""Several docsight processes on one folder (issue 3): the process that owns the index
serves the others over a user-only Unix socket. Real processes (the `docsight` console
script), real Milvus Lite, the real bundled model."""

from __future__ import annotations

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.client import connect
from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.engine import Engine
from engine.errors import OwnerGone
from engine.events import FileIndexed, FileMoved, FileRemoved, SyncProgress, SyncStarted
from engine.protocol import socket_path
from engine.serve import OwnerServer
from tests.helpers import long_markdown, open_engine
from tui.commands_watch import describe

DOCSIGHT = Path(sys.executable).with_name("docsight")
TIMEOUT_S = 120.0  # a ceiling on two shared cores, never a sleep

pytestmark = pytest.mark.skipif(
    not DOCSIGHT.exists(), reason="the docsight script is not installed"
)


def docsight(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DOCSIGHT), *argv], capture_output=True, text=True, timeout=TIMEOUT_S)


def search_json(folder: Path, query: str) -> list[dict[str, Any]]:
    result = docsight("search", str(folder), query, "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    hits: list[dict[str, Any]] = json.loads(result.stdout)["hits"]
    return hits


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ["DOCSIGHT_DATA_DIR"])  # the conftest's, which children inherit


@pytest.fixture
def owner(notes: Path, data_dir: Path, minilm: Embedder) -> Iterator[Engine]:
    """This test process owns the index and serves it."""
    with open_engine(notes, data_dir, minilm) as engine:
        engine.sync()
        server = OwnerServer(engine)
        server.start()
        try:
            yield engine
        finally:
            server.stop()


# an owner in this process -----------------------------------------------------------------
def test_search_from_a_second_process_is_served_by_the_owner(notes: Path, owner: Engine) -> None:
    hits = search_json(notes, "how often is the signing key rotated")
    assert hits and hits[0]["path"] == "ops/keys.md"
    assert "90 days" in hits[0]["text"]


def test_a_served_search_loads_no_model_and_no_milvus(notes: Path, owner: Engine) -> None:
    heavy: tuple[str, ...] = ("torch", "sentence_transformers", "transformers", "pymilvus")
    heavy += ("milvus_lite", "onnxruntime", "tokenizers", "numpy")  # nor any vector
    script = (
        "import json, sys\n"
        "from tui.cli import main\n"
        f"code = main(['search', {str(notes)!r}, 'tomatoes', '--json'])\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hits"][0]["path"] == "garden.txt"
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_a_one_shot_index_is_synced_by_the_owner(notes: Path, owner: Engine) -> None:
    (notes / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
    result = docsight("index", str(notes), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["files_added"], report["files_scanned"]) == (1, 3)
    assert [hit.path for hit in owner.search("quokka enclosure", 1)] == ["zoo.md"]


def test_a_second_watch_or_a_rebuild_exits_3_naming_the_owner(notes: Path, owner: Engine) -> None:
    for command in (["watch"], ["index", "--rebuild"]):
        result = docsight(*command, str(notes), "--json")
        assert result.returncode == 3, result.stderr
        assert f"pid {os.getpid()}" in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stdout == ""


def test_a_search_waits_for_an_owner_still_opening_its_socket(
    notes: Path, data_dir: Path, minilm: Embedder
) -> None:
    with open_engine(notes, data_dir, minilm, serving=True) as engine:  # lock, no socket yet
        engine.sync()
        search = subprocess.Popen(
            [str(DOCSIGHT), "search", str(notes), "tomatoes", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert search.stderr is not None
        waiting = search.stderr.readline()  # the client says it waits before it waits
        assert f"waiting for docsight pid {os.getpid()}" in waiting
        server = OwnerServer(engine)
        server.start()
        try:
            out, err = search.communicate(timeout=TIMEOUT_S)
        finally:
            server.stop()
    assert search.returncode == 0, err
    assert json.loads(out)["hits"][0]["path"] == "garden.txt"


def test_ask_during_a_first_index_answers_from_what_is_indexed_and_says_so(
    tmp_path: Path, data_dir: Path, minilm: Embedder
) -> None:
    folder = tmp_path / "handbooks"
    folder.mkdir()
    topics = ("backup", "billing", "canary", "dns", "email", "firewall")
    for topic in topics:
        (folder / f"{topic}.md").write_text(long_markdown(topic, sections=3, per_section=4))
    landed, go_on = threading.Event(), threading.Event()
    indexed: list[str] = []
    first: list[str] = []  # the files indexed when the sync paused

    def pause_after_the_first_batch(event: object) -> None:
        if isinstance(event, FileIndexed):
            indexed.append(event.path)
        elif isinstance(event, SyncProgress) and indexed and not landed.is_set():
            first.extend(indexed)
            landed.set()
            assert go_on.wait(TIMEOUT_S)

    with open_engine(folder, data_dir, minilm, serving=True) as engine:
        server = OwnerServer(engine)
        server.start()
        sync = threading.Thread(target=engine.sync, args=(None, pause_after_the_first_batch))
        sync.start()
        try:
            assert landed.wait(TIMEOUT_S)
            asked = subprocess.run(
                [str(DOCSIGHT), "ask", str(folder), "how is the backup procedure checked?"],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                env={**os.environ, "DOCSIGHT_LLM__BASE_URL": "http://127.0.0.1:9/v1"},
            )
        finally:
            go_on.set()
            sync.join()
            server.stop()
    assert asked.returncode == 0, asked.stderr
    pending = {f"{topic}.md" for topic in topics} - set(first)
    assert f"({len(first)} files indexed, {len(pending)} pending)" in asked.stderr
    assert pending and any(path in asked.stdout for path in first)
    assert not any(path in asked.stdout for path in pending)  # only what had landed


def test_status_from_a_second_process_names_the_owner(notes: Path, owner: Engine) -> None:
    result = docsight("status", str(notes), "--json")
    status = json.loads(result.stdout)
    assert result.returncode == 0 and status["owner_pid"] == os.getpid()
    assert (status["indexed"], status["files"]) == (True, 2)


def test_the_socket_is_the_users_alone(owner: Engine) -> None:
    sock = socket_path(owner.index_dir)
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    client = connect(owner.index_dir)
    assert client is not None
    try:
        assert client.ping() == os.getpid()
    finally:
        client.close()


def test_a_subscription_on_a_connection_closed_meanwhile_says_the_owner_is_gone(
    owner: Engine,
) -> None:
    """The TUI's follow thread may start reading events after another thread closed its
    connection: that is the owner gone (a DocsightError it handles), not an OSError."""
    client = connect(owner.index_dir)
    assert client is not None
    client.close()
    with pytest.raises(OwnerGone):
        next(client.events())


def test_a_deep_data_dir_past_the_socket_address_limit(
    notes: Path, tmp_path: Path, minilm: Embedder
) -> None:
    data = tmp_path / ("d" * 60) / ("e" * 60)
    with open_engine(notes, data, minilm) as engine:
        assert len(str(socket_path(engine.index_dir))) > 108
        engine.sync()
        server = OwnerServer(engine)
        server.start()
        try:
            client = connect(engine.index_dir)
            assert client is not None
            hits = client.search("tomatoes", 1, [])
            client.close()
        finally:
            server.stop()
    assert [hit.path for hit in hits] == ["garden.txt"]
    assert not socket_path(engine.index_dir).exists()


# `docsight watch` as its own process ------------------------------------------------------
class WatchProcess:
    """`docsight watch DIR --json`, its stdout read line by line as JSON."""

    def __init__(self, folder: Path, log: Path) -> None:
        self._stderr = log.open("w")
        self.proc = subprocess.Popen(
            [str(DOCSIGHT), "watch", str(folder), "--json"],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.proc.poll() is None, f"docsight watch exited {self.proc.returncode}"
                continue
            event = json.loads(line)  # every line is one JSON object
            assert isinstance(event, dict) and "event" in event
            self.seen.append(event)
            if predicate(event):
                return event
        raise AssertionError(f"no such event in {TIMEOUT_S:.0f} s; saw {self.seen}")

    def stop(self, signum: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(TIMEOUT_S)
        self._stderr.close()
        return code


@pytest.fixture
def watching(notes: Path, tmp_path: Path) -> Iterator[WatchProcess]:
    process = WatchProcess(notes, tmp_path / "watch.stderr")
    try:
        process.wait_for(lambda e: e["event"] == "synced")  # the sweep
        yield process
    finally:
        process.stop(signal.SIGKILL)


def test_watch_prints_json_lines_serves_others_and_stops_cleanly(
    notes: Path, data_dir: Path, watching: WatchProcess
) -> None:
    assert {e["path"] for e in watching.seen if e["event"] == "indexed"} == {
        "ops/keys.md",
        "garden.txt",
    }
    (notes / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
    watching.wait_for(lambda e: e["event"] == "indexed" and e["path"] == "zoo.md")
    synced = watching.wait_for(lambda e: e["event"] == "synced")
    assert synced["files_added"] == 1 and synced["chunks_total"] >= 3

    assert search_json(notes, "when does the quokka enclosure open")[0]["path"] == "zoo.md"
    second = docsight("watch", str(notes), "--json")
    assert second.returncode == 3 and f"pid {watching.proc.pid}" in second.stderr

    assert watching.stop(signal.SIGINT) == 0
    assert not any(watching.seen.count(e) > 1 for e in watching.seen if e["event"] != "synced")
    assert not socket_path(owner_dir(notes, data_dir)).exists()
    again = docsight("index", str(notes), "--json")  # reopens: nothing half-written
    report = json.loads(again.stdout)
    assert again.returncode == 0, again.stderr
    assert (report["files_added"], report["files_changed"], report["files_deleted"]) == (0, 0, 0)
    assert report["files_scanned"] == 3 and report["chunks_total"] == synced["chunks_total"]


def test_a_stale_socket_from_a_killed_owner_breaks_nothing(
    notes: Path, data_dir: Path, watching: WatchProcess, minilm: Embedder
) -> None:
    assert watching.stop(signal.SIGKILL) == -signal.SIGKILL
    index_dir = owner_dir(notes, data_dir)
    assert socket_path(index_dir).exists()  # left behind, nobody listening
    assert connect(index_dir) is None

    hits = search_json(notes, "tomatoes")  # opens the index itself
    assert hits[0]["path"] == "garden.txt"

    with open_engine(notes, data_dir, minilm) as engine:  # and a new owner serves again
        server = OwnerServer(engine)
        server.start()
        try:
            client = connect(index_dir)
            assert client is not None and client.ping() == os.getpid()
            client.close()
        finally:
            server.stop()


def test_watch_log_lines_are_the_issues() -> None:
    assert describe(FileIndexed("notes/a.md", 3, 3, True)) == "+ notes/a.md 3 chunks"
    assert describe(FileIndexed("b.md", 40, 1, False)) == "~ b.md 1 of 40 chunks re-embedded"
    assert describe(FileRemoved("c.md")) == "- c.md"
    assert describe(FileMoved("d.md", "e/d.md")) == "> d.md -> e/d.md"
    assert describe(SyncStarted("paths")) is None


def owner_dir(folder: Path, data_dir: Path) -> Path:
    from engine.indexes import index_dir_for

    return index_dir_for(folder.resolve(), data_dir)
