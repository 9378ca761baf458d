"""A search, end to end: embed the query, fetch fused candidates, rescore them.

The store's hybrid search finds `retrieval.candidates` chunks; engine/rerank.py ranks them
again with vectors the catalog already holds (chunk and unit vectors are written at index
time, so rescoring costs a few dot products and one SQLite read, not an encoder pass).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

from engine.catalog import Catalog
from engine.config import RetrievalSettings
from engine.embed import Embedder
from engine.errors import RerankUnavailable
from engine.rerank import CrossScore, rescore
from engine.store import VectorStore
from engine.types import Chunk, Hit

log = logging.getLogger(__name__)
RERANK_TIMEOUT_S = 30.0


class Retriever:
    def __init__(
        self,
        store: VectorStore,
        catalog_path: Path,
        embedder: Callable[[], Embedder],
        settings: RetrievalSettings,
    ) -> None:
        self.store = store
        self.catalog_path = catalog_path
        self._embedder = embedder
        self.settings = settings
        self._local = threading.local()  # one read-only catalog connection per thread
        self._readers: list[Catalog] = []
        self._readers_lock = threading.Lock()

    def search(self, query: str, k: int | None, path_prefixes: Sequence[str]) -> list[Hit]:
        if not query.strip() or not self.store.exists():
            return []
        embedder = self._embedder()
        vector = embedder.embed_query(query)
        limit = max(1, k or self.settings.top_k)
        pool = max(limit, self.settings.candidates)
        candidates = self.store.search(query, vector, pool, list(path_prefixes))
        if self.settings.rerank == "none":
            return distinct(candidates)[:limit]

        def vectors(hits: list[Hit]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
            return self._vectors(embedder, hits)

        cross = self._cross() if self.settings.rerank == "remote" else None
        try:
            ranked = rescore(query, vector, candidates, vectors, cross=cross)
        except RerankUnavailable as error:
            log.warning("%s; rescoring with the local encoder", error)
            ranked = rescore(query, vector, candidates, vectors)
        return distinct(ranked)[:limit]

    def _catalog(self) -> Catalog:
        catalog = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = Catalog(self.catalog_path, read_only=True)
            self._local.catalog = catalog
            with self._readers_lock:
                self._readers.append(catalog)
        return catalog

    def _vectors(
        self, embedder: Embedder, hits: list[Hit]
    ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Chunk and unit vectors of the hits; units the cache lacks (an index made before
        units existed, a new splitter) are computed now and cached for the next time."""
        found = self._catalog().vectors_and_units(embedder.model_id, [h.hash for h in hits])
        lacking = {h.hash: h for h in hits if found.get(h.hash, (None, None))[1] is None}
        if lacking:
            from engine.sync import encode_chunks  # sync imports this module's neighbours

            chunks = [Chunk(h.text, None, None, None, h.heading, h.hash) for h in lacking.values()]
            vectors, units = encode_chunks(embedder, chunks)
            writer = Catalog(self.catalog_path)
            try:
                writer.cache_units(embedder.model_id, units)
            finally:
                writer.close()
            for chunk_hash, unit_vectors in units.items():
                own = found.get(chunk_hash, (vectors[chunk_hash], None))[0]
                found[chunk_hash] = (own, unit_vectors)
        return found

    def _cross(self) -> CrossScore | None:
        if not self.settings.rerank_url:
            log.warning("retrieval.rerank is remote but rerank_url is empty; rescoring locally")
            return None
        return remote_cross_encoder(self.settings.rerank_url, self.settings.rerank_model)

    def close(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for catalog in readers:
            catalog.close()


def distinct(hits: Sequence[Hit]) -> list[Hit]:
    """One hit per passage. Manuals repeat whole sections word for word (git-log and
    git-rev-list share PRETTY FORMATS, git.html is index.html), and five copies of one
    passage would fill the first five places: a text is kept once, at its best rank, with
    the other files that hold it in `also_in`. Measured on bench/retrieval.py's git set:
    hit@5 0.717 -> 0.75."""
    kept: dict[str, Hit] = {}
    for hit in hits:
        key = " ".join(hit.text.split())
        first = kept.get(key)
        if first is None:
            kept[key] = hit
        elif hit.path != first.path and hit.path not in first.also_in:
            kept[key] = replace(first, also_in=(*first.also_in, hit.path))
    return list(kept.values())


def remote_cross_encoder(base_url: str, model: str) -> CrossScore:
    """A cross-encoder behind vLLM's /v1/rerank (the Jina/Cohere request shape): one
    relevance per document, in the documents' order."""
    url = base_url.rstrip("/")
    url = url if url.endswith("/v1") else f"{url}/v1"

    def score(query: str, documents: list[str]) -> list[float]:
        body = {"model": model, "query": query, "documents": documents}
        response = httpx.post(f"{url}/rerank", json=body, timeout=RERANK_TIMEOUT_S)
        response.raise_for_status()
        scores = [0.0] * len(documents)
        for result in response.json()["results"]:
            scores[int(result["index"])] = float(result["relevance_score"])
        return scores

    def guarded(query: str, documents: list[str]) -> list[float]:
        try:
            return score(query, documents)
        except (httpx.HTTPError, KeyError, ValueError) as error:
            raise RerankUnavailable(f"the reranker at {url} failed: {error}") from None

    return guarded
