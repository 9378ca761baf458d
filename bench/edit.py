"""50 random one-paragraph edits on an indexed corpus: chunks embedded and seconds per edit.

Each edit replaces one paragraph of one file with new text, then syncs. An incremental
index should embed one or two chunks per edit, whatever the file's length.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import emit, median, paragraph, write_corpus

from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine


def edit_one(rng: random.Random, path: Path) -> None:
    blocks = path.read_text().split("\n\n")
    candidates = [i for i, b in enumerate(blocks) if b.strip() and not b.startswith("#")]
    target = rng.choice(candidates)
    blocks[target] = paragraph(rng, rng.randint(2, 6))
    path.write_text("\n\n".join(blocks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--edits", type=int, default=50)
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedding)
    rng = random.Random(11)
    embedded: list[float] = []
    seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        # long files (6 sections x 5 paragraphs): an edit anywhere must stay local
        write_corpus(folder, args.files, sections=6, paragraphs=5)
        files = sorted(folder.rglob("*.md"))
        with Engine(folder, settings, Path(tmp) / "data", embedder=embedder) as engine:
            total = engine.sync().chunks_total
            for _ in range(args.edits):
                edit_one(rng, rng.choice(files))
                started = time.perf_counter()
                report = engine.sync()
                seconds.append(time.perf_counter() - started)
                embedded.append(report.chunks_embedded)
    emit(
        {
            "bench": "edit",
            "files": args.files,
            "chunks_in_index": total,
            "edits": args.edits,
            "median_chunks_embedded": median(embedded),
            "max_chunks_embedded": max(embedded),
            "median_seconds_per_edit": round(median(seconds), 3),
        }
    )


if __name__ == "__main__":
    main()
