"""How long quitting the TUI takes, in a real terminal: `docsight DIR` runs in a tmux of
its own and gets ctrl+q (1) while the first index of a folder runs, once a batch is
committed, and (2) once a small folder is indexed and watched. For each: seconds until
the terminal is back (docsight left the alternate screen), until the process exited,
and whether the screen said "stopping..." meanwhile. After each quit the index is opened
afresh and must be consistent: Milvus holds exactly the catalog's rows, and every file
the catalog held at the key press is still there. Needs tmux. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import emit, load_average, median, write_corpus

from engine.catalog import Catalog
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.indexes import index_dir_for
from engine.llm_server import stop_server

DEADLINE_S = 600.0
DOCSIGHT = Path(sys.executable).with_name("docsight")
SYNCING = r"syncing [1-9]\d*/\d+ files"


class Tmux:
    def __init__(self) -> None:
        self.command = ["tmux", "-L", f"quit-bench-{os.getpid()}", "-f", "/dev/null"]

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run([*self.command, *args], capture_output=True, text=True, env=env)
        return done.stdout

    def pane(self) -> str:
        return self.run("capture-pane", "-p")

    def alternate(self) -> bool:
        return self.run("display", "-p", "#{alternate_on}").strip() == "1"


def committed_files(folder: Path, data: Path) -> set[str]:
    """What the catalog records as indexed (read-only: docsight owns the index)."""
    path = index_dir_for(folder, data) / "catalog.sqlite"
    if not path.exists():
        return set()
    catalog = Catalog(path, read_only=True)
    try:
        return set(catalog.files())
    except sqlite3.Error:
        return set()
    finally:
        catalog.close()


def quit_once(folder: Path, data: Path, ready: str) -> dict[str, Any]:
    """ctrl+q once the screen matches `ready` and something is committed."""
    tmux, marker = Tmux(), data.parent / "exited"
    marker.unlink(missing_ok=True)
    shell = f"{DOCSIGHT} {folder}; date +%s.%N > {marker}; sleep 600"
    env = {**os.environ, "DOCSIGHT_DATA_DIR": str(data), "TERM": "xterm-256color"}
    tmux.run("new-session", "-d", "-x", "120", "-y", "40", shell, env=env)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (re.search(ready, tmux.pane()) and committed_files(folder, data)):
            if time.monotonic() > deadline:
                raise SystemExit(f"never ready:\n{tmux.pane()}")
            time.sleep(0.1)
        before = committed_files(folder, data)
        started = time.time()
        tmux.run("send-keys", "C-q")
        back, stopping = None, False
        while not marker.exists() or not marker.read_text().strip():
            if back is None:
                stopping = stopping or "stopping" in tmux.pane()
                back = None if tmux.alternate() else time.time()
            time.sleep(0.02)
        exited = float(marker.read_text())
    finally:
        tmux.run("kill-server")
    return {
        "terminal_back_s": round((back or exited) - started, 2),
        "exit_s": round(exited - started, 2),
        "said_stopping": stopping,
        **consistent(folder, data, before),
    }


def consistent(folder: Path, data: Path, before: set[str]) -> dict[str, Any]:
    settings = Settings()
    with Engine(folder, settings, data, embedder=make_embedder(settings.embedding, data)) as e:
        rows, (files, chunks) = e.store.count(), e.catalog.counts()
        assert rows == chunks, f"Milvus holds {rows} rows, the catalog {chunks} chunks"
        assert before <= set(e.catalog.files()), "files committed before the quit were lost"
    return {"files_indexed": files, "chunks": chunks}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "terminal_back_s": median([r["terminal_back_s"] for r in runs]),
        "exit_s": median([r["exit_s"] for r in runs]),
        "exit_max_s": max(r["exit_s"] for r in runs),
        "said_stopping": all(r["said_stopping"] for r in runs),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200, help="the folder quit while syncing")
    parser.add_argument("--idle-files", type=int, default=10, help="the folder quit when idle")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is not installed (apt-get install tmux)")
    during, idle = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        small = root / "small"
        write_corpus(small, args.idle_files)
        for run in range(args.runs):
            data = root / f"data{run}"
            make_embedder(Settings().embedding, data)  # the one-time ONNX export, done
            folder = root / f"notes{run}"
            write_corpus(folder, args.files, seed=run)
            during.append(quit_once(folder, data, SYNCING))
            idle.append(quit_once(small, data, rf"{args.idle_files} files · \d+ chunks · watching"))
            stop_server(data)
    emit(
        {
            "bench": "quit_latency",
            "files": args.files,
            "idle_files": args.idle_files,
            "during_sync": summary(during),
            "idle": summary(idle),
            "load": load_average(),
        }
    )


if __name__ == "__main__":
    main()
