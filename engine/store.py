"""The vector store: one Milvus collection per indexed folder.

A Milvus Lite file under the data dir by default, any Milvus server when `store.uri` is
http(s). Each row is one chunk: the dense vector, a BM25 sparse vector that Milvus
computes from the text, and the chunk's metadata. Nothing here depends on the Milvus Lite
version (see DESIGN.md: the 2.5.1 pin should be able to move).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import types
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.catalog import ChunkRow
from engine.config import StoreSettings
from engine.errors import IndexLockedError, StoreError
from engine.types import Hit

log = logging.getLogger(__name__)

OUTPUT_FIELDS = ["path", "hash", "start_line", "end_line", "page", "heading", "text"]
NO_NUMBER = -1  # Milvus scalar fields are not nullable on every version: -1 stands for None
RRF_K = 60
WRITE_TIMEOUT_S = 120.0  # pymilvus otherwise retries a failing write 75 times (minutes)
WRITE_PART = 1000  # rows or ids sent in one insert or delete request
T = TypeVar("T")
HEADING_BYTES = 2048
# pymilvus waits 10 s for a server's channel; Milvus Lite's own server, started just now,
# can take longer than that to open its file on a busy machine.
LITE_CONNECT_TIMEOUT_S = 60.0
REMOTE_CONNECT_TIMEOUT_S = 10.0
SOCKET_POLL_S = 0.005  # how often a starting Milvus Lite server is tried for its socket
# database path -> exit status of a Milvus Lite server that exited as it started (a corrupt
# file); milvus_lite reports that and a lock held by another process with one message
FAILED_STARTS: dict[str, int] = {}


def _milvus() -> Any:
    # gRPC core prints keepalive chatter with Milvus Lite ("too_many_pings") to stderr.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    with warnings.catch_warnings():
        # milvus-lite 2.5.1 imports pkg_resources, which warns on every start.
        warnings.simplefilter("ignore", UserWarning)
        import milvus_lite  # noqa: F401
    import pymilvus

    _quiet_milvus()
    return pymilvus


def _quiet_milvus() -> None:
    """Milvus' messages go to docsight's log, never to the terminal (where the TUI draws).

    pymilvus gives its loggers their own console handler, so an RPC error printed a
    traceback block on stderr: they propagate to the log handlers instead. Milvus Lite
    starts its server with this process's stdout and stderr: its `subprocess` gets a
    stand-in that sends the server's output to milvus.log beside the database (and makes
    what it creates private)."""
    for name in ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer"):
        quiet = logging.getLogger(name)
        quiet.handlers.clear()
        quiet.propagate = True
        quiet.setLevel(logging.ERROR)  # not the warning per query iterator on Lite
    try:
        from milvus_lite import server as lite_server
    except ImportError:
        return
    if isinstance(getattr(lite_server, "subprocess", None), types.ModuleType):
        lite_server.subprocess = _LiteSubprocess()


class _LiteSubprocess:
    """The `subprocess` module as milvus_lite.server sees it: Popen with the output sent
    to a log file in the server's working directory (the index dir) and umask 077."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> Any:  # noqa: N802
        if kwargs.get("cwd") is not None and not {"stdout", "stderr"} & set(kwargs):
            log_file = Path(kwargs["cwd"]) / "milvus.log"
            output = open(log_file, "ab", opener=lambda p, f: os.open(p, f, 0o600))  # noqa: SIM115
            kwargs.update(stdin=subprocess.DEVNULL, stdout=output, stderr=output, umask=0o077)
            try:
                return _LiteServer.start(*args, **kwargs)
            finally:
                output.close()  # the server holds its own copy
        return subprocess.Popen(*args, **kwargs)


class _LiteServer(subprocess.Popen[bytes]):
    """Milvus Lite's server process. milvus_lite sleeps half a second after starting it
    and calls a server that exited by then failed (a corrupt database file), with the
    message it also gives for a lock another process holds. Here that first wait ends as
    soon as the server accepts a connection on its socket (some 50 ms; a socket file that
    is there is not enough: pymilvus' first call is refused until the server listens), or
    when it exits, whose status is noted by database so that the two failures can be told
    apart (VectorStore). A busy machine is waited for up to LITE_CONNECT_TIMEOUT_S."""

    database = ""
    address = ""
    checked = False

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> _LiteServer:
        server = cls(*args, **kwargs)
        argv = [str(a) for a in kwargs.get("args", args[0] if args else ())]
        server.database = argv[1] if len(argv) > 1 else ""
        sockets = [a.removeprefix("unix:") for a in argv if a.startswith("unix:")]
        server.address = sockets[0] if sockets else ""
        return server

    def wait(self, timeout: float | None = None) -> int:
        first, self.checked = not self.checked, True  # the start-up check, not a stop
        if first and self.address and timeout is not None:
            deadline = time.monotonic() + max(timeout, LITE_CONNECT_TIMEOUT_S)
            while self.poll() is None and time.monotonic() < deadline:
                if _listening(self.address):
                    raise subprocess.TimeoutExpired(self.args, timeout)  # read as "started"
                time.sleep(SOCKET_POLL_S)
            timeout = 0
        code = super().wait(timeout)  # still running: TimeoutExpired, read as "started"
        if first:
            FAILED_STARTS[self.database] = code
        return code


def _listening(address: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(address)
        except OSError:  # not there yet, or there and not listening yet
            return False
    return True


class VectorStore:
    def __init__(
        self, settings: StoreSettings, lite_path: Path, collection: str, folder: str
    ) -> None:
        self.collection = collection
        self.uri = settings.uri or str(lite_path)
        self.hybrid = settings.hybrid
        token = os.environ.get(settings.token_env, "") if settings.uri else ""
        database = str(lite_path.resolve())  # as milvus_lite names it
        FAILED_STARTS.pop(database, None)
        try:
            remote = self.uri.startswith(("http://", "https://"))
            timeout = REMOTE_CONNECT_TIMEOUT_S if remote else LITE_CONNECT_TIMEOUT_S
            self._client = _milvus().MilvusClient(uri=self.uri, token=token, timeout=timeout)
        except Exception as error:
            if "Open local milvus failed" not in str(error):
                raise StoreError(f"cannot open the vector store at {self.uri}: {error}") from None
            if FAILED_STARTS.pop(database, None) is None:  # not started: its lock is held
                raise IndexLockedError(folder, None) from None
            raise StoreError(
                f"Milvus Lite could not open {lite_path} (its reason is in milvus.log beside"
                f" it); `docsight forget {folder}` removes the index, the next run rebuilds it"
            ) from None

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing a store that failed to open must not mask the first error
            log.debug("closing the store failed", exc_info=True)

    def exists(self) -> bool:
        return bool(self._client.has_collection(self.collection))

    def ensure_collection(self, dim: int, analyzer: str) -> None:
        if self._client.has_collection(self.collection):
            return
        self._client.create_collection(
            self.collection, schema=self._schema(dim, analyzer), index_params=self._indexes()
        )

    def drop(self) -> None:
        if self._client.has_collection(self.collection):
            self._client.drop_collection(self.collection)

    def _schema(self, dim: int, analyzer: str) -> Any:
        m = _milvus()
        schema = m.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", m.DataType.INT64, is_primary=True)
        schema.add_field("path", m.DataType.VARCHAR, max_length=4096)
        schema.add_field("hash", m.DataType.VARCHAR, max_length=64)
        schema.add_field("start_line", m.DataType.INT64)
        schema.add_field("end_line", m.DataType.INT64)
        schema.add_field("page", m.DataType.INT64)
        schema.add_field("heading", m.DataType.VARCHAR, max_length=2048)
        schema.add_field(
            "text",
            m.DataType.VARCHAR,
            max_length=65535,
            enable_analyzer=True,
            analyzer_params={"type": analyzer},
        )
        schema.add_field("sparse", m.DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", m.DataType.FLOAT_VECTOR, dim=dim)
        schema.add_function(
            m.Function(
                name="bm25",
                function_type=m.FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        return schema

    def _indexes(self) -> Any:
        params = self._client.prepare_index_params()
        params.add_index(field_name="dense", index_type="AUTOINDEX", metric_type="IP")
        params.add_index(
            field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
        )
        return params

    # writes ----------------------------------------------------------------------------
    def insert(self, rows: Sequence[ChunkRow], vectors: Sequence[np.ndarray]) -> None:
        if not rows:
            return
        data = [_row_data(row, vector) for row, vector in zip(rows, vectors, strict=True)]
        for part in _parts(data):
            self._client.insert(self.collection, part, timeout=WRITE_TIMEOUT_S)

    def delete(self, ids: Sequence[int]) -> None:
        # Lite returns a list of ids and a server a dict; neither is needed, so neither is read.
        for part in _parts(ids):
            self._client.delete(self.collection, ids=part, timeout=WRITE_TIMEOUT_S)

    def flush(self) -> None:
        self._client.flush(self.collection)

    # reads ----------------------------------------------------------------------------
    def count(self, ids: Sequence[int] | None = None) -> int:
        """Rows in the collection (or with one of `ids`), every copy of an id counted."""
        expr = "" if ids is None else f"id in [{','.join(str(int(i)) for i in ids)}]"
        result = self._client.query(self.collection, filter=expr, output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def all_ids(self) -> set[int]:
        return {int(row["id"]) for row in self.rows(["id"])}

    def rows(self, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every row's `fields` (repair and tests compare the store with the catalog)."""
        found: list[dict[str, Any]] = []
        iterator = self._client.query_iterator(
            self.collection, batch_size=4000, filter="id >= 0", output_fields=list(fields)
        )
        while batch := iterator.next():
            found.extend(dict(row) for row in batch)
        iterator.close()
        return found

    def search(
        self, query_text: str, query_vector: np.ndarray, k: int, path_prefixes: Sequence[str]
    ) -> list[Hit]:
        expr = prefix_filter(path_prefixes)
        if not self.hybrid or not query_text.strip():
            hits = self._dense(query_vector, k, expr)
        else:
            try:
                hits = self._hybrid(query_text, query_vector, k, expr)
            except Exception as error:  # a query BM25 cannot tokenise still deserves dense hits
                log.warning("hybrid search failed (%s); dense only", error)
                hits = self._dense(query_vector, k, expr)
        # Milvus LIKE may treat "_" as a wildcard; keep only true prefix matches.
        return [hit for hit in hits if under_prefixes(hit.path, path_prefixes)]

    def _dense(self, vector: np.ndarray, k: int, expr: str) -> list[Hit]:
        result = self._client.search(
            self.collection,
            data=[vector.tolist()],
            anns_field="dense",
            limit=k,
            filter=expr,
            output_fields=OUTPUT_FIELDS,
            search_params={"metric_type": "IP"},
        )
        return [_hit(item) for item in result[0]]

    def _hybrid(self, text: str, vector: np.ndarray, k: int, expr: str) -> list[Hit]:
        m = _milvus()
        requests = [
            m.AnnSearchRequest([vector.tolist()], "dense", {"metric_type": "IP"}, k, expr=expr),
            m.AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, k, expr=expr),
        ]
        result = self._client.hybrid_search(
            self.collection,
            requests,
            ranker=m.RRFRanker(RRF_K),
            limit=k,
            output_fields=OUTPUT_FIELDS,
        )
        return [_hit(item) for item in result[0]]


def under_prefixes(path: str, prefixes: Sequence[str]) -> bool:
    clean = [p.strip().removeprefix("./") for p in prefixes if p.strip() not in ("", ".", "./")]
    return not clean or any(path.startswith(p) for p in clean)


def prefix_filter(prefixes: Sequence[str]) -> str:
    """A Milvus filter matching paths under any of the prefixes ("" when none)."""
    clean = [p.strip().removeprefix("./") for p in prefixes if p.strip() not in ("", ".", "./")]
    parts = [f'path like "{_escape(p)}%"' for p in clean]
    return " or ".join(parts)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _row_data(row: ChunkRow, vector: np.ndarray) -> dict[str, Any]:
    return {
        "id": row.id,
        "path": row.path,
        "hash": row.hash,
        "start_line": NO_NUMBER if row.start_line is None else row.start_line,
        "end_line": NO_NUMBER if row.end_line is None else row.end_line,
        "page": NO_NUMBER if row.page is None else row.page,
        "heading": _clip(row.heading, HEADING_BYTES),
        "text": row.text,
        "dense": np.asarray(vector, dtype=np.float32).tolist(),
    }


def _clip(text: str, max_bytes: int) -> str:
    """`text` cut to fit a VARCHAR field (Milvus counts bytes), never inside a character."""
    data = text.encode("utf-8")
    return text if len(data) <= max_bytes else data[:max_bytes].decode("utf-8", "ignore")


def _number(value: Any) -> int | None:
    return None if value is None or int(value) == NO_NUMBER else int(value)


def _hit(item: Any) -> Hit:
    entity = item["entity"]
    return Hit(
        path=entity["path"],
        start_line=_number(entity.get("start_line")),
        end_line=_number(entity.get("end_line")),
        page=_number(entity.get("page")),
        heading=entity.get("heading", ""),
        score=float(item["distance"]),
        text=entity.get("text", ""),
        hash=entity.get("hash", ""),
    )


def _parts(values: Sequence[T]) -> Iterator[list[T]]:
    """`values` in lists of at most WRITE_PART, one write request each."""
    for start in range(0, len(values), WRITE_PART):
        yield list(values[start : start + WRITE_PART])
