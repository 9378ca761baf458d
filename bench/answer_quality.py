"""Answer quality on the default CPU configuration: is the answer right, is it grounded in
the lines it cites, is every unsupported figure marked, does it decline what the folder
cannot answer. Prints one JSON line.

Corpora and questions as bench/retrieval.py: docs/ and the git manual (git-doc), each
question with a pattern the answer must match and the file and phrase that hold it, plus
questions the folder cannot answer. Each question is asked once, with no history, of the
model the settings choose (the bundled SmolLM2 on llama.cpp unless DOCSIGHT_LLM__GGUF or
DOCSIGHT_LLM__BASE_URL say otherwise).

- correct: the answer text (the quote and the checked sentences) matches the pattern;
- grounded: correct, and the lines on disk of one of its citations hold the phrase;
- wrong_citation: a sentence that states the answer (a quote or one the model wrote)
  cites lines none of which state it (the answer's pattern does not match them), while
  the passage that does was retrieved;
- cited_elsewhere: the first sentence that states the answer cites lines that state it
  too, but not the lines of the expected phrase (the same figure on another page, or the
  pattern matching other words): no wrong citation, and no grounded answer either;
- unmarked_unsupported_figures: numbers in sentences not marked unsupported that none of
  the sentence's cited passages holds (checked here independently of engine/claims.py);
- declined: unanswerable questions docsight declined, and answerable ones it declined;
- seconds: medians from Enter to the quote, to the first token, and to the end.

usage: bench/answer_quality.py [--corpus docs --corpus git] [--split dev|test|all]
                               [--order best_last|best_first] [--passages N] [--data DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import emit
from corpora import corpus_folder, questions, relevant

from engine.answer import Answer
from engine.config import Settings, load_settings
from engine.engine import Engine
from engine.errors import RebuildNeeded
from engine.kinds import kind_of
from engine.load import load
from engine.quote import Quote
from engine.results import Source
from engine.types import ScannedFile

FIGURE = re.compile(r"\b\d{1,3}(?:,\d{3})+\b|\b\d+(?:\.\d+)?\b")  # 2,000 is 2000


class Lines:
    """The text on disk of a file's line range (for HTML: the text those lines hold)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._loaded: dict[str, list[tuple[int | None, str]]] = {}

    def text(self, path: str, start: int | None, end: int | None) -> str:
        if path not in self._loaded:
            kind = kind_of(path) or "text"
            document = load(self.folder, ScannedFile(path, 0, 0, kind))
            self._loaded[path] = [(line.line, line.text) for line in document.lines]
        if start is None or end is None:
            return " ".join(text for _, text in self._loaded[path])
        return " ".join(t for n, t in self._loaded[path] if n is not None and start <= n <= end)


def holds(item: dict[str, Any], lines: Lines, cited: Source | Quote) -> bool:
    text = lines.text(cited.path, cited.start_line, cited.end_line)
    return relevant(item, cited.path, text)


def says(pattern: re.Pattern[str], lines: Lines, cited: Source | Quote) -> bool:
    """The cited lines on disk state the answer (its pattern matches them)."""
    return bool(pattern.search(lines.text(cited.path, cited.start_line, cited.end_line)))


def judge(item: dict[str, Any], result: Answer, lines: Lines) -> dict[str, Any]:
    pattern = re.compile(item["answer"], re.IGNORECASE)
    correct = bool(pattern.search(result.answer))
    by_n = {c.n: c for c in result.citations}
    cited: list[Source | Quote] = [*result.quote, *result.citations]
    grounded = correct and any(holds(item, lines, c) for c in cited)
    retrieved = any(relevant(item, c.path, c.text) for c in result.contexts)
    stating: list[tuple[str, list[Source | Quote]]] = [(q.text, [q]) for q in result.quote]
    stating += [(s.text, [by_n[n] for n in s.citations if n in by_n]) for s in result.sentences]
    states = next((refs for text, refs in stating if pattern.search(text)), None)
    off_phrase = bool(retrieved and states and not any(holds(item, lines, c) for c in states))
    # every sentence that states the answer, the quote's and the model's: cited, and none
    # of its citations' lines states it
    wrong = retrieved and any(
        refs and not any(says(pattern, lines, c) for c in refs)
        for text, refs in stating
        if pattern.search(text)
    )
    said = " ".join(sentence.text for sentence in result.sentences)
    return {
        "correct": correct,
        "grounded": grounded,
        "wrong_citation": wrong,
        "cited_elsewhere": off_phrase and not wrong,  # the first stating sentence's
        "retrieved": retrieved,
        "declined": result.declined,
        "generated_correct": bool(pattern.search(said)),
    }


def unmarked_figures(result: Answer) -> list[dict[str, str]]:
    """Figures of sentences shown as supported that no cited passage states, each with
    its sentence (printed, so that every one can be traced)."""
    texts = {c.n: c.text for c in result.contexts}
    missing = []
    for sentence in result.sentences:
        if not sentence.supported or not sentence.citations:
            continue
        cited = " ".join(texts.get(n, "") for n in sentence.citations)
        present = {figure.replace(",", "") for figure in FIGURE.findall(cited)}
        for figure in FIGURE.findall(sentence.text):
            figure = figure.replace(",", "")
            if figure not in present:
                missing.append({"figure": figure, "sentence": sentence.text})
    return missing


def ask(engine: Engine, question: str) -> tuple[Answer, dict[str, float]]:
    answerer = engine.answerer()
    started = time.monotonic()
    marks: dict[str, float] = {}

    def first(_: str) -> None:
        marks.setdefault("first_token", time.monotonic() - started)

    def quoted(_: Answer) -> None:
        marks.setdefault("quote", time.monotonic() - started)

    try:
        result = answerer.ask(question, on_quote=quoted, on_token=first)
    finally:
        answerer.close()
    marks["end"] = time.monotonic() - started
    return result, marks


def open_engine(folder: Path, settings: Settings, data: Path) -> Engine:
    try:
        return Engine(folder, settings, data)
    except RebuildNeeded:
        return Engine(folder, settings, data, rebuild=True)


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    settings = load_settings()
    settings = replace(settings, llm=replace(settings.llm, prompt_order=args.order))
    if args.passages:
        settings = replace(settings, retrieval=replace(settings.retrieval, top_k=args.passages))
    rows: list[dict[str, Any]] = []
    unanswerable: list[bool] = []
    times: dict[str, list[float]] = {"quote": [], "first_token": [], "end": []}
    figures: list[dict[str, str]] = []
    model = ""
    for name in args.corpus or ["docs", "git"]:
        folder = corpus_folder(name, root / "corpora")
        with open_engine(folder, settings, root / "data") as engine:
            engine.sync()
            lines = Lines(folder)
            for item in questions(name, args.split):
                result, marks = ask(engine, item["question"])
                model = result.model or model
                rows.append({"id": item["id"], **judge(item, result, lines)})
                figures += [{"id": item["id"], **f} for f in unmarked_figures(result)]
                for key, value in marks.items():
                    times[key].append(value)
            for item in questions(name, args.split, answerable=False):
                result, _ = ask(engine, item["question"])
                unanswerable.append(result.declined)
    count = len(rows)

    def share(key: str) -> float:
        return round(sum(row[key] for row in rows) / count, 3) if count else 0.0

    return {
        "bench": "answer_quality",
        "model": model,
        "order": args.order,
        "passages": settings.retrieval.top_k,
        "answerable": count,
        "unanswerable": len(unanswerable),
        "correct": share("correct"),
        "grounded": share("grounded"),
        "wrong_citation": share("wrong_citation"),
        "cited_elsewhere": share("cited_elsewhere"),
        "gold_retrieved": share("retrieved"),
        "generated_correct": share("generated_correct"),
        "unmarked_unsupported_figures": len(figures),
        "unmarked_figures": figures,
        "declined_unanswerable": round(sum(unanswerable) / len(unanswerable), 3)
        if unanswerable
        else None,
        "declined_answerable": share("declined"),
        "median_s_to_quote": _median(times["quote"]),
        "median_s_to_first_token": _median(times["first_token"]),
        "median_s_to_end": _median(times["end"]),
        "misses": [row["id"] for row in rows if not row["correct"]],
        "wrong_citations": [row["id"] for row in rows if row["wrong_citation"]],
        "cited_elsewhere_ids": [row["id"] for row in rows if row["cited_elsewhere"]],
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=["docs", "git"])
    parser.add_argument("--split", default="all", choices=["dev", "test", "all"])
    parser.add_argument("--order", default="best_last", choices=["best_last", "best_first"])
    parser.add_argument("--passages", type=int, default=0, help="contexts in the prompt")
    parser.add_argument("--data", type=Path, help="keep corpora and indexes here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        emit(run(args, args.data or Path(tmp)))


if __name__ == "__main__":
    main()
