"""The server-URI path: the same sync contract against a real Milvus server.

milvus-lite 2.5.1 runs its Milvus binary on a loopback TCP address, which pymilvus reaches
exactly as it reaches a standalone Milvus: `store.uri = "http://127.0.0.1:PORT"`.
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import forget_index
from tests.helpers import CountingEmbedder, open_engine, snapshot

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # milvus-lite imports pkg_resources
    from milvus_lite.server import Server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    server = Server(str(tmp_path_factory.mktemp("milvus") / "server.db"), f"127.0.0.1:{port}")
    assert server.init() and server.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def minilm() -> object:
    return make_embedder(Settings().embedding)


def test_sync_and_search_through_a_milvus_server(
    milvus_uri: str, tmp_path: Path, minilm: object
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keys.md").write_text("# Keys\n\nRotate the signing key every 90 days.\n")
    (folder / "garden.md").write_text("# Garden\n\nWater the tomatoes every evening.\n")
    settings = Settings()
    settings.store.uri = milvus_uri
    embedder = CountingEmbedder(minilm)  # type: ignore[arg-type]
    with open_engine(folder, tmp_path / "data", embedder, settings) as engine:
        assert engine.store.uri == milvus_uri
        report = engine.sync()
        assert report.files_added == 2
        assert engine.search("signing key rotation", k=1)[0].path == "keys.md"
        (folder / "keys.md").rename(folder / "secrets-rotation.md")
        (folder / "garden.md").write_text("# Garden\n\nWater the peppers on Sundays.\n")
        report = engine.sync()
        assert (report.files_moved, report.files_changed) == (1, 1)
        assert report.chunks_embedded == 1
        assert {row[0] for row in snapshot(engine)} == {"secrets-rotation.md", "garden.md"}
        (folder / "garden.md").unlink()
        assert engine.sync().files_deleted == 1
        assert {row[0] for row in snapshot(engine)} == {"secrets-rotation.md"}
        collection = engine.store.collection
    assert forget_index(folder, settings, tmp_path / "data")
    from pymilvus import MilvusClient

    assert not MilvusClient(uri=milvus_uri).has_collection(collection)
