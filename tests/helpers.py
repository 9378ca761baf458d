"""Test helpers shared by the engine, CLI and watcher tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine.config import Settings
from engine.embed import Embedder, Span
from engine.engine import Engine

REPO = Path(__file__).resolve().parent.parent


def run_cli(
    *argv: str, env: dict[str, str] | None = None, umask: int = -1, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`docsight ARGV` in its own process, as a person runs it (stdout and stderr kept)."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        umask=umask,
    )


class CountingEmbedder:
    """The real bundled model, counting every text it encodes (never a fake vector)."""

    def __init__(self, inner: Embedder, model_id: str | None = None) -> None:
        self.inner = inner
        self.model_id = model_id or inner.model_id
        self.dim = inner.dim
        self.documents = 0
        self.queries = 0

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.documents += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.queries += 1
        return self.inner.embed_query(text)

    def embed_with_units(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        self.documents += len(texts)
        return self.inner.embed_with_units(texts, spans)


def paragraph(topic: str, n: int) -> str:
    """A distinct paragraph of about 300 characters."""
    return (
        f"Paragraph {n} about {topic}. The {topic} procedure number {n} starts by checking "
        f"the state of the {topic} subsystem, then records the result in the {topic} log "
        f"with the operator's initials and the time. If step {n} fails, the operator "
        f"escalates to the {topic} owner and waits for confirmation before going on."
    )


def long_markdown(topic: str, sections: int = 4, per_section: int = 6) -> str:
    parts = [f"# {topic.title()} handbook", ""]
    for s in range(sections):
        parts += [f"## {topic.title()} section {s}", ""]
        for p in range(per_section):
            parts += [paragraph(topic, s * per_section + p), ""]
    return "\n".join(parts)


def open_engine(
    folder: Path, data_dir: Path, embedder: Embedder, settings: Settings | None = None, **kw: object
) -> Engine:
    return Engine(folder, settings or Settings(), data_dir, embedder=embedder, **kw)  # type: ignore[arg-type]


def snapshot(engine: Engine) -> list[tuple[object, ...]]:
    """What the index holds, as comparable rows (ids left out: they differ run to run)."""
    fields = ["path", "hash", "start_line", "end_line", "page", "heading", "text"]
    rows = engine.store.rows(fields)
    return sorted(tuple(row[f] for f in fields) for row in rows)


def catalog_snapshot(engine: Engine) -> list[tuple[object, ...]]:
    rows = []
    for path in engine.catalog.files():
        for r in engine.catalog.chunks_of(path):
            rows.append((r.path, r.hash, r.start_line, r.end_line, r.page, r.heading, r.text))
    return sorted(
        (p, h, -1 if s is None else s, -1 if e is None else e, -1 if pg is None else pg, hd, t)
        for p, h, s, e, pg, hd, t in rows
    )


DOCSIGHT = Path(sys.executable).with_name("docsight")  # the installed console script


@contextmanager
def watch_process(
    folder: Path, stderr: Path, env: dict[str, str], *options: str
) -> Iterator[subprocess.Popen[str]]:
    """`docsight watch DIR --json` owning the folder's index, once its sweep is done;
    stopped with Ctrl-C at the end if still running."""
    with stderr.open("w") as log:
        process = subprocess.Popen(
            [str(DOCSIGHT), "watch", str(folder), "--json", *options],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if json.loads(line)["event"] == "synced":
                    break
            assert process.poll() is None, stderr.read_text()
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(2)  # SIGINT: a clean stop
            process.wait(120)
