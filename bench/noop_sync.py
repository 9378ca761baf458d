"""A sync of 10,000 small indexed files when nothing changed.

A restart must not cost a re-index: an unchanged folder costs one stat() per file and a
catalog lookup. The files repeat 100 distinct texts so the encoder runs only 100 times
while building the index (the embedding cache serves the rest). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import emit, median, paragraph

from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedding)
    rng = random.Random(5)
    texts = [paragraph(rng, 2) for _ in range(100)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "many"
        for i in range(args.files):
            path = folder / f"d{i % 100:02d}" / f"f{i:05d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{texts[i % 100]}\n")
        data = Path(tmp) / "data"
        time.sleep(2.5)  # files older than the racy-timestamp window, as notes usually are
        started = time.perf_counter()
        with Engine(folder, settings, data, embedder=embedder) as engine:
            build = engine.sync()
        build_seconds = time.perf_counter() - started
        timings = []
        for _ in range(args.runs):
            with Engine(folder, settings, data, embedder=embedder) as engine:  # a restart
                started = time.perf_counter()
                report = engine.sync()
                timings.append(time.perf_counter() - started)
                assert report.chunks_embedded == 0 and report.files_changed == 0
    emit(
        {
            "bench": "noop_sync",
            "files": args.files,
            "build_seconds": round(build_seconds, 1),
            "build_chunks_embedded": build.chunks_embedded,
            "noop_sync_median_s": round(median(timings), 3),
            "noop_sync_max_s": round(max(timings), 3),
            "runs": args.runs,
        }
    )


if __name__ == "__main__":
    main()
