"""Answer latency and citations over docsight's own guide (docs/), with the default CPU
configuration: the bundled encoder, Milvus Lite, the managed llama.cpp server with the
bundled SmolLM2-135M-Instruct.

For the first N questions of bench/questions.json: retrieval time, time to first token,
decoding rate (streamed pieces per second after the first; llama.cpp streams one token a
piece), total time; how many answers cite, whether the model or docsight's attribution made
the citations, and how many cite a source that holds the answer (the question's expected
phrase, or its file). The server is started before the clock runs (its start is reported
separately). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from common import ROOT, emit, median, percentile

from engine.config import Settings
from engine.engine import Engine
from engine.llm_server import ensure_server, stop_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", type=int, default=10)
    args = parser.parse_args()
    questions = json.loads((ROOT / "bench" / "questions.json").read_text())["docs"]
    questions = questions[: args.questions]
    with tempfile.TemporaryDirectory() as scratch:
        folder, data_dir = Path(scratch) / "docs", Path(scratch) / "data"
        shutil.copytree(ROOT / "docs", folder)
        settings = Settings()
        started = time.monotonic()
        endpoint = ensure_server(settings, data_dir)
        server_start = time.monotonic() - started
        try:
            with Engine(folder, settings, data_dir) as engine:
                engine.sync()
                rows = ask_all(engine, questions)
        finally:
            stop_server(data_dir)
    emit(summary(rows, endpoint.model, server_start))


def ask_all(engine: Engine, questions: list[dict[str, str]]) -> list[dict[str, object]]:
    answerer = engine.answerer()
    answerer.ask("warm-up: what is docsight?")  # loads the encoder, warms the server
    rows: list[dict[str, object]] = []
    for item in questions:
        result = answerer.ask(item["question"])
        cited = {c.n for c in result.citations}
        cited_contexts = [c for c in result.contexts if c.n in cited]
        decoding = result.timings.get("stream", 0.0) - result.timings.get("first_token", 0.0)
        rows.append(
            {
                "retrieve": result.timings.get("retrieve", 0.0),
                "first_token": result.timings.get("first_token", float("nan")),
                "total": result.seconds,
                "generated": result.generated,
                "cited": bool(result.citations),
                "by_model": sum(c.by == "model" for c in result.citations),
                "by_attribution": sum(c.by == "attribution" for c in result.citations),
                "tokens_per_s": (result.timings.get("pieces", 1) - 1) / max(decoding, 1e-6),
                "cites_answer": any(
                    item["contains"].lower() in " ".join(c.text.split()).lower()
                    or c.path == item["path"]
                    for c in cited_contexts
                ),
            }
        )
    answerer.close()
    return rows


def summary(rows: list[dict[str, object]], model: str, server_start: float) -> dict[str, object]:
    def column(name: str) -> list[float]:
        return [float(row[name]) for row in rows]  # type: ignore[arg-type]

    return {
        "bench": "answer_latency",
        "model": model,
        "questions": len(rows),
        "server_start_s": round(server_start, 2),
        "retrieve_median_s": round(median(column("retrieve")), 3),
        "first_token_median_s": round(median(column("first_token")), 2),
        "decode_tokens_per_s_median": round(median(column("tokens_per_s")), 1),
        "total_median_s": round(median(column("total")), 2),
        "total_p95_s": round(percentile(column("total"), 0.95), 2),
        "generated": sum(bool(row["generated"]) for row in rows),
        "answers_with_citation": sum(bool(row["cited"]) for row in rows),
        "citations_by_model": int(sum(column("by_model"))),
        "citations_by_attribution": int(sum(column("by_attribution"))),
        "answers_citing_a_source_with_the_answer": sum(bool(row["cites_answer"]) for row in rows),
    }


if __name__ == "__main__":
    main()
