"""Embedders: text -> unit-length float32 vectors.

The index only ever sees the `Embedder` protocol. Two kinds exist: a local
sentence-transformers model (the bundled all-MiniLM-L6-v2 by default), run by torch or as
an int8 ONNX export on onnxruntime (`embedding.backend`), and a remote OpenAI-compatible
`/v1/embeddings` server (vLLM serving an embedding model elsewhere).

Both local backends of one model count as the same model to the index: int8 vectors
stay within the measured tolerance of fp32 ones (docs/reference/configuration.md), so
switching backends needs no rebuild and the embedding cache serves either.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.config import EmbeddingSettings, default_data_dir
from engine.errors import EmbeddingUnavailable
from engine.models import (
    BUNDLED_MODEL_ID,
    bundled_model_path,
    choose_backend,
    device,
    onnx_pooling,
    resolve_model,
)
from engine.onnx_export import Progress, ensure_exported

log = logging.getLogger(__name__)

# bge v1.5 retrieves best when a short instruction precedes the query (not the passages).
QUERY_INSTRUCTIONS = {
    "bge-large-en-v1.5": "Represent this sentence for searching relevant passages: ",
    "bge-base-en-v1.5": "Represent this sentence for searching relevant passages: ",
    "bge-small-en-v1.5": "Represent this sentence for searching relevant passages: ",
}


Span = tuple[int, int]  # characters [start, end) of a text


class Embedder(Protocol):
    model_id: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_with_units(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Each text's vector (as embed_documents) and one vector per span of it."""
        ...


def units_by_encoding(
    embedder: Embedder, texts: Sequence[str], spans: Sequence[Sequence[Span]]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit vectors for an encoder that only gives whole-text vectors (a remote server):
    each span's text is encoded on its own."""
    pieces = [text[start:end] for text, own in zip(texts, spans, strict=True) for start, end in own]
    vectors = embedder.embed_documents([*texts, *pieces])
    units, cursor = [], len(texts)
    for own in spans:
        units.append(vectors[cursor : cursor + len(own)])
        cursor += len(own)
    return vectors[: len(texts)], units


def pool_spans(tokens: np.ndarray, offsets: Sequence[Span], spans: Sequence[Span]) -> np.ndarray:
    """One unit-length vector per span: the mean of the token vectors that lie inside it
    (zeros for a span whose tokens were cut off by the encoder's length limit)."""
    starts = np.array([start for start, _ in offsets])
    ends = np.array([end for _, end in offsets])
    real = ends > starts  # special tokens have empty offsets
    pooled = np.zeros((len(spans), tokens.shape[1]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (ends <= end)
        if inside.any():
            pooled[row] = tokens[inside].mean(axis=0)
    kept: np.ndarray = normalise_rows(pooled) * (np.linalg.norm(pooled, axis=1, keepdims=True) > 0)
    return kept  # rows of units with no token stay zero


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row to unit length (the seed divided the whole matrix by one norm: a bug)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return unit


@functools.lru_cache(maxsize=2)
def _load_sentence_transformer(load_from: str, device: str) -> Any:
    """One copy of a model per process, however many indexes it opens."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" bars would clutter stderr

    return SentenceTransformer(load_from, device=device)


@functools.lru_cache(maxsize=2)
def _load_onnx(folder: str, pooling: str) -> Any:
    from engine.onnx_embed import OnnxEncoder

    return OnnxEncoder(Path(folder), pooling)


class LocalEmbedder:
    """A model in this process. `model` has `SentenceTransformer.encode`'s interface on
    either backend (token embeddings: `encode(texts, output_value="token_embeddings")`)."""

    def __init__(self, model_id: str, model: Any, backend: str, batch_size: int) -> None:
        self.model_id = model_id
        self.model = model
        self.backend = backend
        self.batch_size = batch_size
        dimension = getattr(model, "get_embedding_dimension", None)
        dim = dimension() if dimension else model.get_sentence_embedding_dimension()
        self.dim = int(dim) if dim else len(self._encode(["x"])[0])
        name = model_id.rsplit("/", 1)[-1]
        self._query_prefix = QUERY_INSTRUCTIONS.get(name, "")

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise_rows(vectors)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._encode([self._query_prefix + text])[0]
        return vector

    def embed_with_units(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One encoder pass: the text's vector, and each span's vector pooled from the
        same pass's token vectors (in context, and at no extra encoder cost)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        outputs = self.model.encode(
            list(texts), batch_size=self.batch_size, output_value=None, show_progress_bar=False
        )
        vectors = normalise_rows(np.stack([_to_numpy(o["sentence_embedding"]) for o in outputs]))
        units = []
        for output, offset, own in zip(outputs, self._offsets(texts), spans, strict=True):
            length = int(_to_numpy(output["attention_mask"]).sum())
            tokens = _to_numpy(output["token_embeddings"])[:length]  # without the padding
            units.append(pool_spans(tokens, offset[:length], own))
        return vectors, units

    def _offsets(self, texts: Sequence[str]) -> list[list[Span]]:
        """Each token's characters in its text, as the encoder tokenised it (truncated)."""
        tokenizer = self.model.tokenizer
        if hasattr(tokenizer, "encode_batch"):  # a `tokenizers.Tokenizer` (the ONNX backend)
            return [list(found.offsets) for found in tokenizer.encode_batch(list(texts))]
        found = tokenizer(
            list(texts),
            return_offsets_mapping=True,
            truncation=True,
            max_length=self.model.max_seq_length,
        )
        return [list(map(tuple, offsets)) for offsets in found["offset_mapping"]]

    def embed_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token vectors (tokens x dim, not normalised), for scores finer than
        a chunk's."""
        found = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            output_value="token_embeddings",
            show_progress_bar=False,
        )
        return [_to_numpy(tokens) for tokens in found]


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().float().cpu().numpy()
    return np.asarray(array, dtype=np.float32)


def SentenceTransformerEmbedder(  # noqa: N802 - the torch backend, named as it always was
    model_id: str, load_from: str, device: str, batch_size: int
) -> LocalEmbedder:
    return LocalEmbedder(
        model_id, _load_sentence_transformer(load_from, device), "torch", batch_size
    )


def OnnxEmbedder(  # noqa: N802
    model_id: str,
    load_from: str,
    models_dir: Path,
    batch_size: int,
    progress: Progress | None = None,
) -> LocalEmbedder:
    pooling = onnx_pooling(load_from) or "mean"
    folder = ensure_exported(Path(load_from), models_dir, progress)
    return LocalEmbedder(model_id, _load_onnx(str(folder), pooling), "onnx-int8", batch_size)


class RemoteEmbedder:
    """An OpenAI-compatible /v1/embeddings server (for example vLLM with an embedding model)."""

    def __init__(self, base_url: str, model: str, batch_size: int) -> None:
        import openai

        self.model_id = model
        self.batch_size = batch_size
        key = os.environ.get("OPENAI_API_KEY", "not-needed")
        self._client = openai.OpenAI(base_url=base_url, api_key=key, timeout=60.0)
        self.dim = len(self.embed_query("dimension probe"))

    def _request(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        try:
            response = self._client.embeddings.create(model=self.model_id, input=list(texts))
        except openai.OpenAIError as error:
            raise EmbeddingUnavailable(
                f"embedding server at {self._client.base_url}: {error}"
            ) from None
        return normalise_rows(np.array([item.embedding for item in response.data]))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        batches = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        if not batches:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        return np.vstack([self._request(batch) for batch in batches])

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._request([text])[0]
        return vector

    def embed_with_units(
        self, texts: Sequence[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return units_by_encoding(self, texts, spans)


def models_dir_for(settings: EmbeddingSettings, data_dir: Path | None = None) -> Path:
    if settings.onnx_dir:
        return Path(settings.onnx_dir).expanduser()
    return (data_dir or default_data_dir()) / "models"


def make_embedder(
    settings: EmbeddingSettings,
    data_dir: Path | None = None,
    progress: Progress | None = None,
) -> Embedder:
    """Load the configured embedder. A model that cannot load on the GPU path falls back to
    the bundled CPU model with a logged one-line warning, as DESIGN.md decides. `progress`
    hears of a one-time ONNX export."""
    model_id, load_from = resolve_model(settings)
    if settings.base_url:
        return RemoteEmbedder(settings.base_url, model_id, settings.batch_size)
    if choose_backend(settings) == "onnx":
        models_dir = models_dir_for(settings, data_dir)
        try:
            return OnnxEmbedder(model_id, load_from, models_dir, settings.batch_size, progress)
        except Exception as error:
            if settings.backend == "onnx":
                raise EmbeddingUnavailable(f"cannot run {model_id!r} on ONNX: {error}") from None
            log.warning("cannot run %s on ONNX (%s); using torch", model_id, error)
    run_on = device(settings)
    return _with_fallback(
        settings,
        model_id,
        lambda: SentenceTransformerEmbedder(model_id, load_from, run_on, settings.batch_size),
    )


def _with_fallback(
    settings: EmbeddingSettings, model_id: str, load: Callable[[], LocalEmbedder]
) -> LocalEmbedder:
    try:
        return load()
    except Exception as error:
        if settings.model not in ("auto", "") or model_id == BUNDLED_MODEL_ID:
            raise EmbeddingUnavailable(
                f"cannot load embedding model {model_id!r}: {error}"
            ) from None
        log.warning("cannot load %s (%s); using the bundled %s", model_id, error, BUNDLED_MODEL_ID)
        return SentenceTransformerEmbedder(
            BUNDLED_MODEL_ID, str(bundled_model_path()), "cpu", settings.batch_size
        )
