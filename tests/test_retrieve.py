"""Rescoring the hybrid search's candidates: by the engine's own units and features, or
by a cross-encoder behind vLLM's /v1/rerank (a CPU stand-in speaking the same protocol,
tests/stand_ins/rerank.py), falling back to the local features when that server fails.
Real Milvus Lite and the real bundled model."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal

import pytest

from engine.config import Settings
from engine.embed import Embedder, make_embedder
from engine.engine import Engine
from tests.helpers import open_engine
from tests.stand_ins.rerank import RerankStandIn

MODEL = "BAAI/bge-reranker-base"
QUESTION = "how often is the signing key rotated?"


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return make_embedder(Settings().embedding)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "keys.md").write_text(
        "# Keys\n\nRotate the signing key every 90 days with keyctl rotate.\n\n"
        "## Revoke\n\nRevoke a leaked key at once with keyctl revoke.\n"
    )
    (root / "garden.md").write_text("# Garden\n\nWater the tomatoes every evening in July.\n")
    (root / "config.md").write_text("# Config\n\nSet `max_file_mb` to skip larger files.\n")
    return root


def remote_engine(folder: Path, data: Path, minilm: Embedder, url: str, model: str) -> Engine:
    settings = Settings()
    retrieval = replace(settings.retrieval, rerank="remote", rerank_url=url, rerank_model=model)
    return open_engine(folder, data, minilm, replace(settings, retrieval=retrieval))


@pytest.fixture
def stand_in(minilm: Embedder) -> Iterator[RerankStandIn]:
    with RerankStandIn(minilm, MODEL) as server:
        yield server


def test_local_rescoring_gives_a_relevance_and_finds_names_exactly(
    folder: Path, tmp_path: Path, minilm: Embedder
) -> None:
    with open_engine(folder, tmp_path / "data", minilm) as engine:
        engine.sync()
        hits = engine.search(QUESTION, 3)
        named = engine.search("what does max_file_mb do?", 1)
    assert hits[0].path == "keys.md" and hits[0].heading == "Keys"
    assert all(0 <= h.score <= 1 for h in hits) and hits[0].score > hits[-1].score
    assert hits[0].unit_scores and max(hits[0].unit_scores) > 0.5
    assert named[0].path == "config.md"


def test_a_remote_cross_encoder_ranks_the_candidates(
    folder: Path, tmp_path: Path, minilm: Embedder, stand_in: RerankStandIn
) -> None:
    with remote_engine(folder, tmp_path / "data", minilm, stand_in.url, MODEL) as engine:
        engine.sync()
        hits = engine.search(QUESTION, 3)
    [request] = stand_in.requests
    assert request["model"] == MODEL and request["query"] == QUESTION
    assert len(request["documents"]) >= len(hits), "every candidate is sent, once"
    assert hits[0].path == "keys.md" and "Rotate the signing key" in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("failure", ["down", "unknown model"])
def test_a_failing_reranker_falls_back_to_local_rescoring(
    failure: str,
    folder: Path,
    tmp_path: Path,
    minilm: Embedder,
    stand_in: RerankStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "http://127.0.0.1:9/v1" if failure == "down" else stand_in.url
    model = MODEL if failure == "down" else "no/such-reranker"
    with open_engine(folder, tmp_path / "local", minilm) as engine:
        engine.sync()
        local = engine.search(QUESTION, 3)
    with remote_engine(folder, tmp_path / "data", minilm, url, model) as engine:
        engine.sync()
        with caplog.at_level(logging.WARNING):
            hits = engine.search(QUESTION, 3)
    assert [(h.path, h.score) for h in hits] == [(h.path, h.score) for h in local]
    [warning] = [r.getMessage() for r in caplog.records if "reranker" in r.getMessage()]
    assert "rescoring with the local encoder" in warning
    if failure == "unknown model":
        assert "404" in warning


@pytest.mark.parametrize("rerank", ["units", "none"])
def test_a_passage_several_files_hold_is_one_hit_naming_the_others(
    folder: Path, tmp_path: Path, minilm: Embedder, rerank: Literal["units", "none"]
) -> None:
    section = "# Keys\n\nRotate the signing key every 90 days with keyctl rotate.\n"
    for name in ("keys-copy.md", "keys-old.md"):  # keys.md's first section, word for word
        (folder / name).write_text(section)
    settings = Settings()
    settings = replace(settings, retrieval=replace(settings.retrieval, rerank=rerank))
    with open_engine(folder, tmp_path / "data", minilm, settings) as engine:
        engine.sync()
        hits = engine.search(QUESTION, 5)
    rotating = [h for h in hits if "Rotate the signing key" in h.text]
    assert len(rotating) == 1, [h.path for h in hits]
    [hit] = rotating
    assert sorted([hit.path, *hit.also_in]) == ["keys-copy.md", "keys-old.md", "keys.md"]
    assert hit.as_json()["also_in"] == list(hit.also_in)
    assert len({h.text for h in hits}) == len(hits) == 4, "the other passages fill the places"


def test_a_hyphenated_title_meets_the_words_a_question_uses() -> None:
    from engine.rerank import content_words

    assert {"git-describe", "git", "describe"} <= content_words("git-describe(1) Manual Page")
    assert {"core.editor", "core", "editor"} <= content_words("Set core.editor once.")
    assert "the" not in content_words("the-end") and "end" in content_words("the-end")
