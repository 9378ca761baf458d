"""Retrieval quality: recall@1, recall@5 and MRR, dense-only against hybrid.

Two corpora of real documentation: docs/ (docsight's own guide, with an HTML page and an
rST file) and the READMEs of ten Python packages installed in the virtual environment
(python-dotenv, llama-cpp-python, pytest-timeout, tqdm, watchdog, ...). The questions in
bench/questions.json are phrased as a user would ask; a hit is relevant when it comes from
the expected file and its line range covers the expected phrase. Prints one JSON line.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Any

from common import ROOT, emit

from engine.config import Settings
from engine.embed import make_embedder
from engine.engine import Engine

PACKAGES = {
    "python-dotenv": "md", "llama-cpp-python": "md", "pytest-timeout": "rst", "tqdm": "rst",
    "watchdog": "rst", "diskcache": "rst", "tabulate": "md", "threadpoolctl": "md",
    "rich": "md", "typer": "md",
}  # fmt: skip


def package_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    for name, extension in PACKAGES.items():
        raw = metadata.distribution(name).read_text("METADATA") or ""
        body = Parser().parsestr(raw).get_payload()
        (folder / f"{name}.{extension}").write_text(str(body))


def phrase_line(path: Path, phrase: str) -> int:
    text = path.read_text()
    return text[: text.index(phrase)].count("\n") + 1


def relevant(hit: Any, item: dict[str, Any], line: int) -> bool:
    if hit.path != item["path"] or hit.start_line is None:
        return False
    return bool(hit.start_line <= line <= hit.end_line)


def evaluate(engine: Engine, folder: Path, items: list[dict[str, Any]]) -> dict[str, float]:
    at1 = at5 = reciprocal = 0.0
    for item in items:
        line = phrase_line(folder / item["path"], item["contains"])
        hits = engine.search(item["question"], k=5)
        ranks = [n for n, hit in enumerate(hits, 1) if relevant(hit, item, line)]
        if ranks:
            at1 += ranks[0] == 1
            at5 += 1
            reciprocal += 1 / ranks[0]
    count = len(items)
    return {
        "recall_at_1": round(at1 / count, 3),
        "recall_at_5": round(at5 / count, 3),
        "mrr": round(reciprocal / count, 3),
    }


def main() -> None:
    questions = json.loads((ROOT / "bench" / "questions.json").read_text())
    settings = Settings()
    embedder = make_embedder(settings.embedding)
    result: dict[str, Any] = {"bench": "retrieval", "model": embedder.model_id}
    with tempfile.TemporaryDirectory() as tmp:
        corpora = {"docs": Path(tmp) / "docs", "packages": Path(tmp) / "packages"}
        shutil.copytree(ROOT / "docs", corpora["docs"])
        package_corpus(corpora["packages"])
        for name, folder in corpora.items():
            with Engine(folder, settings, Path(tmp) / "data", embedder=embedder) as engine:
                report = engine.sync()
                result[f"{name}_questions"] = len(questions[name])
                result[f"{name}_chunks"] = report.chunks_total
                for mode, hybrid in (("dense", False), ("hybrid", True)):
                    engine.store.hybrid = hybrid
                    scores = evaluate(engine, folder, questions[name])
                    result.update({f"{name}_{mode}_{k}": v for k, v in scores.items()})
    emit(result)


if __name__ == "__main__":
    main()
