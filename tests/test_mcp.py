"""`docsight mcp DIR` (issue 10) through the official SDK's stdio client: a real MCP session
against the real process, the real encoder, Milvus Lite, watcher and model. First with the
MCP server owning the index, then with `docsight watch` owning it (the MCP process is then
a client and must load no model and no Milvus). Waits are on a state, never a sleep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from engine.llm_server import stop_server
from tests.helpers import DOCSIGHT, watch_process

TIMEOUT_S = 120.0  # a ceiling on two shared cores, never a sleep
TOOLS = {"search", "read", "ask", "status"}
ASK_KEYS = {"answer", "generated", "incomplete", "reason", "citations", "sources"}
ASK_KEYS |= {"conversation_id", "model", "seconds"}  # `docsight ask --json`
ASK_KEYS |= {"quote", "sentences", "declined", "followup", "relevance", "indexing"}
HEAVY = ("torch", "sentence_transformers", "transformers", "pymilvus", "milvus_lite")
# Runs `docsight mcp DIR` and, when it ends (stdin closed, or the client's SIGTERM), writes
# which heavy modules the process had loaded.
RECORDING_SERVER = """
import atexit, json, os, signal, sys
def report(*signalled):
    with open(sys.argv[2], "w") as out:
        json.dump([name for name in {heavy!r} if name in sys.modules], out)
    if signalled:
        os._exit(0)
atexit.register(report)
signal.signal(signal.SIGTERM, report)
from tui.cli import main
sys.exit(main(["mcp", sys.argv[1]]))
"""

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not DOCSIGHT.exists(), reason="the docsight script is not installed"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(os.environ["DOCSIGHT_DATA_DIR"])  # the conftest's, which children inherit
    yield path
    stop_server(path)  # never leave a model server behind


@pytest.fixture
def folder(notes: Path, tmp_path: Path) -> Path:
    """The notes, plus what `read` must refuse: a link out of the folder, an ignored file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd.md").write_text("root:x:0:0\n")
    (notes / "link.md").symlink_to(outside / "passwd.md")
    (notes / ".gitignore").write_text("drafts/\n")
    (notes / "drafts").mkdir()
    (notes / "drafts" / "plan.md").write_text("# Plan\n\nNot for agents yet.\n")
    return notes


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DOCSIGHT_WATCH__DEBOUNCE_MS": "100",
        "DOCSIGHT_LLM__MAX_TOKENS": "48",  # enough to see a stream, short on two cores
    }


@asynccontextmanager
async def session(command: str, args: list[str], stderr: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=command, args=args, env=server_env())
    with stderr.open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            yield client


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments, read_timeout_seconds=TIMEOUT_S * 2)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    structured: dict[str, Any] = result.structured_content
    return structured


async def refusal(client: ClientSession, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error and result.structured_content is None
    text = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text and "Traceback" not in text
    return str(text)


async def settled(client: ClientSession) -> dict[str, Any]:
    """`status` once the folder is indexed and nothing is pending."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        status = await call(client, "status")
        if status["indexed"] and status["pending"] == 0:
            return status
        assert time.monotonic() < deadline, f"never settled: {status}"


async def found(client: ClientSession, query: str, path: str) -> float:
    """Seconds from now until `search` returns `path` first (the file was just saved)."""
    saved = time.monotonic()
    while True:
        hits = (await call(client, "search", query=query, k=3))["hits"]
        if hits and hits[0]["path"] == path:
            return time.monotonic() - saved
        assert time.monotonic() - saved < TIMEOUT_S, f"{path} never found: {hits}"


async def check_ask(client: ClientSession) -> None:
    pieces: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        pieces.append(message or "")

    result = await client.call_tool(
        "ask",
        {"question": "How often is the signing key rotated?"},
        read_timeout_seconds=TIMEOUT_S * 2,
        progress_callback=on_progress,
    )
    assert not result.is_error, result.content
    answer = result.structured_content
    assert answer is not None and set(answer) == ASK_KEYS
    cited = [entry["path"] for entry in answer["citations"] + answer["sources"]]
    assert "ops/keys.md" in cited and answer["answer"].strip()
    if answer["generated"]:  # the model answered: its text streamed as progress
        assert pieces and "".join(pieces).strip()
    else:
        assert answer["reason"] and not pieces


async def test_an_agent_session_against_the_owner(folder: Path, data_dir: Path) -> None:
    async with session(str(DOCSIGHT), ["mcp", str(folder)], folder.parent / "mcp.err") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool in tools.values():
            assert tool.description and len(tool.description) > 80
            assert tool.input_schema["type"] == "object"
        assert tools["search"].input_schema["required"] == ["query"]
        assert tools["read"].input_schema["required"] == ["path"]

        status = await settled(client)
        assert (status["files"], status["failed"], status["served_by"]) == (2, [], None)
        assert status["chunks"] >= 2 and status["last_sync"]

        hits = (await call(client, "search", query="how often is the signing key rotated"))["hits"]
        assert hits[0]["path"] == "ops/keys.md" and "90 days" in hits[0]["text"]
        assert hits[0]["heading"] == "Keys" and hits[0]["start_line"] == 1
        scoped = await call(client, "search", query="signing key", path_prefix="garden")
        assert {hit["path"] for hit in scoped["hits"]} == {"garden.txt"}

        lines = await call(client, "read", path="ops/keys.md", start_line=3, end_line=3)
        assert lines["text"] == "Rotate the signing key every 90 days with keyctl rotate."
        assert (lines["start_line"], lines["end_line"], lines["total_lines"]) == (3, 3, 3)
        assert "outside the folder" in await refusal(client, "read", path="../outside/passwd.md")
        assert "absolute path" in await refusal(client, "read", path=str(folder / "garden.txt"))
        assert "symlink" in await refusal(client, "read", path="link.md")
        assert "secrets" in await refusal(client, "read", path=".env")
        assert "ignored by .gitignore" in await refusal(client, "read", path="drafts/plan.md")

        resources = {str(r.uri): r for r in (await client.list_resources()).resources}
        assert set(resources) == {"docsight://garden.txt", "docsight://ops/keys.md"}
        read = await client.read_resource("docsight://ops/keys.md")
        assert read.contents[0].text == (folder / "ops" / "keys.md").read_text().rstrip("\n")  # type: ignore[union-attr]

        await check_ask(client)
        (folder / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
        await found(client, "when does the quokka enclosure open", "zoo.md")
    log = (data_dir / "docsight.log").read_text()
    assert "this process owns the index" in log  # logs go to the data dir, not stdout


@pytest.fixture
def watching(folder: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    with watch_process(folder, tmp_path / "watch.err", server_env()) as process:
        yield process


async def test_an_agent_session_through_a_running_watch(
    folder: Path, data_dir: Path, tmp_path: Path, watching: subprocess.Popen[str]
) -> None:
    loaded = tmp_path / "loaded.json"
    script = RECORDING_SERVER.format(heavy=HEAVY)
    args = ["-c", script, str(folder), str(loaded)]
    async with session(sys.executable, args, tmp_path / "mcp.err") as client:
        status = await settled(client)
        assert status["served_by"] == watching.pid and status["owner_pid"] == watching.pid
        hits = (await call(client, "search", query="when do I water the tomatoes"))["hits"]
        assert hits[0]["path"] == "garden.txt"
        lines = await call(client, "read", path="garden.txt")
        assert lines["text"] == "Water the tomatoes every evening in July."
        assert "secrets" in await refusal(client, "read", path=".env")
        assert "symlink" in await refusal(client, "read", path="link.md")
        await check_ask(client)
        (folder / "zoo.md").write_text("# Zoo\n\nThe quokka enclosure opens at nine.\n")
        await found(client, "when does the quokka enclosure open", "zoo.md")
        assert watching.poll() is None  # the owner did the indexing
    assert json.loads(loaded.read_text()) == []  # no torch, no model, no Milvus here


def test_stdout_carries_nothing_but_the_protocol(folder: Path, data_dir: Path) -> None:
    """Raw pipes, no SDK in between: every line the server writes is a JSON-RPC message,
    across the index opening, a search and an answer (model and Milvus start meanwhile)."""
    requests: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        tool_call(2, "search", {"query": "tomatoes"}),
        tool_call(3, "ask", {"question": "When do I water the tomatoes?"}),
        tool_call(4, "status", {}),
    ]
    process = subprocess.Popen(
        [str(DOCSIGHT), "mcp", str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=server_env(),
    )
    assert process.stdin is not None and process.stdout is not None
    replies: list[dict[str, Any]] = []
    for request in requests:
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        while "id" in request and not any(r.get("id") == request["id"] for r in replies):
            line = process.stdout.readline()
            assert line, "the server closed its stdout"
            replies.append(json.loads(line))  # fails on anything but JSON
    process.stdin.close()
    replies += [json.loads(line) for line in process.stdout]
    assert process.wait(TIMEOUT_S) == 0
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    results = {reply["id"]: reply["result"] for reply in replies if "id" in reply}
    assert set(results) == {1, 2, 3, 4}
    assert results[1]["serverInfo"]["name"] == "docsight"
    assert not results[3]["isError"] and "answer" in results[3]["structuredContent"]


INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "test", "version": "0"},
}


def tool_call(number: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": number,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
