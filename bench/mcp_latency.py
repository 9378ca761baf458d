"""`search` through a real MCP session (the SDK's stdio client against `docsight mcp`), with
the MCP server owning the index and as the client of a running `docsight watch`; and
save-to-found: a new file saved, then `search` polled until it comes back first.

The corpus is generated notes (about 5,000 chunks by default). Its stored vectors are
synthetic (seeded unit vectors under the bundled model's id) so it does not take many
minutes to embed on a CPU; everything measured is the real path: the bundled encoder
embeds each query and each saved file, Milvus Lite runs the hybrid search. Latencies are
round trips as the agent sees them (JSON-RPC over stdio, and the owner socket in client
mode). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from common import WORDS, emit, median, percentile, write_corpus
from mcp import ClientSession, StdioServerParameters, stdio_client

from engine.config import Settings
from engine.embed import Span, units_by_encoding
from engine.engine import Engine
from engine.models import BUNDLED_MODEL_ID

GIVE_UP_S = 120.0
POLL_S = 0.02
DOCSIGHT = Path(sys.executable).with_name("docsight")


class SeededVectors:
    """Unit vectors derived from each text's hash, under the bundled model's id: the index
    fills in seconds; queries and saved files are embedded by the real model later."""

    model_id = BUNDLED_MODEL_ID
    dim = 384

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        rows = [self.embed_query(text) for text in texts]
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)

    def embed_with_units(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return units_by_encoding(self, texts, spans)

    def embed_query(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return vector / np.linalg.norm(vector)


def fill(folder: Path, data: Path, files: int) -> int:
    """In a child process: Milvus Lite keeps a file's server up until its process exits,
    and the processes measured next must open the index themselves."""
    script = (
        "import sys; from mcp_latency import fill_here; "
        "print(fill_here(*map(__import__('pathlib').Path, sys.argv[1:3]), int(sys.argv[3])))"
    )
    argv = [sys.executable, "-c", script, str(folder), str(data), str(files)]
    done = subprocess.run(
        argv, check=True, capture_output=True, text=True, cwd=Path(__file__).parent
    )
    return int(done.stdout.strip().splitlines()[-1])


def fill_here(folder: Path, data: Path, files: int) -> int:
    write_corpus(folder, files)
    with Engine(folder, Settings(), data, embedder=SeededVectors()) as engine:
        return engine.sync().chunks_total


def environment(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCSIGHT_DATA_DIR": str(data),
        "DOCSIGHT_CONFIG": str(data / "no-config.toml"),
    }


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments, read_timeout_seconds=GIVE_UP_S)
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"{tool} failed: {result.content}")
    structured: dict[str, Any] = result.structured_content
    return structured


async def settle(client: ClientSession) -> dict[str, Any]:
    deadline = time.monotonic() + GIVE_UP_S * 5
    while time.monotonic() < deadline:
        status = await call(client, "status")
        if status["indexed"] and status["pending"] == 0:
            return status
        await anyio.sleep(0.2)
    raise SystemExit("the index never settled")


async def searches(client: ClientSession, count: int, rng: random.Random) -> list[float]:
    await call(client, "search", query="warm up the encoder")
    timings = []
    for _ in range(count):
        query = " ".join(rng.choice(WORDS) for _ in range(4))
        started = time.perf_counter()
        await call(client, "search", query=query)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def save_to_found(client: ClientSession, folder: Path, rng: random.Random) -> float:
    word = "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
    name = f"saved/{word}.md"
    path = folder / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"# {word}\n\nThe {word} procedure restarts the replica after a backup.\n")
    saved = time.perf_counter()
    while time.perf_counter() - saved < GIVE_UP_S:
        hits = (await call(client, "search", query=word, k=3))["hits"]
        if hits and hits[0]["path"] == name:
            return time.perf_counter() - saved
        await anyio.sleep(POLL_S)
    raise SystemExit(f"{name} was not found {GIVE_UP_S:.0f} s after the save")


async def measure(command: list[str], data: Path, folder: Path, args: Any) -> dict[str, Any]:
    params = StdioServerParameters(command=command[0], args=command[1:], env=environment(data))
    rng = random.Random(11)
    with (data / "mcp.stderr").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            status = await settle(client)
            timings = await searches(client, args.searches, rng)
            saves = [await save_to_found(client, folder, rng) for _ in range(args.saves)]
    return {"status": status, "searches_ms": timings, "saves_s": saves}


def start_watch(folder: Path, data: Path) -> subprocess.Popen[str]:
    """`docsight watch`, once its sweep ended; tried again while the MCP server measured
    before still lets go of the index (exit 3)."""
    for _ in range(100):
        process = subprocess.Popen(
            [str(DOCSIGHT), "watch", str(folder), "--json"],
            stdout=subprocess.PIPE,
            stderr=(data / "watch.stderr").open("a"),
            text=True,
            env=environment(data),
        )
        assert process.stdout is not None
        for line in process.stdout:
            if json.loads(line)["event"] == "synced":
                return process
        if process.wait() != 3:
            break
        time.sleep(0.2)
    raise SystemExit("docsight watch stopped before its sweep ended (see watch.stderr)")


def summary(mode: str, run: dict[str, Any]) -> dict[str, Any]:
    timings, saves = run["searches_ms"], run["saves_s"]
    return {
        f"{mode}_median_search_ms": round(median(timings), 1),
        f"{mode}_p95_search_ms": round(percentile(timings, 0.95), 1),
        f"{mode}_median_save_to_found_s": round(median(saves), 3),
        f"{mode}_p95_save_to_found_s": round(percentile(saves, 0.95), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--files", type=int, default=770, help="generated notes, about 6.5 chunks each"
    )
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--saves", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder, data = Path(tmp) / "corpus", Path(tmp) / "data"
        data.mkdir()
        chunks = fill(folder, data, args.files)
        mcp = [str(DOCSIGHT), "mcp", str(folder)]
        owner = anyio.run(measure, mcp, data, folder, args)
        watch = start_watch(folder, data)
        try:
            client = anyio.run(measure, mcp, data, folder, args)
        finally:
            watch.terminate()
            watch.wait(GIVE_UP_S)
    if client["status"]["served_by"] != watch.pid or owner["status"]["served_by"] is not None:
        raise SystemExit("the MCP server was not in the mode measured")
    emit(
        {
            "bench": "mcp_latency",
            "chunks_in_index": chunks,
            "searches": args.searches,
            "saves": args.saves,
            **summary("owner", owner),
            **summary("client", client),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    )


if __name__ == "__main__":
    main()
