"""Answers without a model server: contexts, citations, prompt budget, conversations, and
the passages-only answer when no model can be reached. The real llama.cpp server is
exercised in test_llm.py."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from engine import cite
from engine.answer import Answerer
from engine.config import Settings
from engine.conversations import Conversations, Turn
from engine.embed import make_embedder
from engine.errors import DocsightError, LLMUnavailable
from engine.llm import ChatClient, Endpoint, estimate_tokens
from engine.prompt import build_contexts, fit_prompt
from engine.types import Hit
from tests.helpers import open_engine


def hit(path: str, start: int, end: int, score: float, text: str) -> Hit:
    return Hit(path, start, end, None, "", score, text)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_markers_are_parsed_in_order_and_out_of_range_ones_dropped() -> None:
    assert cite.markers("as [2] says, and [1, 3]; not [7] or [0]", 3) == [2, 1, 3]


def test_attribution_marks_sentences_a_context_clearly_supports() -> None:
    contexts = [
        "Rotate the signing key every 90 days with keyctl rotate.",
        "Water the tomatoes every evening in July.",
    ]
    answer = "Water the tomatoes each evening in July. Rotate the signing key with keyctl rotate."
    marked = cite.attribute(answer, contexts)
    assert marked.text == (
        "Water the tomatoes each evening in July [2]. "
        "Rotate the signing key with keyctl rotate [1]."
    )
    assert marked.by_model == [] and marked.by_attribution == [2, 1]


def test_model_markers_are_kept_and_not_attributed_again() -> None:
    contexts = ["Rotate the signing key every 90 days.", "Water the tomatoes in July."]
    marked = cite.attribute("Rotate the signing key every 90 days [1].", contexts)
    assert marked.by_model == [1] and marked.by_attribution == []
    assert marked.text == "Rotate the signing key every 90 days [1]."


def test_an_answer_over_sources_always_ends_with_a_citation() -> None:
    contexts = ["Backups run nightly at two.", "The signing key rotates every 90 days."]
    marked = cite.attribute("Every ninety days, by policy.", contexts)
    assert marked.text == "Every ninety days, by policy [2]."
    vague = cite.attribute("Quarterly, by policy.", contexts)  # no sentence clearly supported
    assert len(vague.by_attribution) == 1 and vague.text.endswith(f"[{vague.by_attribution[0]}]")


def test_saying_the_documents_lack_the_answer_needs_no_citation() -> None:
    contexts = ["Backups run nightly at two."]
    marked = cite.attribute("The documents do not contain the answer.", contexts)
    assert marked.by_attribution == [] and "[" not in marked.text


def test_attribution_can_use_the_engine_encoder() -> None:
    embedder = make_embedder(Settings().embedding)
    contexts = [
        "To rebuild the index after a model change, run docsight index with --rebuild.",
        "Tomatoes need water every evening during July.",
    ]
    marked = cite.attribute(
        "You have to run the indexer again with the rebuild flag.",
        contexts,
        lambda texts: embedder.embed_documents(texts),
    )
    assert marked.by_attribution == [1]


def test_contexts_drop_duplicates_merge_neighbours_and_put_the_best_last() -> None:
    text_a = "Rotate the signing key every 90 days with keyctl rotate and log it."
    hits = [
        hit("ops/keys.md", 1, 10, 0.9, text_a),
        hit("ops/copy.md", 1, 10, 0.8, text_a),  # the same text in another file
        hit("ops/keys.md", 11, 20, 0.7, "Then restart the signer service on every host."),
        hit("garden.txt", 1, 3, 0.5, "Water the tomatoes every evening."),
    ]
    contexts = build_contexts(hits)
    assert [(c.n, c.path, c.start_line, c.end_line) for c in contexts] == [
        (1, "garden.txt", 1, 3),
        (2, "ops/keys.md", 1, 20),
    ]
    assert "restart the signer" in contexts[1].text and "keyctl rotate" in contexts[1].text


def test_the_prompt_fits_the_budget_dropping_history_then_weak_contexts(tmp_path: Path) -> None:
    endpoint = Endpoint(f"http://127.0.0.1:{closed_port()}/v1", "m", "openai", 1024)
    client = ChatClient(endpoint)  # nothing listens: tokens are over-estimated, never under
    contexts = build_contexts(
        [hit(f"doc{i}.md", 1, 9, i / 10, f"passage {i} " + "words " * 150) for i in range(6)]
    )
    turns = [Turn("an old question " * 20, "an old answer " * 40) for _ in range(3)]
    messages, numbered = fit_prompt(client, "what now?", contexts, turns, budget=600)
    assert client.count_messages(messages) <= 600
    assert all(m["role"] != "assistant" for m in messages), "history goes first"
    sent = [c for c in numbered if f"[{c.n}] {c.text.strip()[:40]}" in messages[-1]["content"]]
    assert sent and sent[-1].path == "doc5.md", "the best context is kept, last"
    assert 0 < len(sent) < len(contexts) == len(numbered)
    assert [c.n for c in numbered] == list(range(1, len(contexts) + 1))
    assert numbered[len(sent)].path == "doc4.md", "left out: the strongest first"
    assert estimate_tokens("x" * 300) >= 100
    client.close()


def test_conversations_keep_turns_in_order_and_can_be_deleted(tmp_path: Path) -> None:
    store = Conversations(tmp_path / "c.sqlite")
    first = store.new("How do I rotate the signing key, and how often should that happen?")
    store.add_turn(first, "How do I rotate?", {"answer": "With keyctl [1]."})
    store.add_turn(first, "How often?", {"answer": "Every 90 days [1]."})
    second = store.new("Tomatoes?")
    [latest, older] = store.list()
    assert latest.id == second and older.id == first
    assert older.turns == 2 and older.title.endswith("…") and len(older.title) <= 60
    assert [t.question for t in store.turns(first)] == ["How do I rotate?", "How often?"]
    assert store.delete(first) and not store.exists(first) and store.turns(first) == []
    store.close()


def test_without_a_model_the_quote_is_the_answer(notes: Path, tmp_path: Path) -> None:
    embedder = make_embedder(Settings().embedding)
    with open_engine(notes, tmp_path / "data", embedder) as engine:
        engine.sync()

        def no_server(say: object, cancel: object) -> Endpoint:
            raise LLMUnavailable("cannot reach the model server at http://127.0.0.1:9/v1")

        answerer = Answerer(Settings(), engine.search, no_server, tmp_path / "c.sqlite")
        result = answerer.ask("how often is the signing key rotated?")
        assert not result.generated and "cannot reach" in result.reason
        quote = "Rotate the signing key every 90 days with keyctl rotate."
        assert result.answer == f"> {quote} [{result.citations[0].n}]"
        assert [(c.path, c.by) for c in result.citations] == [("ops/keys.md", "quote")]
        assert result.as_json()["quote"] == [
            {"text": quote, "n": result.citations[0].n, "path": "ops/keys.md",
             "start_line": 3, "end_line": 3, "page": None}
        ]  # fmt: skip
        assert all(source.by is None for source in result.sources)
        again = answerer.ask("and the tomatoes?", conversation_id=result.conversation_id)
        assert again.conversation_id == result.conversation_id
        assert len(answerer.conversations.turns(result.conversation_id)) == 2
        with pytest.raises(DocsightError, match="no conversation nope"):
            answerer.ask("x", conversation_id="nope")
        answerer.close()
