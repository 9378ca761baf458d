"""docsight beside the seed article's pipeline (shared/seeds/milvus_rag_with_vllm.md), on
the same third-party manual (python3.11-doc's HTML pages, from Debian), in one run.

The seed: every *.html loaded to text (BeautifulSoup's get_text, what LangChain's
BSHTMLLoader does; its DirectoryLoader default needs `unstructured`, which is not
installed), RecursiveCharacterTextSplitter(512, 51), the same all-MiniLM-L6-v2 through
sentence-transformers (torch, `encode` of the whole list), one Milvus Lite collection with
AUTOINDEX and its inserts. docsight: `docsight index` with its defaults, limited to the
same *.html files. Each runs in its own process, so CPU-seconds (Milvus Lite's server
included) and peak RSS are its own. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, copy_files, cpu_seconds, debian_corpus, emit, load_average, sample_files


def size_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def seed(folder: Path, data: Path) -> int:
    """The notebook's steps, on CPU, with the bundled model instead of bge-large."""
    import numpy as np
    from bs4 import BeautifulSoup
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pymilvus import MilvusClient
    from sentence_transformers import SentenceTransformer

    from engine.models import bundled_model_path

    docs = []
    for path in sorted(folder.rglob("*.html")):
        soup = BeautifulSoup(path.read_text(errors="replace"), "html.parser")
        docs.append(Document(page_content=soup.get_text(""), metadata={"source": str(path)}))
    splitter = RecursiveCharacterTextSplitter(chunk_size=512, chunk_overlap=51)
    chunks = splitter.split_documents(docs)
    encoder = SentenceTransformer(str(bundled_model_path()), device="cpu")
    strings = [doc.page_content for doc in chunks]
    embeddings = encoder.encode(strings)
    embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    rows = [
        {"chunk": c.page_content, "source": c.metadata["source"], "vector": v.astype(np.float32)}
        for c, v in zip(chunks, embeddings, strict=True)
    ]
    data.mkdir(parents=True)
    client = MilvusClient(str(data / "milvus_demo.db"))
    client.create_collection(
        "MilvusDocs", encoder.get_sentence_embedding_dimension(), auto_id=True, overwrite=True
    )
    for start in range(0, len(rows), 5000):  # one call in the notebook; gRPC caps a message
        client.insert("MilvusDocs", data=rows[start : start + 5000])
    client.flush("MilvusDocs")
    client.close()
    return len(chunks)


def docsight(folder: Path, data: Path) -> int:
    from engine.config import Settings
    from engine.engine import Engine

    settings = Settings()
    settings.index.include = ["*.html"]
    settings.embedding.onnx_dir = os.environ.get("BENCH_MODELS_DIR", "")
    with Engine(folder, settings, data) as engine:
        return engine.sync().chunks_total


def child(which: str, folder: Path, data: Path) -> None:
    """One pipeline in this process; its measurements as JSON on stdout."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    chunks = {"seed": seed, "docsight": docsight}[which](folder, data)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    server = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {
        "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s": round(cpu_seconds() - cpu, 1),
        "chunks": chunks,
        "peak_rss_mb": round(own / 1024),
        "milvus_peak_rss_mb": round(server / 1024),
        "disk_mb": round(size_on_disk(data) / 1e6, 1),
    }
    print(json.dumps(result))


def run(which: str, folder: Path, data: Path, models: Path) -> dict[str, Any]:
    env = {**os.environ, "DOCSIGHT_DATA_DIR": str(data), "BENCH_MODELS_DIR": str(models)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(folder), str(data)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {which} pipeline failed: {done.stderr.strip()[-500:]}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    measured["chunks_per_cpu_s"] = round(measured["chunks"] / measured["cpu_s"], 2)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=0, help="HTML pages (0: all 530)")
    parser.add_argument("--child", nargs=3, metavar=("WHICH", "FOLDER", "DATA"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    try:
        import bs4  # noqa: F401
    except ImportError:
        sys.exit("beautifulsoup4 is missing: run `make bench-corpora`")
    from engine.config import EmbeddingSettings
    from engine.embed import make_embedder

    manual = debian_corpus("python3.11-doc")
    load_before = load_average()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "manual"
        pages = sample_files(manual, args.files, (".html",))
        copy_files(pages, manual, folder)
        models = tmp / "models"  # the ONNX export is made once per machine, not per index
        make_embedder(EmbeddingSettings(onnx_dir=str(models)))
        result: dict[str, Any] = {"bench": "seed_side_by_side", "files": len(pages)}
        result["seed"] = run("seed", folder, tmp / "seed", models)
        result["docsight"] = run("docsight", folder, tmp / "docsight", models)
    seed_run, ours = result["seed"], result["docsight"]
    # the same pages: how many times fewer CPU-seconds docsight spends on the whole manual
    result["seed_cpu_over_docsight_cpu"] = round(seed_run["cpu_s"] / ours["cpu_s"], 3)
    result["docsight_chunks_per_cpu_s_over_seed"] = round(
        ours["chunks_per_cpu_s"] / seed_run["chunks_per_cpu_s"], 3
    )
    result["load_average"] = f"{load_before} -> {load_average()}"
    emit(result)


if __name__ == "__main__":
    main()
