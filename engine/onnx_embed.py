"""The int8 ONNX encoder at run time: onnxruntime and tokenizers, no torch.

`OnnxEncoder.encode` takes the arguments of `SentenceTransformer.encode` that docsight
uses and returns what it returns (numpy arrays instead of tensors), so code written for a
sentence-transformers model, token embeddings included, runs on either backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.onnx_export import MODEL_FILE

DEFAULT_MAX_TOKENS = 256


class OnnxEncoder:
    """A transformer, its pooling and (when the model has one) unit length, as exported."""

    def __init__(self, folder: Path, pooling: str) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.pooling = pooling
        self.normalize = _has_normalize(folder)
        self.max_seq_length = _max_tokens(folder)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        # Idle threads that spin burn CPU another process could use (measured: ~15% more
        # chunks per CPU-second without it on 2 busy cores).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings about unused initializers are not for users
        self.session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(
        self,
        sentences: str | Sequence[str],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: str | None = "sentence_embedding",
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = False,
        **_: Any,
    ) -> Any:
        """As `SentenceTransformer.encode`: one array per text for "token_embeddings" (its
        real tokens only), a dict of every output per text for None, else a matrix."""
        single = isinstance(sentences, str)
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # less padding
        results: list[Any] = [None] * len(texts)
        for start in range(0, len(texts), batch_size):
            picked = order[start : start + batch_size]
            for i, result in zip(picked, self._batch([texts[i] for i in picked]), strict=True):
                results[i] = result
        if output_value == "sentence_embedding":
            key = "sentence_embedding"
            matrix = np.stack([r[key] for r in results]) if results else np.zeros((0, self.dim))
            if normalize_embeddings:
                matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
            return matrix[0] if single else matrix
        if output_value == "token_embeddings":
            tokens = [r["token_embeddings"][r["attention_mask"].astype(bool)] for r in results]
            return tokens[0] if single else tokens
        return results[0] if single else results

    def _batch(self, texts: list[str]) -> list[dict[str, np.ndarray]]:
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self.session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return [
            {
                "input_ids": ids[n],
                "attention_mask": mask[n],
                "token_embeddings": hidden[n],
                "sentence_embedding": pooled[n].astype(np.float32),
            }
            for n in range(len(texts))
        ]


def _has_normalize(folder: Path) -> bool:
    modules = json.loads((folder / "modules.json").read_text())
    return any(m["type"].endswith("Normalize") for m in modules)


def _max_tokens(folder: Path) -> int:
    try:
        config = json.loads((folder / "sentence_bert_config.json").read_text())
        return int(config.get("max_seq_length") or DEFAULT_MAX_TOKENS)
    except (OSError, ValueError):
        return DEFAULT_MAX_TOKENS
