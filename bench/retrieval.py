"""Retrieval quality: hit@1, hit@5, MRR, nDCG@10 and query latency, per configuration,
with the seed article's pipeline as the baseline row. Prints one JSON line.

Corpora: docs/ (docsight's own guide: markdown, rST, HTML, examples) and the git manual
as Debian's git-doc package installs it (/usr/share/doc/git-doc, 242 HTML pages;
`make bench-corpora` installs it). Questions: bench/questions/<corpus>.jsonl, written by
hand as a user would ask, each with the file and a phrase of it that answers. A hit is
relevant when it is a chunk of that file holding the phrase (whitespace collapsed), or a
chunk of a file listed in "also" holding the phrase or matching the answer's pattern.

Configurations, all on one index per corpus:
  seed          LangChain RecursiveCharacterTextSplitter 512/51 over the same loaded text,
                the same model, dense top-k in Milvus Lite (the article's pipeline)
  dense         docsight's chunks, dense only
  hybrid        dense + BM25 fused with RRF (the previous default)
  hybrid+units  hybrid, then rescored by best unit, chunk, words and names (the default)
  remote        (--remote URL) hybrid rescored by a cross-encoder at URL/v1/rerank

usage: bench/retrieval.py [--corpus docs --corpus git] [--split dev|test|all]
                          [--data DIR] [--chunk-size N] [--analyzer NAME] [--no-seed]
                          [--remote URL --remote-model NAME]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from common import emit
from corpora import corpus_folder, questions, relevant

from engine.config import Settings
from engine.embed import Embedder
from engine.engine import Engine
from engine.errors import RebuildNeeded
from engine.evaluate import scores
from engine.load import load

SEED_K = 10


def evaluate(search: Any, items: list[dict[str, Any]]) -> dict[str, float]:
    ranked, seconds = [], []
    for item in items:
        started = time.perf_counter()
        hits = search(item["question"])
        seconds.append(time.perf_counter() - started)
        ranked.append([relevant(item, path, text) for path, text in hits])
    result = scores(ranked)  # the same measures as `docsight eval`
    result["query_p50_ms"] = round(1000 * statistics.median(seconds), 1)
    return result


def docsight_rows(
    engine: Engine, items: list[dict[str, Any]], remote: str, model: str
) -> dict[str, Any]:
    base = engine.settings.retrieval
    configs: dict[str, tuple[bool, Literal["units", "remote", "none"]]] = {
        "dense": (False, "none"),
        "hybrid": (True, "none"),
        "hybrid+units": (True, "units"),
    }
    if remote:
        configs["remote"] = (True, "remote")
    rows: dict[str, Any] = {}
    for name, (hybrid, rerank) in configs.items():
        engine.store.hybrid = hybrid
        engine.retriever.settings = replace(
            base, rerank=rerank, rerank_url=remote, rerank_model=model
        )
        engine.search("warm up the encoder and the store", k=10)
        rows[name] = evaluate(lambda q: [(h.path, h.text) for h in engine.search(q, k=10)], items)
    engine.store.hybrid, engine.retriever.settings = True, base
    return rows


def seed_row(
    engine: Engine, folder: Path, items: list[dict[str, Any]], data: Path
) -> dict[str, Any]:
    """The seed article's pipeline over the text docsight loads, in its own Milvus Lite."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pymilvus import MilvusClient

    splitter = RecursiveCharacterTextSplitter(chunk_size=512, chunk_overlap=51)
    pieces: list[tuple[str, str]] = []
    for scanned in engine.scanner.scan().files:
        text = "\n".join(line.text for line in load(folder, scanned).lines)
        pieces += [(scanned.path, piece) for piece in splitter.split_text(text)]
    embedder = engine.embedder
    vectors = embedder.embed_documents([text for _, text in pieces])
    client = MilvusClient(str(data / "seed.db"))
    if client.has_collection("seed"):
        client.drop_collection("seed")
    client.create_collection("seed", dimension=embedder.dim, metric_type="IP", auto_id=True)
    rows = [
        {"vector": v.tolist(), "path": p, "text": t}
        for (p, t), v in zip(pieces, vectors, strict=True)
    ]
    for start in range(0, len(rows), 1000):
        client.insert("seed", rows[start : start + 1000])
    client.flush("seed")

    def search(question: str) -> list[tuple[str, str]]:
        found = client.search("seed", data=[embedder.embed_query(question).tolist()],
                              limit=SEED_K, output_fields=["path", "text"])  # fmt: skip
        return [(hit["entity"]["path"], hit["entity"]["text"]) for hit in found[0]]

    row = evaluate(search, items)
    row["chunks"] = len(pieces)
    client.close()
    return row


def run_corpus(
    name: str, args: argparse.Namespace, root: Path, embedder: Embedder | None = None
) -> dict[str, Any]:
    folder = corpus_folder(name, root / "corpora")
    items = questions(name, args.split)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    if args.chunk_size:  # the overlap keeps the default's proportion
        size = args.chunk_size
        settings = replace(
            settings, index=replace(settings.index, chunk_size=size, chunk_overlap=size // 10)
        )
    if args.analyzer:
        settings = replace(settings, index=replace(settings.index, bm25_analyzer=args.analyzer))
    try:
        engine = Engine(folder, settings, data, embedder=embedder)
    except RebuildNeeded:  # a kept --data dir from before a chunker change
        engine = Engine(folder, settings, data, rebuild=True, embedder=embedder)
    with engine:
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        report = engine.sync()
        index_wall, index_cpu = (
            time.perf_counter() - started_wall,
            time.process_time() - started_cpu,
        )
        result: dict[str, Any] = {
            "questions": len(items),
            "chunk_size": settings.index.chunk_size,
            "bm25_analyzer": settings.index.bm25_analyzer,
            "chunks": report.chunks_total,
            "chunks_embedded": report.chunks_embedded,
            "index_wall_s": round(index_wall, 1),
            "index_cpu_s": round(index_cpu, 1),
        }
        if not args.no_seed:
            result["seed"] = seed_row(engine, folder, items, data)
        result.update(docsight_rows(engine, items, args.remote, args.remote_model))
        result["model"] = engine.embedder.model_id
    return result


def main(argv: list[str] | None = None, embedder: Embedder | None = None) -> None:
    """`embedder`: another bench's encoder in place of the configured one
    (bench/index_throughput.py runs this with each backend)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=["docs", "git"])
    parser.add_argument("--split", default="all", choices=["dev", "test", "all"])
    parser.add_argument(
        "--data", type=Path, help="keep corpora and indexes here (reruns reuse them)"
    )
    parser.add_argument("--chunk-size", type=int, default=0, help="index.chunk_size to use")
    parser.add_argument("--analyzer", choices=["standard", "english"], help="BM25 analyzer")
    parser.add_argument("--no-seed", action="store_true", help="leave out the seed's row")
    parser.add_argument("--remote", default="", help="a /v1/rerank server to compare")
    parser.add_argument("--remote-model", default="")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"bench": "retrieval", "split": args.split}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        for name in args.corpus or ["docs", "git"]:
            result[name] = run_corpus(name, args, root, embedder)
    emit(result)


if __name__ == "__main__":
    main()
