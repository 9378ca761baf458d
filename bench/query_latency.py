"""Search latency, query embedding included, at 10,000 and 100,000 chunks.

The stored rows are synthetic (random unit vectors, generated text) so the corpus does not
take hours to embed on a CPU; the query path is the real one: the bundled encoder embeds
the query, Milvus Lite runs the hybrid (dense + BM25, RRF) search. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from common import WORDS, emit, median, paragraph, percentile

from engine.catalog import ChunkRow
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine


def fill(engine: Engine, rows: int, dim: int, start_id: int, seed: int) -> None:
    rng = random.Random(seed)
    generator = np.random.default_rng(seed)
    batch = 5000
    for first in range(start_id, start_id + rows, batch):
        count = min(batch, start_id + rows - first)
        chunk_rows = [
            ChunkRow(
                first + i,
                f"area{(first + i) % 50}/note{(first + i) // 7}.md",
                0,
                f"h{first + i}",
                1,
                9,
                None,
                "Section",
                paragraph(rng, 3),
            )
            for i in range(count)
        ]
        vectors = generator.standard_normal((count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        engine.store.insert(chunk_rows, list(vectors))
    engine.store.flush()


def measure(engine: Engine, queries: list[str], hybrid: bool) -> list[float]:
    engine.store.hybrid = hybrid
    timings = []
    for query in queries:
        started = time.perf_counter()
        engine.search(query, k=5)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    settings = Settings()
    embedder = make_embedder(settings.embedding)
    rng = random.Random(3)
    queries = [" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(args.queries)]
    result: dict[str, object] = {"bench": "query_latency", "queries": args.queries, "top_k": 5}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "empty"
        folder.mkdir()
        with Engine(folder, settings, Path(tmp) / "data", embedder=embedder) as engine:
            engine.store.ensure_collection(embedder.dim, settings.index.bm25_analyzer)
            have = 0
            for size in (int(s) for s in args.sizes.split(",")):
                fill(engine, size - have, embedder.dim, have + 1, seed=size)
                have = size
                measure(engine, queries[:3], True)  # warm-up
                for mode, hybrid in (("hybrid", True), ("dense", False)):
                    timings = measure(engine, queries, hybrid)
                    result[f"{mode}_{size}_median_ms"] = round(median(timings), 1)
                    result[f"{mode}_{size}_p95_ms"] = round(percentile(timings, 0.95), 1)
    emit(result)


if __name__ == "__main__":
    main()
