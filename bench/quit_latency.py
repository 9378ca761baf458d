"""How long quitting the TUI takes: ctrl+q while the first index of a folder runs, and
ctrl+q once it is idle, on the real engine (Milvus Lite, the bundled encoder, the
watcher). The time runs from the key to the end of the event loop, threads joined, as
the process would exit; then the index is opened afresh and must be consistent (Milvus
holds exactly the catalog's rows, every file recorded as indexed kept its rows).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import emit, load_average, write_corpus

from engine.catalog import Catalog
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.indexes import index_dir_for
from engine.llm_server import stop_server
from tui.app import DocsightApp
from tui.widgets.backend import EngineBackend

DEADLINE_S = 600.0
DOCSIGHT = Path(sys.executable).with_name("docsight")


async def quit_app(app: DocsightApp, ready: Any) -> dict[str, Any]:
    """Run `app` until `ready(app)`, press ctrl+q; seconds until the app is gone."""
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + DEADLINE_S
        while not ready(app):
            if time.monotonic() > deadline:
                raise SystemExit(f"never ready: {app.index_state}")
            await pilot.pause(0.1)
        indexed_before = sum(1 for s in app.file_states.values() if s.state == "indexed")
        started = time.monotonic()
        await pilot.press("ctrl+q")
        while app.is_running:
            await pilot.pause(0.01)
        shown_at = time.monotonic() - started
    return {"started": started, "app_gone_s": shown_at, "indexed_before": indexed_before}


def run_once(folder: Path, data: Path, settings: Settings, ready: Any) -> dict[str, Any]:
    backend = EngineBackend(folder, settings, data)
    app = DocsightApp(backend, settings.tui)
    result = asyncio.run(quit_app(app, ready))
    left = [t for t in threading.enumerate() if t is not threading.main_thread()]
    for thread in left:
        if not thread.daemon:
            thread.join()
    result["exit_s"] = round(time.monotonic() - result.pop("started"), 2)
    result["app_gone_s"] = round(result["app_gone_s"], 2)
    return result


def committed(folder: Path, data: Path) -> int:
    """Files the catalog records as indexed (read-only: the app owns the index)."""
    path = index_dir_for(folder, data) / "catalog.sqlite"
    if not path.exists():
        return 0
    catalog = Catalog(path, read_only=True)
    try:
        return catalog.counts()[0]
    except sqlite3.Error:
        return 0
    finally:
        catalog.close()


def run_in_tmux(folder: Path, data: Path, ready: str, tmp: Path) -> dict[str, Any]:
    """`docsight DIR` in a tmux of its own: ctrl+q once the screen matches `ready`;
    seconds until the terminal is back (docsight left the alternate screen), until the
    process has exited, and how long the screen was blank before the terminal came back."""
    tmux = ["tmux", "-L", f"quit-bench-{os.getpid()}", "-f", "/dev/null"]
    marker = tmp / "exited"
    marker.unlink(missing_ok=True)
    command = f"{DOCSIGHT} {folder}; date +%s.%N > {marker}; sleep 600"
    env = {**os.environ, "DOCSIGHT_DATA_DIR": str(data), "TERM": "xterm-256color"}
    subprocess.run([*tmux, "new-session", "-d", "-x", "120", "-y", "40", command], env=env)
    try:
        wait_screen(tmux, lambda text: re.search(ready, text) and committed(folder, data))
        indexed_before = committed(folder, data)
        started = time.time()
        subprocess.run([*tmux, "send-keys", "C-q"])
        restored = blank = None
        stopping = False
        while not marker.exists() or not marker.read_text().strip():
            if restored is None:
                text, alternate = pane(tmux), displayed(tmux, "#{alternate_on}")
                stopping = stopping or "stopping" in text
                if alternate == "0":
                    restored = time.time()
                elif not text.strip() and blank is None:
                    blank = time.time()
            time.sleep(0.02)
        exited = float(marker.read_text())
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    restored = restored or exited
    return {
        "exit_s": round(exited - started, 2),
        "terminal_back_s": round(restored - started, 2),
        "blank_s": round(restored - blank, 2) if blank else 0.0,
        "said_stopping": stopping,
        "indexed_before": indexed_before,
    }


def displayed(tmux: list[str], what: str) -> str:
    done = subprocess.run([*tmux, "display", "-p", what], capture_output=True, text=True)
    return done.stdout.strip()


def pane(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout


def wait_screen(tmux: list[str], seen: Any) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        text = pane(tmux)
        if seen(text):
            return text
        time.sleep(0.1)
    raise SystemExit(f"never ready:\n{pane(tmux)}")


def consistent(folder: Path, data: Path, settings: Settings) -> dict[str, Any]:
    embedder = make_embedder(settings.embedding, data)
    with Engine(folder, settings, data, embedder=embedder) as engine:
        rows, catalog = engine.store.count(), engine.catalog.counts()
        return {"milvus_rows": rows, "catalog_chunks": catalog[1], "catalog_files": catalog[0]}


def syncing(app: DocsightApp) -> bool:
    """A first index under way, some of it committed."""
    indexed = sum(1 for s in app.file_states.values() if s.state == "indexed")
    return app.index_state.phase == "syncing" and app.index_state.done > 0 and indexed > 0


def idle(app: DocsightApp) -> bool:
    state = app.index_state
    return state.phase == "watching" and state.model_ready is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=300, help="the folder quit while syncing")
    parser.add_argument("--idle-files", type=int, default=10, help="the folder quit when idle")
    parser.add_argument(
        "--terminal", action="store_true", help="quit `docsight DIR` in tmux, not in-process"
    )
    args = parser.parse_args()
    settings = Settings()
    settings.watch.debounce_ms = 100
    result: dict[str, Any] = {
        "bench": "quit_latency",
        "files": args.files,
        "idle_files": args.idle_files,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder, data = Path(tmp) / "notes", Path(tmp) / "data"
        write_corpus(folder, args.files)
        if args.terminal:
            terminal(folder, data, Path(tmp), args.idle_files, result)
            return
        during = run_once(folder, data, settings, syncing)
        after = consistent(folder, data, settings)
        result["during_sync"] = {**during, **after}
        assert after["milvus_rows"] == after["catalog_chunks"], after
        assert after["catalog_files"] >= during["indexed_before"], (after, during)
        small = Path(tmp) / "small"
        write_corpus(small, args.idle_files)
        idle_run = run_once(small, data, settings, idle)
        result["idle"] = {**idle_run, **consistent(small, data, settings)}
        stop_server(data)
    result["load"] = load_average()
    emit(result)


def terminal(folder: Path, data: Path, tmp: Path, idle_files: int, result: dict[str, Any]) -> None:
    settings = Settings()
    make_embedder(settings.embedding, data)  # the encoder's one-time ONNX export, done
    during = run_in_tmux(folder, data, r"syncing [1-9]\d*/\d+ files", tmp)
    after = consistent(folder, data, settings)
    result["during_sync"] = {**during, **after}
    assert after["milvus_rows"] == after["catalog_chunks"], after
    assert after["catalog_files"] >= during["indexed_before"], (after, during)
    small = tmp / "small"
    write_corpus(small, idle_files)
    idle_run = run_in_tmux(small, data, rf"{idle_files} files · \d+ chunks · watching", tmp)
    result["idle"] = {**idle_run, **consistent(small, data, settings)}
    stop_server(data)
    result["load"] = load_average()
    emit(result)


if __name__ == "__main__":
    main()
