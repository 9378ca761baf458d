"""Quote quality without a model: how often does the quote an answer starts with (the
verbatim sentences docsight picks from the best passages, engine/quote.py) state the
answer? Prints one JSON line.

For each answerable question of bench/questions/<corpus>.jsonl the folder is searched as
`docsight ask` searches it and the quote chosen; then:
- quote_correct: the quote's text matches the question's answer pattern;
- quote_grounded: quote_correct, and the quoted lines on disk hold the answer's phrase;
- gold_in_passages: a passage the quote may come from (the best few) holds the phrase;
- quote_chars: the median length of a quote, so that a longer quote cannot pass for a
  better one.
This is the answer's floor: with no model the quote is the answer, and bench/answer_quality.py
adds what the model writes after it.

usage: bench/quote_quality.py [--corpus docs --corpus git] [--split dev|test|all] [--data DIR]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from answer_quality import Lines, open_engine
from common import emit
from corpora import corpus_folder, questions, relevant

from engine import Settings
from engine.quote import PASSAGES, choose_quote


def judge(item: dict[str, Any], quote_text: str, holds: bool, gold: bool) -> dict[str, Any]:
    correct = bool(re.search(item["answer"], quote_text, re.IGNORECASE))
    return {"correct": correct, "grounded": correct and holds, "gold": gold}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=["docs", "git"])
    parser.add_argument("--split", default="all", choices=["dev", "test", "all"])
    parser.add_argument("--data", type=Path, help="keep corpora and indexes here")
    args = parser.parse_args()
    settings = Settings()
    rows: list[dict[str, Any]] = []
    lengths: list[int] = []
    result: dict[str, Any] = {"bench": "quote_quality", "split": args.split}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        for name in args.corpus or ["docs", "git"]:
            folder = corpus_folder(name, root / "corpora")
            lines = Lines(folder)
            with open_engine(folder, settings, root / "data") as engine:
                engine.sync()
                for item in questions(name, args.split):
                    hits = engine.search(item["question"], settings.retrieval.top_k, [])
                    quote = choose_quote(item["question"], hits, folder)
                    text = " ".join(q.text for q in quote)
                    lengths.append(len(text))
                    holds = any(
                        relevant(item, q.path, lines.text(q.path, q.start_line, q.end_line))
                        for q in quote
                    )
                    gold = any(relevant(item, h.path, h.text) for h in hits[:PASSAGES])
                    rows.append(
                        {"id": item["id"], "quote": text[:160], **judge(item, text, holds, gold)}
                    )
    count = len(rows)

    def share(key: str) -> float:
        return round(sum(row[key] for row in rows) / count, 3) if count else 0.0

    result.update(
        {
            "questions": count,
            "quote_correct": share("correct"),
            "quote_grounded": share("grounded"),
            "gold_in_passages": share("gold"),
            "quote_chars_median": statistics.median(lengths) if lengths else None,
            "misses_with_gold": [
                {"id": r["id"], "quote": r["quote"]} for r in rows if r["gold"] and not r["correct"]
            ],
        }
    )
    emit(result)


if __name__ == "__main__":
    main()
