"""Index a generated corpus and encode the same chunks with the bare model, in one run.

The encoder bounds initial indexing on a CPU (DESIGN.md); this shows how close the whole
pipeline (scan, load, chunk, cache, Milvus, catalog) comes to the encoder alone.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import emit, write_corpus

from engine.chunk import embedding_text
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=240, help="generated markdown files")
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedding)
    embedder.embed_documents(["warm up the encoder"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        write_corpus(folder, args.files)
        with Engine(folder, settings, Path(tmp) / "data", embedder=embedder) as engine:
            started = time.perf_counter()
            report = engine.sync()
            index_seconds = time.perf_counter() - started
            texts = [
                embedding_text(row.as_chunk())
                for path in engine.catalog.files()
                for row in engine.catalog.chunks_of(path)
            ]
    started = time.perf_counter()
    embedder.embed_documents(texts)
    bare_seconds = time.perf_counter() - started
    index_rate = report.chunks_embedded / index_seconds
    bare_rate = len(texts) / bare_seconds
    emit(
        {
            "bench": "index_throughput",
            "files": report.files_added,
            "chunks": report.chunks_total,
            "index_chunks_per_s": round(index_rate, 1),
            "bare_model_chunks_per_s": round(bare_rate, 1),
            "ratio_index_to_bare": round(index_rate / bare_rate, 3),
            "index_seconds": round(index_seconds, 1),
            "model": embedder.model_id,
            "batch_size": settings.embedding.batch_size,
        }
    )


if __name__ == "__main__":
    main()
