"""Save-to-searchable latency of the live index, and a search from a second process.

The engine watches an indexed corpus (docs/ plus generated notes). Each of `--edits`
saves rewrites one paragraph of one note so that it holds a new nonsense word, then polls
the engine's own search (in this process) until that word's chunk comes back. Saves are
plain in-place writes; `--replace-edits` more saves go through a temp file renamed over
the original, the way many editors save. Then `docsight search` runs `--searches` times as
a second process, served by this one. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, median, paragraph, percentile, write_corpus

from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.serve import OwnerServer
from engine.watch import Watcher

POLL_S = 0.02
GIVE_UP_S = 60.0


def nonsense(rng: random.Random) -> str:
    return "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(8))


def edit(rng: random.Random, path: Path, word: str, replace: bool) -> None:
    """Rewrite one paragraph of `path` so that it holds `word`; saved in place or not."""
    blocks = path.read_text().split("\n\n")
    candidates = [i for i, b in enumerate(blocks) if b.strip() and not b.startswith("#")]
    blocks[rng.choice(candidates)] = f"{paragraph(rng, 3)} The {word} step comes last."
    text = "\n\n".join(blocks)
    if not replace:
        path.write_text(text)
        return
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def searchable(engine: Engine, word: str, rel: str) -> bool:
    return any(word in hit.text for hit in engine.search(word, 10, [rel]))


def save_to_searchable(
    engine: Engine, watcher: Watcher, folder: Path, rng: random.Random, replace: bool
) -> float:
    path = rng.choice(sorted(folder.glob("area*/*.md")))
    rel = path.relative_to(folder).as_posix()
    word = nonsense(rng)
    edit(rng, path, word, replace)
    saved = time.perf_counter()
    while not searchable(engine, word, rel):
        if time.perf_counter() - saved > GIVE_UP_S:
            raise SystemExit(f"{rel} was not searchable {GIVE_UP_S:.0f} s after the save")
        time.sleep(POLL_S)
    seconds = time.perf_counter() - saved
    watcher.wait_idle(GIVE_UP_S)  # the next save starts from a quiet watcher
    return seconds


def second_process_searches(folder: Path, data: Path, runs: int) -> list[tuple[float, float]]:
    """(wall seconds of the process, seconds it reports for the search itself) per run."""
    script = Path(sys.executable).with_name("docsight")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]
    env = {**os.environ, "DOCSIGHT_CONFIG": str(data / "no-config.toml")}
    argv = [*command, "search", str(folder), "rotate the signing key", "--json"]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [*argv, "--data-dir", str(data)], check=True, env=env, capture_output=True
        )
        seconds.append((time.perf_counter() - started, json.loads(done.stdout)["seconds"]))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40, help="generated notes beside docs/")
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--replace-edits", type=int, default=10)
    parser.add_argument("--searches", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as tmp:
        folder, data = Path(tmp) / "corpus", Path(tmp) / "data"
        shutil.copytree(ROOT / "docs", folder)
        write_corpus(folder, args.files, sections=4, paragraphs=4)
        files = sum(1 for p in folder.rglob("*") if p.is_file())
        embedder = make_embedder(settings.embedding)
        with Engine(folder, settings, data, embedder=embedder) as engine:
            chunks = engine.sync().chunks_total
            watcher = Watcher(engine)
            server = OwnerServer(engine)
            server.start()
            watcher.start(sweep=True)
            watcher.wait_idle(GIVE_UP_S)
            try:
                writes = [
                    save_to_searchable(engine, watcher, folder, rng, False)
                    for _ in range(args.edits)
                ]
                replaces = [
                    save_to_searchable(engine, watcher, folder, rng, True)
                    for _ in range(args.replace_edits)
                ]
                searches = second_process_searches(folder, data, args.searches)
            finally:
                watcher.stop()
                server.stop()
    emit(
        {
            "bench": "watch_latency",
            "files": files,
            "chunks_in_index": chunks,
            "debounce_ms": round(watcher.debounce * 1000),
            "edits": len(writes),
            "median_save_to_searchable_s": round(median(writes), 3),
            "p95_save_to_searchable_s": round(percentile(writes, 0.95), 3),
            "replace_edits": len(replaces),
            "median_replace_save_to_searchable_s": round(median(replaces), 3) if replaces else None,
            "second_process_searches": len(searches),
            "median_second_process_search_s": round(median([s[0] for s in searches]), 3),
            "median_served_search_s": round(median([s[1] for s in searches]), 3),
        }
    )


if __name__ == "__main__":
    main()
