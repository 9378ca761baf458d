"""Calibrating `retrieval.min_relevance`: where does the best passage's relevance fall for
questions the folder can answer, and for ones it cannot? Prints one JSON line.

For each corpus (bench/questions/<corpus>.jsonl: answerable and unanswerable questions),
every question is searched once as `docsight ask` searches it, and the decision `ask`
makes is replayed at each candidate floor: decline when the best relevance is under the
floor, or when the question names a setting no hit holds (engine/rerank.py absent_names).
The floor is chosen on the dev split (the most unanswerable questions declined while at
most 5% of the answerable ones are), and both splits are reported at it and at the
configured floor.

usage: bench/relevance_floor.py [--corpus docs --corpus git] [--data DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from common import emit
from corpora import corpus_folder, questions

from engine import Settings
from engine.engine import Engine
from engine.errors import RebuildNeeded
from engine.rerank import absent_names

MAX_ANSWERABLE_DECLINED = 0.05
FLOORS = [round(0.20 + 0.01 * step, 2) for step in range(41)]  # 0.20 .. 0.60


def observe(engine: Engine, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per question: its split, the best hit's relevance, and whether a name is absent."""
    seen = []
    k = engine.settings.retrieval.top_k
    for item in items:
        hits = engine.search(item["question"], k, [])
        best = max((hit.score for hit in hits), default=0.0)
        absent = absent_names(item["question"], hits, lambda query: engine.search(query, k, []))
        seen.append({"id": item["id"], "split": item["split"], "best": best, "absent": absent})
    return seen


def declined(row: dict[str, Any], floor: float) -> bool:
    return bool(row["absent"]) or row["best"] < floor


def rates(
    answerable: list[dict[str, Any]], unanswerable: list[dict[str, Any]], floor: float
) -> dict[str, Any]:
    def share(rows: list[dict[str, Any]]) -> float | None:
        return round(sum(declined(r, floor) for r in rows) / len(rows), 3) if rows else None

    return {
        "floor": floor,
        "declined_unanswerable": share(unanswerable),
        "declined_answerable": share(answerable),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }


def choose(answerable: list[dict[str, Any]], unanswerable: list[dict[str, Any]]) -> float:
    """The floor with the most unanswerable questions declined, at most 5% of answerable
    ones declined; of equals, the lowest (it declines the fewest answerable ones)."""
    best_floor, best_share = FLOORS[0], -1.0
    for floor in FLOORS:
        result = rates(answerable, unanswerable, floor)
        if (result["declined_answerable"] or 0.0) > MAX_ANSWERABLE_DECLINED:
            continue
        share = result["declined_unanswerable"] or 0.0
        if share > best_share:
            best_floor, best_share = floor, share
    return best_floor


def split(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in rows if name == "all" or r["split"] == name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=["docs", "git"])
    parser.add_argument(
        "--data", type=Path, help="keep corpora and indexes here (reruns reuse them)"
    )
    args = parser.parse_args()
    settings = Settings()
    answerable: list[dict[str, Any]] = []
    unanswerable: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "bench": "relevance_floor",
        "configured": settings.retrieval.min_relevance,
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or Path(tmp)
        for name in args.corpus or ["docs", "git"]:
            folder = corpus_folder(name, root / "corpora")
            try:
                engine = Engine(folder, settings, root / "data")
            except RebuildNeeded:
                engine = Engine(folder, settings, root / "data", rebuild=True)
            with engine:
                engine.sync()
                answerable += observe(engine, questions(name, "all"))
                unanswerable += observe(engine, questions(name, "all", answerable=False))
    chosen = choose(split(answerable, "dev"), split(unanswerable, "dev"))
    for floor, label in (
        (settings.retrieval.min_relevance, "at_configured"),
        (chosen, "at_chosen"),
    ):
        result[label] = {
            s: rates(split(answerable, s), split(unanswerable, s), floor) for s in ("dev", "test")
        }
    result["chosen_on_dev"] = chosen
    result["unanswerable_best"] = sorted(
        ({"id": r["id"], "best": r["best"], "absent": r["absent"]} for r in unanswerable),
        key=lambda r: -r["best"],
    )
    result["answerable_absent"] = [
        {"id": r["id"], "absent": r["absent"]} for r in answerable if r["absent"]
    ]
    answerable_best = sorted(r["best"] for r in answerable)
    result["answerable_best_lowest"] = [round(b, 3) for b in answerable_best[:10]]
    emit(result)


if __name__ == "__main__":
    main()
