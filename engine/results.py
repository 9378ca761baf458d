"""What the engine hands back: an index's status, its files' states, lines of a file, the
sources of an answer, the model server's record and status.

Each is a frozen dataclass with one `as_json()`, the document `--json`, the MCP tools and
the owner socket carry (docs/reference/cli.md); those read back over the socket or from a
file also have `from_json()`. In the process they travel typed: the CLI prints them, the
TUI renders them, and `source_ref` is the one way a place in a file is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

FileStateKind = Literal["indexed", "pending", "failed", "ignored"]
FILE_STATES: tuple[FileStateKind, ...] = get_args(FileStateKind)


def source_ref(
    path: str, start_line: int | None, end_line: int | None, page: int | None = None
) -> str:
    """`guide/keys.md:40-58`, `guide/keys.md:40` (one line), `report.pdf p.3`, or the path
    alone when no line is known."""
    if page is not None:
        return f"{path} p.{page}"
    if start_line is None:
        return path
    if end_line is None or end_line == start_line:
        return f"{path}:{start_line}"
    return f"{path}:{start_line}-{end_line}"


def _known(cls: type[Any], document: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `cls` a JSON document holds (a newer peer may send more)."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in document.items() if key in names}


@dataclass(frozen=True)
class LeftOutFile:
    """A file an index does not hold, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class IndexStatus:
    """`docsight status --json`: how much of a folder is indexed, and who has it open."""

    indexed: bool = False  # a sync has finished at least once
    files: int = 0
    chunks: int = 0
    embedding_model: str = ""
    store_uri: str = ""
    last_sync: float | None = None  # seconds since the epoch
    failed: tuple[LeftOutFile, ...] = ()  # could not be read: a failure to fix
    ignored: int = 0
    owner_pid: int | None = None
    skipped: tuple[LeftOutFile, ...] = ()  # left out on purpose (binary, too big...)
    pending: int = 0  # files the sync in progress (or one that died) has still to index
    in_progress: bool = False  # a sync is at work on it now

    def as_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "failed": [{"path": f.path, "error": f.reason} for f in self.failed],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> IndexStatus:
        failed = tuple(LeftOutFile(f["path"], f["error"]) for f in document.get("failed", []))
        skipped = tuple(LeftOutFile(s["path"], s["reason"]) for s in document.get("skipped", []))
        return replace(cls(**_known(cls, document)), failed=failed, skipped=skipped)


@dataclass(frozen=True)
class IndexSummary:
    """One entry of `docsight indexes --json`."""

    folder: str
    files: int
    chunks: int
    bytes: int  # on disk
    last_sync: float | None
    owner_pid: int | None
    index_dir: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FileState:
    """One file of the folder and where it stands; an ignored directory ends with "/"."""

    path: str
    state: FileStateKind
    chunks: int = 0
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> FileState:
        return cls(**_known(cls, document))


@dataclass(frozen=True)
class FileLines:
    """Exact lines of a file (the MCP `read` tool): `start_line`..`end_line` of
    `total_lines`, 1-based; `pages` (first and last) for a PDF, whose lines are its
    extracted text's."""

    path: str
    start_line: int
    end_line: int
    total_lines: int
    text: str
    pages: tuple[int | None, ...] | None = None

    def as_json(self) -> dict[str, object]:
        document = asdict(self)
        if self.pages is None:
            del document["pages"]
        else:
            document["pages"] = list(self.pages)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> FileLines:
        lines = cls(**_known(cls, document))
        pages = document.get("pages")
        return replace(lines, pages=tuple(pages)) if pages is not None else lines


@dataclass(frozen=True)
class Source:
    """A passage an answer retrieved, numbered as the prompt showed it ([n]). `by` says who
    cited it: "model", "attribution" (docsight), or None for one nobody cited."""

    n: int
    path: str
    start_line: int | None
    end_line: int | None
    page: int | None = None
    by: str | None = None

    def where(self) -> str:
        return source_ref(self.path, self.start_line, self.end_line, self.page)

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Source:
        return cls(**_known(cls, document))


ServerState = Literal["starting", "loading", "ready", "failed"]


@dataclass(frozen=True)
class ServerRecord:
    """What DATA_DIR/llm/server.json says of the managed model server: written by the
    command that spawns the supervisor, then by the supervisor as the server comes up."""

    key: str  # of the plan it runs: another plan means another server
    state: ServerState
    supervisor_pid: int | None = None
    server_pid: int | None = None
    backend: str = ""
    model: str = ""
    base_url: str = ""
    port: int | None = None
    context_length: int = 0
    log: str = ""
    reason: str = ""  # why it failed
    started: float | None = None  # when it became ready

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ServerRecord | None:
        """The record, or None for a document that is not one (a torn or foreign file)."""
        if document.get("state") not in get_args(ServerState) or "key" not in document:
            return None
        try:
            return cls(**_known(cls, document))
        except TypeError:
            return None


@dataclass(frozen=True)
class ServerStatus:
    """`docsight llm status --json`: which server answers come from and whether it is up."""

    backend: str
    base_url: str | None
    model: str | None
    context_length: int
    up: bool = False
    managed_pid: int | None = None  # the supervisor docsight started, while it lives
    server_pid: int | None = None
    state: ServerState | None = None
    reason: str | None = None  # of the last failure
    log: str | None = None

    def as_json(self) -> dict[str, object]:
        return asdict(self)
