"""A first index of a 1,000-file manual (python3.11-doc from Debian): how soon is it
usable, and does a kill at a random point during it lose anything?

1. `docsight watch DIR` (the owner, as the TUI would be) sweeps the folder while this
   script asks it for status and searches over its socket: seconds from the start until
   the first file is searchable, and until half of the files are.
2. `docsight index DIR` on a smaller sample, killed (SIGKILL) at random points, then run
   again: each index must equal a fresh one (same rows in Milvus and in the catalog, no
   orphans), and embeddings made before the kill are reused.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import copy_files, debian_corpus, emit, load_average, sample_files

from engine.client import connect
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.indexes import index_dir_for
from engine.results import IndexStatus

DOCSIGHT = Path(sys.executable).with_name("docsight")
ROW_FIELDS = ["path", "hash", "start_line", "end_line", "page", "heading", "text"]


def env_for(data: Path, models: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DOCSIGHT_DATA_DIR": str(data),
        "DOCSIGHT_EMBEDDING__ONNX_DIR": str(models),
    }


def time_to_usable(folder: Path, data: Path, models: Path) -> dict[str, Any]:
    started = time.monotonic()
    watch = subprocess.Popen(
        [str(DOCSIGHT), "watch", str(folder), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env_for(data, models),
    )
    index_dir = index_dir_for(folder, data)
    first = half = None
    status: IndexStatus | None = None
    try:
        while half is None and watch.poll() is None:
            time.sleep(0.25)
            client = connect(index_dir)
            if client is None:
                continue
            try:
                status = client.status()
                if first is None and status.files and client.search("the", 1, []):
                    first = time.monotonic() - started
                    print(f"first file searchable after {first:.1f} s", file=sys.stderr)
                total = status.files + status.pending
                if status.files and status.files * 2 >= total:
                    half = time.monotonic() - started
            finally:
                client.close()
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(120)
    return {
        "seconds_to_first_searchable": round(first, 1) if first else None,
        "seconds_to_half_indexed": round(half, 1) if half else None,
        "files_at_half": status.files if status else None,
        "files_pending_at_half": status.pending if status else None,
        "chunks_at_half": status.chunks if status else None,
    }


def index(folder: Path, data: Path, models: Path) -> dict[str, Any]:
    done = subprocess.run(
        [str(DOCSIGHT), "index", str(folder), "--json"],
        capture_output=True,
        text=True,
        env=env_for(data, models),
        timeout=7200,
    )
    if done.returncode != 0:
        raise SystemExit(f"docsight index failed: {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def contents(folder: Path, data: Path) -> tuple[list[Any], list[Any], int]:
    """(Milvus rows, catalog rows, orphans) of an index, ids left out."""
    embedder = make_embedder(Settings().embedding, data)
    with Engine(folder, Settings(), data, embedder=embedder) as engine:
        rows = sorted(
            tuple(str(row[f]) for f in ROW_FIELDS) for row in engine.store.rows(ROW_FIELDS)
        )
        catalog = sorted(
            (r.path, r.hash, str(r.start_line), str(r.end_line), str(r.page), r.heading, r.text)
            for path in engine.catalog.files()
            for r in engine.catalog.chunks_of(path)
        )
        return rows, catalog, len(engine.catalog.orphans())


def kill_trials(folder: Path, tmp: Path, models: Path, trials: int) -> dict[str, Any]:
    started = time.monotonic()
    fresh_report = index(folder, tmp / "fresh", models)
    fresh_seconds = time.monotonic() - started
    fresh_rows, fresh_catalog, _ = contents(folder, tmp / "fresh")
    rng = random.Random(11)
    outcomes = []
    for trial in range(trials):
        data = tmp / f"killed-{trial}"
        after = rng.uniform(1.0, 0.9 * fresh_seconds)
        proc = subprocess.Popen(
            [str(DOCSIGHT), "index", str(folder), "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env_for(data, models),
        )
        time.sleep(after)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rerun = index(folder, data, models)
        rows, catalog, orphans = contents(folder, data)
        outcomes.append(
            {
                "killed_after_s": round(after, 1),
                "files_before_kill": rerun["files_scanned"] - rerun["files_added"],
                "chunks_embedded_after": rerun["chunks_embedded"],
                "equal_to_fresh": rows == fresh_rows and catalog == fresh_catalog,
                "orphans": orphans,
            }
        )
    return {
        "kill_files": fresh_report["files_scanned"],
        "kill_chunks": fresh_report["chunks_total"],
        "kills": outcomes,
        "all_equal_to_fresh": all(o["equal_to_fresh"] and not o["orphans"] for o in outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000, help="files for the timing run")
    parser.add_argument("--kills", type=int, default=3, help="kill trials")
    parser.add_argument("--kill-files", type=int, default=60, help="files for each kill trial")
    args = parser.parse_args()
    manual = debian_corpus("python3.11-doc")
    load_before = load_average()
    result: dict[str, Any] = {"bench": "first_index"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        models = tmp / "models"
        make_embedder(Settings().embedding, tmp)  # the one-time export, not timed
        folder = tmp / "manual"
        copy_files(sample_files(manual, args.files, (".html", ".txt")), manual, folder)
        result["files"] = sum(1 for p in folder.rglob("*") if p.is_file())
        result.update(time_to_usable(folder, tmp / "timing", models))
        if args.kills:
            small = tmp / "small"
            copy_files(sample_files(manual, args.kill_files, (".html",)), manual, small)
            result.update(kill_trials(small, tmp, models, args.kills))
    result["load_average"] = f"{load_before} -> {load_average()}"
    emit(result)


if __name__ == "__main__":
    main()
