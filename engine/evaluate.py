"""Retrieval measured on a person's own folder: `docsight eval DIR QUESTIONS.jsonl`.

Each line of the questions file is a JSON object: `question`, the `path` of the file that
answers it and a `phrase` of that file holding the answer; optionally `id`, `also` (other
files that state the same fact), `answer` (a regular expression a chunk of an `also` file
may match instead of the phrase) and `kind` ("unanswerable" lines are skipped). A hit is
relevant when it is a chunk of `path` holding the phrase (whitespace collapsed, any case),
or a chunk of an `also` file holding the phrase or matching `answer`.

Reported: hit@1 and hit@5 (a relevant chunk first / in the first five), MRR over the
first ten, nDCG@10, and each question whose first hit was not relevant, with its rank and
what was found instead. bench/retrieval.py scores its own question sets the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import QuestionsError
from engine.types import Hit

DEPTH = 10  # hits looked at per question
SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Question:
    question: str
    path: str
    phrase: str
    id: str = ""
    also: tuple[str, ...] = ()
    answer: str = ""

    def relevant(self, path: str, text: str) -> bool:
        phrase, body = flat(self.phrase), flat(text)
        if path == self.path:
            return phrase in body
        if path in self.also:
            return phrase in body or bool(self.answer and re.search(self.answer, text, re.I))
        return False


@dataclass
class Outcome:
    question: Question
    rank: int | None  # of the first relevant hit, 1-based; None when none in the first ten
    found: list[Hit] = field(default_factory=list)


def flat(text: str) -> str:
    return SPACES.sub(" ", text).strip().lower()


def read_questions(path: Path) -> list[Question]:
    """The answerable questions of a JSON-lines file; a bad line is named."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionsError(f"{path}: cannot read: {error}") from None
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if item.get("kind") == "unanswerable":
                continue
            found.append(question_from(item, number))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, re.error) as error:
            raise QuestionsError(f"{path}:{number}: not a question ({error})") from None
    if not found:
        raise QuestionsError(f"{path}: no questions (one JSON object per line)")
    return found


def question_from(item: dict[str, Any], number: int = 0) -> Question:
    answer = str(item.get("answer") or "")
    if answer:
        re.compile(answer)
    return Question(
        question=str(item["question"]),
        path=str(item["path"]),
        phrase=str(item["phrase"]),
        id=str(item.get("id") or f"line {number}"),
        also=tuple(str(p) for p in item.get("also") or ()),
        answer=answer,
    )


def evaluate(questions: Sequence[Question], search: Callable[[str], list[Hit]]) -> list[Outcome]:
    outcomes = []
    for question in questions:
        hits = search(question.question)[:DEPTH]
        ranks = [n for n, hit in enumerate(hits, 1) if question.relevant(hit.path, hit.text)]
        outcomes.append(Outcome(question, ranks[0] if ranks else None, hits))
    return outcomes


def scores(relevance: Sequence[Sequence[bool]]) -> dict[str, float]:
    """hit@1, hit@5, MRR and nDCG@10 of ranked relevance lists (one per question)."""
    count = max(len(relevance), 1)
    first = [next((n for n, hit in enumerate(r, 1) if hit), None) for r in relevance]
    ndcg = 0.0
    for ranked in relevance:
        gain = sum(1 / math.log2(n + 1) for n, hit in enumerate(ranked[:DEPTH], 1) if hit)
        ideal = sum(1 / math.log2(n + 1) for n in range(1, min(max(sum(ranked), 1), DEPTH) + 1))
        ndcg += gain / ideal
    return {
        "hit_at_1": round(sum(f == 1 for f in first) / count, 3),
        "hit_at_5": round(sum(f is not None and f <= 5 for f in first) / count, 3),
        "mrr": round(sum(1 / f for f in first if f is not None) / count, 3),
        "ndcg_at_10": round(ndcg / count, 3),
    }


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The `docsight eval --json` document."""
    relevance = [[o.question.relevant(h.path, h.text) for h in o.found] for o in outcomes]
    return {
        "questions": len(outcomes),
        **scores(relevance),
        "misses": [_miss(o) for o in outcomes if o.rank != 1],
    }


def _miss(outcome: Outcome) -> dict[str, Any]:
    return {
        "id": outcome.question.id,
        "question": outcome.question.question,
        "expected": {"path": outcome.question.path, "phrase": outcome.question.phrase},
        "rank": outcome.rank,
        "found": [
            {
                "path": h.path,
                "start_line": h.start_line,
                "end_line": h.end_line,
                "page": h.page,
                "heading": h.heading,
                "score": h.score,
            }
            for h in outcome.found[:3]
        ],  # fmt: skip
    }
