"""The folder's live index as a Model Context Protocol server, for coding agents.

Built on the official SDK (`mcp.server.mcpserver.MCPServer`); `docsight mcp DIR` runs it on
stdio. The tools call a `LiveIndex`: this process owns the index (sweep, then watch) when
no other docsight does, otherwise it is the owner's client and loads neither the encoder
nor Milvus. Either way a saved file is found by `search` about a second later.

The index opens in the background, so the client's handshake never waits for a model to
load; a tool called meanwhile waits for it. Blocking work runs in worker threads.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, unquote

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import Resource, ToolAnnotations
from pydantic import Field

from engine import DocsightError, IndexNotOpen, LiveIndex

log = logging.getLogger(__name__)
T = TypeVar("T")
SCHEME = "docsight://"
MAX_K = 50
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

INSTRUCTIONS = """\
docsight keeps a live index of one folder of documents (markdown, text, reStructuredText,
HTML, PDF, code): every save is indexed about a second later. Use `search` to find the
passages about a subject (hybrid: meaning and exact words), then `read` to get the exact
lines around a hit. `ask` answers a question from the folder with citations, using a local
model (slow on a CPU; prefer search + read when you can read the passages yourself).
`status` says how much is indexed and what failed. Paths are relative to the folder."""


class OpeningIndex:
    """The live index, opened in a background thread; `get()` waits until it is ready."""

    def __init__(self, index: LiveIndex) -> None:
        self.index = index
        self._ready = threading.Event()
        self._error: DocsightError | None = None

    def open(self) -> None:
        try:
            self.index.open()
            self.index.start()
        except DocsightError as error:
            self._error = error
        except Exception as error:  # every tool then says so in one line; the log has more
            log.exception("opening the index failed")
            self._error = IndexNotOpen(f"the index could not be opened: {error}")
        finally:
            self._ready.set()

    def get(self) -> LiveIndex:
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self.index


async def _blocking(call: Callable[[], T]) -> T:
    """`call` in a worker thread; a docsight error becomes the tool's one-line error."""
    try:
        return await anyio.to_thread.run_sync(call)
    except DocsightError as error:
        raise ToolError(str(error)) from None


def uri_for(path: str) -> str:
    return SCHEME + quote(path, safe="/")


class DocsightMCP(MCPServer[None]):
    """The SDK's server, with the folder's indexed files as resources (`docsight://PATH`)."""

    def __init__(self, opening: OpeningIndex) -> None:
        super().__init__(
            "docsight",
            instructions=INSTRUCTIONS,
            lifespan=lambda server: self._lifespan(),
        )
        self.opening = opening

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        threading.Thread(target=self.opening.open, name="docsight-open", daemon=True).start()
        try:
            yield None
        finally:
            await anyio.to_thread.run_sync(self.opening.index.close)

    async def index(self) -> LiveIndex:
        return await _blocking(self.opening.get)

    async def list_resources(self) -> list[Resource]:
        index = await self.index()
        files = await _blocking(index.file_states)
        return [
            Resource(
                uri=uri_for(entry.path),
                name=entry.path,
                mime_type=mimetypes.guess_type(entry.path)[0] or "text/plain",
            )
            for entry in files
            if entry.state == "indexed"
        ]

    async def read_resource(
        self, uri: Any, context: Context[None, Any] | None = None
    ) -> Iterable[ReadResourceContents]:
        text = str(uri)
        if not text.startswith(SCHEME):
            return await super().read_resource(uri, context)  # type: ignore[return-value]
        index = await self.index()
        try:
            whole = await anyio.to_thread.run_sync(read_whole, index, unquote(text[len(SCHEME) :]))
        except DocsightError as error:
            raise ResourceNotFoundError(str(error)) from None
        except OSError as error:
            raise ResourceError(f"{text}: {error}") from None
        return [ReadResourceContents(content=whole, mime_type="text/plain")]


def read_whole(index: LiveIndex, path: str) -> str:
    """A file's text through `read`, page after page (each call returns MAX_LINES)."""
    page = index.read_lines(path, 1, None)
    parts = [page.text]
    while page.end_line < page.total_lines:
        page = index.read_lines(path, page.end_line + 1, None)
        parts.append(page.text)
    return "\n".join(parts)


def build_server(index: LiveIndex) -> DocsightMCP:
    server = DocsightMCP(OpeningIndex(index))
    register_tools(server)
    return server


def register_tools(server: DocsightMCP) -> None:
    @server.tool(annotations=READ_ONLY)
    async def search(
        query: Annotated[str, Field(description="what to look for, in words or exact terms")],
        k: Annotated[
            int | None,
            Field(ge=1, le=MAX_K, description="how many hits (default: retrieval.top_k, 5)"),
        ] = None,
        path_prefix: Annotated[
            str | None, Field(description="only files under this path, e.g. 'guide/'")
        ] = None,
    ) -> dict[str, Any]:
        """Search the folder's live index (meaning and exact words, fused). Each hit is a
        chunk: path (relative to the folder), start_line and end_line (1-based, inclusive,
        as on disk; null for PDF, where page is set), heading ("Install > Linux"), score
        and text. Several hits may come from one file. Follow up with `read`."""
        index = await server.index()
        started = time.monotonic()
        prefixes = [path_prefix] if path_prefix else []
        hits = await _blocking(lambda: index.search(query, k, prefixes))
        seconds = round(time.monotonic() - started, 3)
        return {"hits": [hit.as_json() for hit in hits], "seconds": seconds}

    @server.tool(annotations=READ_ONLY)
    async def read(
        path: Annotated[str, Field(description="a file path relative to the folder")],
        start_line: Annotated[int | None, Field(ge=1, description="first line (1)")] = None,
        end_line: Annotated[int | None, Field(ge=1, description="last line, inclusive")] = None,
    ) -> dict[str, Any]:
        """Exact lines of a file of the folder, as on disk: path, start_line, end_line,
        total_lines and text (at most 2000 lines a call; page on with start_line). Only
        files docsight indexes can be read: a path outside the folder, through '..' or a
        symlink, an ignored file or a secret (.env, keys) is refused with the reason."""
        index = await server.index()
        return await _blocking(lambda: index.read_lines(path, start_line, end_line).as_json())

    @server.tool()
    async def ask(
        ctx: Context,  # the SDK finds the context by its bare class
        question: Annotated[str, Field(description="a question about the folder's documents")],
        conversation_id: Annotated[
            str | None, Field(description="continue a conversation an earlier answer began")
        ] = None,
    ) -> dict[str, Any]:
        """A cited answer from the local model over the best passages, the same JSON as
        `docsight ask --json`: answer, generated (false: no model could answer, the answer
        holds the passages and reason says why), incomplete, citations [{n, path,
        start_line, end_line, page, by}], sources (retrieved, not cited), conversation_id,
        model, seconds. The answer streams as progress notifications when asked for."""
        if not question.strip():
            raise ToolError("the question is empty")
        index = await server.index()
        return await _blocking(lambda: answer(index, question, conversation_id, ctx))

    @server.tool(annotations=READ_ONLY)
    async def status() -> dict[str, Any]:
        """The index: indexed, files, chunks, pending (files not indexed yet), failed
        [{path, error}], ignored, last_sync (Unix time), embedding_model, and served_by
        (the pid of the docsight process that owns the index, null when this one does)."""
        index = await server.index()
        return await _blocking(lambda: index_status(index))


def answer(
    index: LiveIndex, question: str, conversation_id: str | None, ctx: Context
) -> dict[str, object]:
    """Runs in a worker thread: each streamed piece goes out as a progress notification."""
    pieces = 0

    def on_token(piece: str) -> None:
        nonlocal pieces
        pieces += 1
        anyio.from_thread.run(ctx.report_progress, pieces, None, piece)

    answerer = index.answerer()
    try:
        result = answerer.ask(question, conversation_id=conversation_id, on_token=on_token)
    finally:
        answerer.close()
    return result.as_json()


def index_status(index: LiveIndex) -> dict[str, Any]:
    status = index.status().as_json()
    pending = sum(1 for entry in index.file_states() if entry.state == "pending")
    return {**status, "folder": str(index.folder), "pending": pending, "served_by": index.served_by}
