"""Answers a person can trust, whatever the model: the quote first, every sentence checked
against the passages it cites, a question the folder cannot answer declined, follow-ups
only when they are follow-ups. Real Milvus Lite, the real MiniLM and, where a model
answers, the real llama.cpp server with SmolLM2."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from engine.answer import Answer, Answerer, check_answer, compose
from engine.claims import facts_of, holds
from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine
from engine.errors import LLMUnavailable
from engine.llm import Endpoint
from engine.llm_server import stop_server
from engine.quote import choose_quote
from engine.types import Hit
from tests.helpers import open_engine

CONFIG_MD = """\
# Client settings

The cache holds 4 MB by default and is cleared at every restart.

## Retries

The client retries 100 times before it gives up on a server.
Each retry waits 30 seconds longer than the one before.
"""
GARDEN_MD = "# Garden\n\nWater the tomatoes every evening in July.\nPick them when red.\n"


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    root = tmp_path / "facts"
    root.mkdir()
    (root / "client.md").write_text(CONFIG_MD)
    (root / "garden.md").write_text(GARDEN_MD)
    return root


@pytest.fixture
def engine(facts: Path, tmp_path: Path) -> Iterator[Engine]:
    with open_engine(facts, tmp_path / "data", make_embedder(Settings().embedding)) as opened:
        opened.sync()
        yield opened
    stop_server(tmp_path / "data")  # never leave a model server behind


def no_model(say: object, cancel: object) -> Endpoint:
    raise LLMUnavailable("no model in this test")


def quote_only(engine: Engine, tmp_path: Path) -> Answerer:
    return Answerer(
        Settings(), engine.search, no_model, tmp_path / "c.sqlite", folder=engine.folder
    )


def test_the_quote_is_the_sentence_that_answers_at_its_exact_line(
    engine: Engine, tmp_path: Path
) -> None:
    answerer = quote_only(engine, tmp_path)
    result = answerer.ask("how many times does the client retry a server?")
    answerer.close()
    assert not result.generated  # no model: the quote is the answer
    [quote] = result.quote_json()  # the sentence that answers, and the rest of its paragraph
    assert (quote["path"], quote["start_line"], quote["end_line"]) == ("client.md", 7, 8)
    assert quote["text"] == (
        "The client retries 100 times before it gives up on a server."
        " Each retry waits 30 seconds longer than the one before."
    )
    assert result.answer == f"> {quote['text']} [{quote['n']}]"
    assert {"n": quote["n"], "by": "quote"}.items() <= result.citations[0].as_json().items()


def test_the_quote_comes_before_the_model_and_every_figure_is_checked(
    engine: Engine, tmp_path: Path
) -> None:
    events: list[str] = []
    answerer = engine.answerer()
    result = answerer.ask(
        "How big is the cache by default?",
        on_quote=lambda answer: events.append("quote"),
        on_token=lambda piece: events.append("token"),
    )
    answerer.close()
    assert result.generated and events[0] == "quote" and "token" in events
    assert result.quote[0].text.startswith("The cache holds 4 MB by default")
    assert result.answer.startswith(f"> {result.quote[0].text}")
    texts = {context.n: context.text for context in result.contexts}
    for sentence in result.sentences:  # whatever SmolLM2 wrote: grounded, or marked
        if sentence.supported and sentence.citations:
            cited = " ".join(texts[n] for n in sentence.citations)
            assert all(holds(cited, fact) for fact in facts_of(sentence.text)), sentence
        elif not sentence.supported:
            assert "[not in the sources]" in result.answer


def contexts_of(engine: Engine, tmp_path: Path, question: str) -> tuple[Answer, dict[int, str]]:
    answerer = quote_only(engine, tmp_path)
    result = answerer.ask(question)
    answerer.close()
    return result, {context.n: context.text for context in result.contexts}


def test_an_invented_figure_is_marked_unsupported(engine: Engine, tmp_path: Path) -> None:
    result, passages = contexts_of(engine, tmp_path, "how big is the cache?")
    client = next(n for n, text in passages.items() if "4 MB" in text)
    [wrong] = check_answer(f"The cache holds 40 MB by default [{client}].", passages, None)
    assert not wrong.supported and wrong.citations == [] and wrong.missing == ["40 MB"]
    [unit] = check_answer(f"Each retry waits 30 minutes longer [{client}].", passages, None)
    assert not unit.supported  # the page says seconds
    [right] = check_answer(f"The cache holds 4 MB [{client}].", passages, None)
    assert right.supported and right.citations == [client] and right.by == "model"


def test_a_wrong_marker_is_moved_to_the_passage_that_supports_it(
    engine: Engine, tmp_path: Path
) -> None:
    result, passages = contexts_of(engine, tmp_path, "how often do I water tomatoes and retry?")
    garden = next(n for n, text in passages.items() if "tomatoes" in text)
    client = next(n for n, text in passages.items() if "100 times" in text)
    [moved] = check_answer(f"The client retries 100 times [{garden}].", passages, None)
    assert moved.supported and moved.citations == [client] and moved.by == "attribution"
    [unmarked] = check_answer("The client retries 100 times.", passages, None)
    assert unmarked.citations == [client] and unmarked.by == "attribution"
    [orphan] = check_answer(f"Lima [{garden}].", passages, None)  # a bare claim, nothing to check
    assert not orphan.supported and orphan.citations == []


def test_code_lines_of_an_answer_stay_one_code_block(engine: Engine, tmp_path: Path) -> None:
    result, passages = contexts_of(engine, tmp_path, "how big is the cache and how often retry?")
    client = next(n for n, text in passages.items() if "100 times" in text)
    code = f"```sh\n  retry --times 100 [{client}]\nargv[1]\n```"
    answer = f"Try it:\n\n{code}\n\nThe client retries 100 times [{client}]."
    result.sentences = check_answer(answer, passages, None)
    assert [s.kind for s in result.sentences] == ["sentence", "code", "code", "sentence"]
    assert [s.as_json()["kind"] for s in result.sentences][1] == "code"
    assert result.sentences[1].text == "  retry --times 100"  # as written, marker out
    assert result.sentences[2].text == "argv[1]"  # an index, not a marker
    assert not result.sentences[1].supported  # no passage has --times
    text = compose(result)
    assert "\n\n```\n  retry --times 100\nargv[1]\n```\n[not in the sources]\n\n" in text
    assert text.endswith(f"The client retries 100 times [{client}].")


def test_a_question_the_folder_cannot_answer_is_declined(engine: Engine, tmp_path: Path) -> None:
    answerer = engine.answerer()
    result = answerer.ask("what is the capital of Peru?")
    answerer.close()
    assert result.declined and not result.generated and not result.quote
    assert result.relevance < Settings().retrieval.min_relevance
    assert "do not seem to answer" in result.answer and result.sources  # nearest passages
    assert result.citations == []


def test_a_setting_the_folder_never_mentions_is_declined_by_name(
    engine: Engine, tmp_path: Path
) -> None:
    answerer = quote_only(engine, tmp_path)
    result = answerer.ask("what is the default of client.cache_turbo_mode?")
    known = answerer.ask("how many MB does the client cache hold by default?")
    answerer.close()
    assert result.declined and "no passage mentions client.cache_turbo_mode" in result.reason
    assert result.sources, "the nearest passages are still shown"
    assert not known.declined and known.quote, "a question about what is there is answered"


def test_a_product_the_folder_never_names_is_declined_by_name(
    engine: Engine, facts: Path, tmp_path: Path
) -> None:
    (facts / "about.md").write_text("# About\n\nThe garden planner is written in Python.\n")
    engine.sync()
    one_hit = replace(Settings(), retrieval=replace(Settings().retrieval, top_k=1))
    answerer = Answerer(one_hit, engine.search, no_model, tmp_path / "c.sqlite", folder=facts)
    absent = answerer.ask("how do I keep the client cache in Google Drive?")
    elsewhere = answerer.ask("how many MB does the Python client cache hold by default?")
    answerer.close()
    assert absent.declined and "no passage mentions google, drive" in absent.reason
    assert elsewhere.hits and "Python" not in elsewhere.hits[0].text  # named by another file
    assert not elsewhere.declined and "4 MB" in elsewhere.answer


def test_unrelated_questions_in_one_chat_retrieve_their_own_sources(
    engine: Engine, tmp_path: Path
) -> None:
    queries: list[str] = []

    def search(query: str, k: int, prefixes: Sequence[str]) -> list[Hit]:
        queries.append(query)
        return engine.search(query, k, prefixes)

    answerer = Answerer(Settings(), search, no_model, tmp_path / "c.sqlite")
    first = answerer.ask("how many times does the client retry?")
    second = answerer.ask(
        "when should I water the tomatoes?", conversation_id=first.conversation_id
    )
    third = answerer.ask("and how often?", conversation_id=first.conversation_id)
    answerer.close()
    assert not second.followup and queries[1] == "when should I water the tomatoes?"
    assert second.quote[0].path == "garden.md" and first.quote[0].path == "client.md"
    assert third.followup and queries[-1] == "when should I water the tomatoes?\nand how often?"


def test_a_nearly_as_good_sentence_of_another_passage_joins_the_quote() -> None:
    restart = Hit("a.md", 3, 3, None, "", 0.6, "The cache is cleared at every restart.", (0.5,))
    size = Hit("b.md", 8, 8, None, "", 0.55, "The cache holds 4 MB by default.", (0.45,))
    garden = Hit("c.md", 1, 1, None, "", 0.1, "Water the tomatoes in July.", (0.05,))
    quote = choose_quote("how big is the cache by default?", [restart, size, garden], None)
    assert [(q.path, q.start_line, q.text) for q in quote] == [
        ("b.md", 8, "The cache holds 4 MB by default."),  # the words of the question
        ("a.md", 3, "The cache is cleared at every restart."),  # close behind
    ]
    alone = choose_quote("how big is the cache by default?", [size, garden], None)
    assert [q.path for q in alone] == ["b.md"], "a far weaker passage stays out"


def test_a_question_for_a_figure_or_a_name_quotes_the_unit_that_holds_one() -> None:
    text = "The client retries when a server fails.\nA client retries 5 times.\n\nLogs: stderr."
    limits = Hit("a.md", 1, 4, None, "", 0.5, text, (0.5, 0.42, 0.3))
    [quote] = choose_quote("how many times does the client retry?", [limits], None)
    assert (quote.text, quote.start_line, quote.end_line) == ("A client retries 5 times.", 2, 2)
    text = "Pass `--no-color` for that.\n\nColours can be turned off."
    colours = Hit("b.md", 1, 3, None, "", 0.5, text, (0.49, 0.5))
    [quote] = choose_quote("which option turns colours off?", [colours], None)
    assert quote.text == "Pass `--no-color` for that."
    [quote] = choose_quote("can colours be turned off?", [colours], None)
    assert quote.text == "Colours can be turned off.", "no name asked for, no bonus"
    text = "It hashes with sha256 and utf-8 names.\n\nThe size is set by cache.size."
    hashes = Hit("c.md", 1, 3, None, "", 0.5, text, (0.45, 0.5))
    [quote] = choose_quote("what size is the cache?", [hashes], None)
    assert quote.text == "The size is set by cache.size.", "sha256 holds no figure"


def test_the_quote_goes_on_to_the_end_of_its_paragraph_within_the_limit() -> None:
    long_sentence = "It is " + "very " * 70 + "long."  # 361 characters
    text = (
        f"# Cache\nThe cache holds 4 MB.\nIt is cleared at restart.\n{long_sentence}\n"
        "\nThe next paragraph.\n## Next"
    )
    hit = Hit("c.md", 10, 16, None, "", 0.5, text, (0.1, 0.6, 0.3, 0.2, 0.1, 0.1))
    [quote] = choose_quote("how big is the cache?", [hit], None)
    assert quote.text == "The cache holds 4 MB. It is cleared at restart.", "400 characters at most"
    assert (quote.start_line, quote.end_line) == (11, 12)
    text = "The cache holds 4 MB.\nIt is cleared at restart.\n\nLogs rotate daily."
    hit = Hit("c.md", 1, 4, None, "", 0.5, text, (0.6, 0.3, 0.2))
    [quote] = choose_quote("how big is the cache?", [hit], None)
    assert (quote.text, quote.end_line) == ("The cache holds 4 MB. It is cleared at restart.", 2)
    term = Hit("d.md", 1, 3, None, "", 0.5, "core.editor\n\nThe editor Git opens.", (0.6, 0.5))
    [quote] = choose_quote("which setting picks the editor?", [term], None)
    assert quote.text == "core.editor The editor Git opens.", "a bare term takes what follows"
    assert (quote.start_line, quote.end_line) == (1, 3)


def test_a_sentence_already_quoted_is_not_quoted_again_from_another_passage() -> None:
    see = "See the cache page."
    first = Hit("a.1.html", 3, 3, None, "", 0.6, f"{see}\nThe cache holds 4 MB.", (0.6, 0.3))
    again = Hit("b.1.html", 5, 5, None, "", 0.6, f"{see}\nIt is cleared daily.", (0.6, 0.5))
    quote = choose_quote("what is the cache?", [first, again], None)
    assert [q.text for q in quote] == [f"{see} The cache holds 4 MB.", "It is cleared daily."]


def test_code_is_quoted_a_line_at_a_time() -> None:
    command = "git config --global merge.conflictStyle diff3 # show the common ancestor"
    text = f"```\n{command}\ngit merge topic\n```\nThen resolve."
    hit = Hit("e.md", 1, 5, None, "", 0.5, text, (0.6, 0.3, 0.2))
    [quote] = choose_quote("how do I see the common ancestor in conflicts?", [hit], None)
    assert (quote.text, quote.start_line, quote.end_line) == (command, 2, 2)
    text = "Set the style in the config file:\n    git config merge.conflictStyle diff3\nDone."
    hit = Hit("f.md", 1, 3, None, "", 0.5, text, (0.6, 0.3, 0.2))
    quotes = choose_quote("how do I set the conflict style?", [hit], None)
    assert [q.text for q in quotes] == [
        "Set the style in the config file:",  # a fragment: the code line joins it
        "git config merge.conflictStyle diff3",
    ], "the sentence after the code is not part of the quote"
    aligned = "$ git log -S'foo()'         # commits that add or remove foo()"
    hit = Hit("g.md", 1, 3, None, "", 0.5, f"```\n    {aligned}\n```", (0.6,))
    [quote] = choose_quote("how do I find the commits that add foo()?", [hit], None)
    assert quote.text == aligned, "a code line is quoted as written, its spaces kept"


def test_a_sentence_of_an_entry_or_one_pointing_back_brings_what_it_leans_on() -> None:
    entries = (
        "--all\nUse any ref found in refs/. This option matches any branch.\n\n"
        "--tags\nUse any tag found in refs/tags. This option matches a lightweight tag."
    )
    hit = Hit("git-describe.html", 10, 16, None, "OPTIONS", 0.5, entries, (0.2, 0.3, 0.3, 0.6))
    [quote] = choose_quote("which option makes it consider lightweight tags?", [hit], None)
    assert quote.text == (
        "--tags Use any tag found in refs/tags. This option matches a lightweight tag."
    ), "the entry's name comes with the sentence of its body"
    assert (quote.start_line, quote.end_line) == (13, 14)
    text = (
        "Use exit code 125 when the source cannot be tested.\n"
        "If the script exits with this code, the revision is skipped.\n\nOther text here."
    )
    hit = Hit("bisect.md", 1, 4, None, "", 0.5, text, (0.3, 0.6, 0.1))
    [quote] = choose_quote("what exit code skips a revision?", [hit], None)
    assert quote.text.startswith("Use exit code 125"), "'this code' brings the code's sentence"
    text = "The cache is small.\nThe cache holds 4 MB by default.\n\nOther text here."
    hit = Hit("c.md", 1, 4, None, "", 0.5, text, (0.3, 0.6, 0.1))
    [quote] = choose_quote("how big is the cache?", [hit], None)
    assert quote.text == "The cache holds 4 MB by default.", "a sentence standing alone"


def test_a_sentence_ending_in_a_colon_brings_the_code_it_introduces() -> None:
    text = (
        "## Remote servers\nSet the server's address and docsight sends questions there:\n\n"
        '```toml\n[llm]\nbase_url = "http://gpu-box:8000/v1"\n```\n\nThat is all.'
    )
    hit = Hit("faq.md", 1, 9, None, "", 0.5, text, (0.6, 0.7, 0.3, 0.4, 0.1))
    quote = choose_quote("how do I use a server on another machine?", [hit], None)
    assert [(q.text, q.start_line) for q in quote] == [
        ("Set the server's address and docsight sends questions there:", 2),
        ("[llm]", 5),
        ('base_url = "http://gpu-box:8000/v1"', 6),
    ], "the code comes along, the next paragraph does not"
