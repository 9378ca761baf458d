"""kill -9 at random points of a sync, then a rerun: does the index end equal to a fresh one?

Two kinds of trial on a generated corpus (300 files by default):
  first  a first index of the corpus, killed at a random point;
  edit   a sync of edits, deletes, renames and new files on an indexed corpus, killed at a
         random point.
Half the kills fall anywhere in the sync, half in its write phase (after the last chunk is
embedded), where Milvus and the catalog are written. The sync runs in a child process
(real Milvus Lite, the real bundled model); its whole process group, Milvus Lite's server
included, gets SIGKILL. The rerun then runs here, and the index is compared with a fresh
index of the same folder: rows, distinct ids, count(*) (Milvus shows a doubled id only
there), the (path, line range, hash) multiset, the catalog against Milvus, an empty
orphan journal, and that what was embedded before the kill was not embedded again.

    python bench/crash_campaign.py --trials 20     # prints one JSON line

`--child DATA FOLDER` is the child's side (a sync that reports its phases on stdout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import ROOT, emit, paragraph, write_corpus

from engine.catalog import Catalog
from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.engine import Engine
from engine.events import Event, SyncProgress
from engine.indexes import index_dir_for

ROW_FIELDS = ["path", "start_line", "end_line", "hash"]


# the child: one sync, its phases on stdout ---------------------------------------------------
def child(data: Path, folder: Path) -> None:
    def say(phase: str, **extra: Any) -> None:
        print(json.dumps({"phase": phase, "t": time.monotonic(), **extra}), flush=True)

    embedder = make_embedder(Settings().embedding)
    with Engine(folder, Settings(), data, embedder=embedder) as engine:
        state = {"embedded": False}

        def on_event(event: Event) -> None:
            if state["embedded"] or not isinstance(event, SyncProgress):
                return
            finished = event.phase == "embed" and event.done == event.total
            if finished or event.phase == "write":  # nothing left to embed: writes follow
                state["embedded"] = True
                say("embedded")

        say("ready")
        report = engine.sync(on_event=on_event)
        if not state["embedded"]:
            say("embedded")
        say("done", chunks_embedded=report.chunks_embedded)


def spawn(data: Path, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", str(data), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own process group: Milvus Lite's server dies with it
    )


def phases(process: subprocess.Popen[str]) -> dict[str, float]:
    """Read the child's phases until it is done (or dies); phase -> monotonic time."""
    seen: dict[str, float] = {}
    assert process.stdout is not None
    for line in process.stdout:
        message = json.loads(line)
        seen[message["phase"]] = message["t"]
    process.wait()
    return seen


def run_and_kill(
    data: Path, folder: Path, rng: random.Random, timing: dict[str, float]
) -> tuple[str, float]:
    """Start a sync in a child, SIGKILL its process group at a random point; (where, s)."""
    process = spawn(data, folder)
    assert process.stdout is not None
    in_writes = rng.random() < 0.5
    wait_for = "embedded" if in_writes else "ready"
    window = timing["write"] if in_writes else timing["sync"]
    delay = rng.uniform(0, window)
    for line in process.stdout:
        if json.loads(line)["phase"] == wait_for:
            break
    deadline = time.monotonic() + delay
    finished = False
    while time.monotonic() < deadline and not finished:
        finished = process.poll() is not None
        time.sleep(0.005)
    where = "after the sync" if process.poll() is not None else ("writes" if in_writes else "sync")
    with contextlib.suppress(ProcessLookupError):  # it may have finished meanwhile
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    return where, round(delay, 3)


# comparing --------------------------------------------------------------------------------
def state_of(engine: Engine) -> dict[str, Any]:
    rows = engine.store.rows(["id", *ROW_FIELDS])
    catalog = [
        (r.path, r.start_line, r.end_line, r.hash)
        for path in engine.catalog.files()
        for r in engine.catalog.chunks_of(path)
    ]
    store = [tuple(row[f] for f in ROW_FIELDS) for row in rows]
    none_as = [tuple(-1 if v is None else v for v in row) for row in catalog]
    return {
        "rows": len(rows),
        "count": engine.store.count(),
        "ids": len({row["id"] for row in rows}),
        "places": Counter(store),
        "catalog_matches": Counter(store) == Counter(none_as),
        "orphans": len(engine.catalog.orphans()),
    }


def differences(trial: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    found = []
    if trial["rows"] != fresh["rows"]:
        found.append(f"rows {trial['rows']} != fresh {fresh['rows']}")
    if trial["ids"] != trial["rows"] or trial["count"] != trial["rows"]:
        found.append(
            f"duplicate ids: {trial['rows']} rows, {trial['ids']} ids, count(*) {trial['count']}"
        )
    if trial["places"] != fresh["places"]:
        extra = trial["places"] - fresh["places"]
        missing = fresh["places"] - trial["places"]
        found.append(f"{sum(extra.values())} rows extra, {sum(missing.values())} missing")
    if not trial["catalog_matches"]:
        found.append("the catalog and Milvus disagree")
    if trial["orphans"]:
        found.append(f"{trial['orphans']} orphans left in the journal")
    return found


def fresh_state(folder: Path, work: Path, cache_from: Path, embedder: Embedder) -> dict[str, Any]:
    """A fresh index of `folder`, built with the trial's embedding cache (the comparison is
    of rows, not vectors; re-encoding the corpus for every trial would take minutes)."""
    data = work / f"fresh-{time.monotonic_ns()}"
    catalog_path = index_dir_for(folder, data) / "catalog.sqlite"
    catalog_path.parent.mkdir(parents=True)
    Catalog(catalog_path).close()  # an empty catalog, then the cache alone copied in
    db = sqlite3.connect(catalog_path)
    with db:
        db.execute(
            "ATTACH DATABASE ? AS old", (str(index_dir_for(folder, cache_from) / "catalog.sqlite"),)
        )
        db.execute("INSERT OR REPLACE INTO embeddings SELECT * FROM old.embeddings")
    db.close()
    with Engine(folder, Settings(), data, embedder=embedder) as engine:
        engine.sync()
        state = state_of(engine)
    shutil.rmtree(data)
    return state


def cached_hashes(data: Path, folder: Path) -> set[str]:
    """The chunk texts the trial's embedding cache holds (what a rerun must not embed)."""
    path = index_dir_for(folder, data) / "catalog.sqlite"
    if not path.exists():
        return set()
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT hash FROM embeddings")}
    except sqlite3.Error:
        return set()  # killed before the catalog had its tables
    finally:
        db.close()


# one trial ----------------------------------------------------------------------------------
def trial(
    data: Path,
    folder: Path,
    work: Path,
    rng: random.Random,
    timing: dict[str, float],
    embedder: Embedder,
) -> dict[str, Any]:
    where, delay = run_and_kill(data, folder, rng, timing)
    cached = cached_hashes(data, folder)
    with Engine(folder, Settings(), data, embedder=embedder) as engine:  # the rerun
        report = engine.sync()
        state = state_of(engine)
    found = differences(state, fresh_state(folder, work, data, embedder))
    uncached = len({place[3] for place in state["places"]} - cached)
    if report.chunks_embedded != uncached:  # embeddings made before the kill were reused
        found.append(f"the rerun embedded {report.chunks_embedded} chunks, not {uncached}")
    return {"killed": where, "after_s": delay, "differences": found}


def edit_folder(folder: Path, rng: random.Random) -> None:
    """Edits, deletes, renames (some into a new folder) and new files."""
    files = sorted(folder.rglob("*.md"))
    rng.shuffle(files)
    for path in files[:12]:
        blocks = path.read_text().split("\n\n")
        spots = [i for i, block in enumerate(blocks) if block.strip() and not block.startswith("#")]
        blocks[rng.choice(spots)] = paragraph(rng, rng.randint(2, 5))
        path.write_text("\n\n".join(blocks))
    for path in files[12:18]:
        path.unlink()
    (folder / "moved").mkdir(exist_ok=True)
    for n, path in enumerate(files[18:24]):
        path.rename(folder / "moved" / path.name if n % 2 else path.with_name(f"renamed-{n}.md"))
    for n in range(4):
        (folder / f"area{n}" / f"new-{rng.randrange(10**6)}.md").write_text(
            f"# New {n}\n\n{paragraph(rng)}\n"
        )


def timed(data: Path, folder: Path) -> dict[str, float]:
    seen = phases(spawn(data, folder))
    return {"sync": seen["done"] - seen["ready"], "write": seen["done"] - seen["embedded"]}


def campaign(args: argparse.Namespace, work: Path, embedder: Embedder) -> dict[str, Any]:
    pristine = work / "pristine"
    write_corpus(pristine, args.files, seed=args.seed, sections=1, paragraphs=2)
    folder = work / "corpus"
    results: dict[str, Any] = {}
    rng = random.Random(args.seed)

    shutil.copytree(pristine, folder)
    base = work / "base"
    first_timing = timed(base, folder)  # an unkilled first index: how long, and the base
    outcomes = []
    for n in range(args.trials):
        data = work / f"first-{n}"
        outcomes.append(trial(data, folder, work, rng, first_timing, embedder))
        shutil.rmtree(data)
    results["first"] = summary(outcomes, first_timing)

    edited = work / "edited"  # an unkilled edit sync: how long one takes
    shutil.copytree(base, edited)
    edit_folder(folder, random.Random(-1))
    edit_timing = timed(edited, folder)
    outcomes = []
    for n in range(args.trials):
        shutil.rmtree(folder)
        shutil.copytree(pristine, folder)  # copy2: the base index sees every file unchanged
        data = work / f"edit-{n}"
        shutil.copytree(base, data)
        edit_folder(folder, random.Random(rng.random()))
        outcomes.append(trial(data, folder, work, rng, edit_timing, embedder))
        shutil.rmtree(data)
    results["edit"] = summary(outcomes, edit_timing)
    return results


def summary(outcomes: list[dict[str, Any]], timing: dict[str, float]) -> dict[str, Any]:
    return {
        "trials": len(outcomes),
        "passed": sum(1 for o in outcomes if not o["differences"]),
        "killed": dict(Counter(o["killed"] for o in outcomes)),
        "sync_s": round(timing["sync"], 2),
        "write_s": round(timing["write"], 2),
        "failures": [o for o in outcomes if o["differences"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials of each kind")
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--child", nargs=2, metavar=("DATA", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    started = time.monotonic()
    embedder = make_embedder(Settings().embedding)
    with tempfile.TemporaryDirectory() as tmp:
        results = campaign(args, Path(tmp), embedder)
    emit(
        {
            "bench": "crash_campaign",
            "files": args.files,
            **results,
            "seconds": round(time.monotonic() - started, 1),
            "load": os.getloadavg()[0],
        }
    )


if __name__ == "__main__":
    main()
