"""The two local backends of the bundled model: torch fp32 and the int8 ONNX export made
from the same weights (real export, real onnxruntime, real sentence-transformers)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.config import EmbeddingSettings, Settings
from engine.embed import (
    LocalEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
    models_dir_for,
)
from engine.errors import ConfigError, DocsightError
from engine.models import BUNDLED_MODEL_ID, bundled_model_path, choose_backend
from engine.onnx_export import DONE_FILE, MODEL_FILE, STEPS, ensure_exported, export_key

# Measured on docsight's own chunks of python3.11-doc (bench/index_throughput.py): int8
# against fp32, cosine mean 0.992, min 0.98. The tolerance the index relies on to treat
# both backends as one model (no rebuild when switching) is this, with some margin.
SAME_MODEL_MEAN_COSINE = 0.98
SAME_MODEL_MIN_COSINE = 0.95

TEXTS = [
    "Rotate the signing key every 90 days with keyctl rotate.",
    "Water the tomatoes every evening in July.",
    "# Install\n\nRun make setup, then make test; the first run compiles llama.cpp.",
    "The index is rebuilt when the embedding model or the chunk settings change.",
    "A watcher follows every save and re-embeds only the chunks whose text is new. " * 6,
]


@pytest.fixture(scope="module")
def torch_embedder() -> LocalEmbedder:
    return SentenceTransformerEmbedder(BUNDLED_MODEL_ID, str(bundled_model_path()), "cpu", 32)


@pytest.fixture(scope="module")
def onnx_embedder() -> LocalEmbedder:
    embedder = make_embedder(Settings().embedding)  # auto on a CPU: the int8 export
    assert isinstance(embedder, LocalEmbedder) and embedder.backend == "onnx-int8"
    return embedder


def test_int8_vectors_stay_within_the_tolerance_of_fp32(
    torch_embedder: LocalEmbedder, onnx_embedder: LocalEmbedder
) -> None:
    fp32 = torch_embedder.embed_documents(TEXTS)
    int8 = onnx_embedder.embed_documents(TEXTS)
    assert int8.shape == fp32.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    cosine = (fp32 * int8).sum(axis=1)
    assert cosine.mean() >= SAME_MODEL_MEAN_COSINE and cosine.min() >= SAME_MODEL_MIN_COSINE
    assert onnx_embedder.model_id == torch_embedder.model_id  # one model to the index
    query = onnx_embedder.embed_query("how often is the signing key rotated")
    assert int(np.argmax(fp32 @ query)) == 0


def test_token_embeddings_through_encode_on_both_backends(
    torch_embedder: LocalEmbedder, onnx_embedder: LocalEmbedder
) -> None:
    for embedder in (torch_embedder, onnx_embedder):
        everything = embedder.model.encode(TEXTS[:2], output_value=None)
        assert len(everything) == 2
        assert {"token_embeddings", "attention_mask", "sentence_embedding"} <= set(everything[0])
        tokens = embedder.embed_tokens(TEXTS[:2])
        real = [int(np.asarray(item["attention_mask"]).sum()) for item in everything]
        assert [t.shape for t in tokens] == [(n, 384) for n in real]
    fp32 = torch_embedder.embed_tokens(TEXTS[:1])[0]
    int8 = onnx_embedder.embed_tokens(TEXTS[:1])[0]
    unit = [m / np.linalg.norm(m, axis=1, keepdims=True) for m in (fp32, int8)]
    assert (unit[0] * unit[1]).sum(axis=1).mean() >= SAME_MODEL_MEAN_COSINE


def test_the_export_is_made_once_and_again_only_when_the_model_changes(tmp_path: Path) -> None:
    source = tmp_path / "minilm"
    source.mkdir()
    for item in bundled_model_path().iterdir():  # the bundled model, linked not copied
        (source / item.name).symlink_to(item, target_is_directory=item.is_dir())
    models = tmp_path / "models"
    steps: list[tuple[int, int]] = []
    level, filters = logging.getLogger().level, list(logging.getLogger().filters)
    first = ensure_exported(source, models, lambda done, total, _: steps.append((done, total)))
    assert steps[0] == (0, len(STEPS)) and steps[-1] == (len(STEPS), len(STEPS))
    # the exporter hushes the quantizer, not the process's logging (the watcher reads it)
    assert (logging.getLogger().level, logging.getLogger().filters) == (level, filters)
    assert (first / MODEL_FILE).stat().st_size > 10_000_000
    assert json.loads((first / DONE_FILE).read_text())["fused"]  # MiniLM is a BERT: fused
    steps.clear()
    assert ensure_exported(source, models, lambda d, t, _: steps.append((d, t))) == first
    assert steps == []  # nothing to redo

    key = export_key(source)
    config = source / "config.json"
    text = config.read_text()
    config.unlink()
    config.write_text(text)  # a new model file (same content, new mtime): a new export
    assert export_key(source) != key
    second = ensure_exported(source, models, lambda d, t, _: steps.append((d, t)))
    assert second != first and steps[-1] == (len(STEPS), len(STEPS))
    assert not first.exists()  # the export of the old model is gone
    assert [p.name for p in models.iterdir() if not p.name.startswith(".")] == [second.name]


def test_backend_settings_are_checked() -> None:
    assert choose_backend(EmbeddingSettings()) == "onnx"  # a CPU, the bundled model
    assert choose_backend(EmbeddingSettings(backend="torch")) == "torch"
    with pytest.raises(ConfigError, match="embedding.backend should be auto, torch or onnx"):
        # a value the type forbids: what a config file can still hold, checked at run time
        choose_backend(EmbeddingSettings(backend="tensorrt"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a local sentence-transformers model"):
        choose_backend(EmbeddingSettings(backend="onnx", model="BAAI/bge-large-en-v1.5"))
    hub_model = EmbeddingSettings(model="BAAI/bge-large-en-v1.5")
    assert choose_backend(hub_model) == "torch"


def test_an_onnx_embedder_and_the_cuda_probe_need_no_torch(onnx_embedder: LocalEmbedder) -> None:
    """A process that finds the export made runs on onnxruntime and tokenizers alone."""
    models = models_dir_for(Settings().embedding)  # where the fixture's export lies
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from engine.embed import OnnxEmbedder\n"
        "from engine.models import BUNDLED_MODEL_ID, bundled_model_path, cuda_available\n"
        "assert cuda_available() is False  # no NVIDIA driver on these machines\n"
        f"e = OnnxEmbedder(BUNDLED_MODEL_ID, str(bundled_model_path()), Path({str(models)!r}),"
        " 8)\n"
        "assert e.embed_query('tomatoes').shape == (384,)\n"
        "print([m for m in ('torch', 'transformers', 'sentence_transformers')"
        " if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_auto_falls_back_to_torch_when_the_export_cannot_be_made(
    torch_embedder: LocalEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the models dir would be")
    embedder = make_embedder(EmbeddingSettings(onnx_dir=str(blocked)))
    assert isinstance(embedder, LocalEmbedder) and embedder.backend == "torch"
    assert "using torch" in caplog.text
    with pytest.raises(DocsightError, match="cannot run .* on ONNX"):
        make_embedder(EmbeddingSettings(backend="onnx", onnx_dir=str(blocked)))


def test_unit_vectors_agree_on_both_backends_in_a_batch_of_unlike_lengths(
    torch_embedder: LocalEmbedder, onnx_embedder: LocalEmbedder
) -> None:
    """Each sentence's vector is pooled from its own tokens, whatever the padding of the
    batch it was encoded in, and means what the sentence alone means."""
    texts = [TEXTS[0] + " " + TEXTS[1], TEXTS[4], TEXTS[3]]  # 2 units, then long, then short
    spans = [
        [(0, len(TEXTS[0])), (len(TEXTS[0]) + 1, len(texts[0]))],
        [(0, 80)],
        [(0, len(TEXTS[3]))],
    ]
    results = [e.embed_with_units(texts, spans) for e in (torch_embedder, onnx_embedder)]
    for (vectors, units), embedder in zip(results, (torch_embedder, onnx_embedder), strict=True):
        assert np.allclose(vectors, embedder.embed_documents(texts), atol=1e-4)
        assert [u.shape for u in units] == [(2, 384), (1, 384), (1, 384)]
        query = embedder.embed_query("how often is the signing key rotated")
        first, second = units[0] @ query
        assert first > second + 0.2, "the key sentence, not the tomatoes, answers"
    (_, fp32), (_, int8) = results
    for a, b in zip(fp32, int8, strict=True):
        assert (a * b).sum(axis=1).min() >= SAME_MODEL_MIN_COSINE
