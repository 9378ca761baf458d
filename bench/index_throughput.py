"""First-index throughput of each encoder backend, torch fp32 and ONNX int8, on real
documents of mixed lengths (python3.11-doc and git-doc from Debian), in one run.

For each backend: the whole pipeline (scan, load, chunk, embed, Milvus, catalog) on a
fresh index, then one bare, length-sorted encoder pass over the same chunk texts; chunks
per CPU-second of both, and the pipeline's share of its encoder. Then the mean cosine
between the two backends' vectors, and the retrieval bench (bench/retrieval.py, its encoder
handed in) run with each backend, and with an fp32 index queried by int8 (what an
index built on one backend and searched on the other sees). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from common import copy_files, cpu_seconds, debian_corpus, emit, load_average, sample_files

from engine.chunk import embedding_text
from engine.config import EmbeddingSettings, Settings
from engine.embed import Embedder, LocalEmbedder, make_embedder
from engine.engine import Engine

BACKENDS: tuple[Literal["torch", "onnx"], ...] = ("torch", "onnx")


def corpus(into: Path, files: int) -> int:
    python_doc, git_doc = debian_corpus("python3.11-doc"), debian_corpus("git-doc")
    picked = sample_files(python_doc, files // 2, (".html",))
    copy_files(picked, python_doc, into / "python")
    more = sample_files(git_doc, files - len(picked), (".html", ".txt"))
    copy_files(more, git_doc, into / "git")
    return len(picked) + len(more)


def index_once(folder: Path, data: Path, embedder: Embedder) -> dict[str, Any]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    with Engine(folder, Settings(), data, embedder=embedder) as engine:
        report = engine.sync()
        texts = [
            embedding_text(row.as_chunk())
            for path in sorted(engine.catalog.files())
            for row in engine.catalog.chunks_of(path)
        ]
    return {
        "seconds": time.perf_counter() - wall,
        "cpu": cpu_seconds() - cpu,
        "chunks": report.chunks_embedded,
        "texts": texts,
    }


def bare_pass(embedder: Embedder, texts: list[str]) -> tuple[float, float, np.ndarray]:
    ordered = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for start in range(0, len(ordered), 64):
        picked = ordered[start : start + 64]
        vectors[picked] = embedder.embed_documents([texts[i] for i in picked])
    return time.perf_counter() - wall, cpu_seconds() - cpu, vectors


class Mixed:
    """Passages embedded by one backend, queries by the other."""

    def __init__(self, documents: Embedder, queries: Embedder) -> None:
        self.model_id, self.dim = documents.model_id, documents.dim
        self._documents, self._queries = documents, queries

    def embed_documents(self, texts: Any) -> np.ndarray:
        return self._documents.embed_documents(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._queries.embed_query(text)

    def embed_with_units(self, texts: Any, spans: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        return self._documents.embed_with_units(texts, spans)


def retrieval_with(embedder: Embedder) -> dict[str, Any]:
    """bench/retrieval.py's JSON line with `embedder` in place of the configured one
    (docs/ and git-doc, without the seed's row: it does not depend on docsight's encoder)."""
    import retrieval

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        retrieval.main(["--no-seed"], embedder)
    result: dict[str, Any] = json.loads(out.getvalue().strip().splitlines()[-1])
    return {k: v for k, v in result.items() if k not in ("bench", "machine", "model")}


def largest_change(runs_by: dict[str, dict[str, Any]]) -> float:
    """The largest move of hit@5 or MRR, any corpus, any configuration, between the torch
    run and each other run (the target: within 0.01)."""
    torch_run = runs_by["torch"]
    moves = [
        abs(row[key] - other[corpus][config][key])
        for name, other in runs_by.items()
        if name != "torch"
        for corpus, rows in torch_run.items()
        if isinstance(rows, dict)
        for config, row in rows.items()
        if isinstance(row, dict) and "mrr" in row
        for key in ("hit_at_5", "mrr")
    ]
    return round(max(moves, default=0.0), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=160, help="documents (half of each)")
    parser.add_argument("--no-retrieval", action="store_true", help="skip the retrieval runs")
    args = parser.parse_args()
    load_before = load_average()
    runs: dict[str, dict[str, Any]] = {}
    vectors: dict[str, np.ndarray] = {}
    embedders: dict[str, LocalEmbedder] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "corpus"
        files = corpus(folder, args.files)
        for backend in BACKENDS:
            embedder = make_embedder(EmbeddingSettings(backend=backend), Path(tmp))
            assert isinstance(embedder, LocalEmbedder)
            embedder.embed_documents(["warm up the encoder"])
            run = index_once(folder, Path(tmp) / f"data-{backend}", embedder)
            seconds, cpu, vectors[backend] = bare_pass(embedder, run.pop("texts"))
            run.update(bare_seconds=seconds, bare_cpu=cpu)
            runs[backend], embedders[backend] = run, embedder
    cosine = (vectors["torch"] * vectors["onnx"]).sum(axis=1)
    result: dict[str, Any] = {"bench": "index_throughput", "files": files}
    for name, run in runs.items():
        per_cpu, bare_per_cpu = run["chunks"] / run["cpu"], len(cosine) / run["bare_cpu"]
        result[name] = {
            "chunks": run["chunks"],
            "index_seconds": round(run["seconds"], 1),
            "index_chunks_per_cpu_s": round(per_cpu, 2),
            "bare_chunks_per_cpu_s": round(bare_per_cpu, 2),
            "index_chunks_per_s": round(run["chunks"] / run["seconds"], 2),
            "bare_chunks_per_s": round(len(cosine) / run["bare_seconds"], 2),
            "pipeline_to_bare_per_cpu_s": round(per_cpu / bare_per_cpu, 3),
        }
    result["onnx_to_torch_index_per_cpu_s"] = round(
        result["onnx"]["index_chunks_per_cpu_s"] / result["torch"]["index_chunks_per_cpu_s"], 3
    )
    result["onnx_to_torch_bare_per_cpu_s"] = round(
        result["onnx"]["bare_chunks_per_cpu_s"] / result["torch"]["bare_chunks_per_cpu_s"], 3
    )
    result["cosine_mean"] = round(float(cosine.mean()), 4)
    result["cosine_min"] = round(float(cosine.min()), 4)
    if not args.no_retrieval:
        runs_by = {
            "torch": retrieval_with(embedders["torch"]),
            "onnx": retrieval_with(embedders["onnx"]),
            "torch_index_onnx_queries": retrieval_with(
                Mixed(embedders["torch"], embedders["onnx"])
            ),
        }
        result["retrieval"] = runs_by
        result["retrieval_largest_change"] = largest_change(runs_by)
    result["load_average"] = f"{load_before} -> {load_average()}"
    emit(result)


if __name__ == "__main__":
    main()
