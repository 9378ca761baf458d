"""`docsight eval DIR QUESTIONS.jsonl`: how well search finds the answers on this folder."""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from engine import EVAL_DEPTH, Hit, eval_report, evaluate_search, read_questions, source_ref
from engine import clean as visible
from tui.arguments import add_dir, add_json, subcommand
from tui.commands_common import counted, print_json
from tui.commands_index import open_engine, owner_client, sync_with_progress

EXAMPLE = """\
QUESTIONS.jsonl holds one JSON object per line, for example
  {"question": "how often is the key rotated?", "path": "ops/keys.md", "phrase": "every 90 days"}
optionally with "id", "also" (other files stating the same) and "answer" (a regex).
"""


def register(subparsers: Any) -> None:
    evaluation = subcommand(
        subparsers,
        "eval",
        "measure retrieval on your own questions",
        "docsight eval ~/notes questions.jsonl",
        "docsight eval ~/notes questions.jsonl --json",
        description="Measure search on QUESTIONS: hit@1, hit@5, MRR, nDCG@10 and the misses.",
    )
    evaluation.epilog = f"{EXAMPLE}\n{evaluation.epilog}"
    add_dir(evaluation)
    evaluation.add_argument("questions", metavar="QUESTIONS", type=Path, help="a .jsonl file")
    add_json(evaluation)
    evaluation.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    started = time.monotonic()
    questions = read_questions(args.questions)
    with ExitStack() as stack:
        client = owner_client(args)
        if client is not None:
            stack.callback(client.close)

            def search(query: str) -> list[Hit]:
                return client.search(query, EVAL_DEPTH, [])
        else:
            engine = stack.enter_context(open_engine(args))
            if not engine.status().indexed:
                sync_with_progress(engine)

            def search(query: str) -> list[Hit]:
                return engine.search(query, EVAL_DEPTH)

        document = eval_report(evaluate_search(questions, search))
    document["seconds"] = round(time.monotonic() - started, 3)
    if args.json:
        print_json(document)
    else:
        print_report(document)
    return 0


def print_report(document: dict[str, Any]) -> None:
    print(
        f"{counted(document['questions'], 'question')}: hit@1 {document['hit_at_1']:.2f}  "
        f"hit@5 {document['hit_at_5']:.2f}  MRR {document['mrr']:.2f}  "
        f"nDCG@10 {document['ndcg_at_10']:.2f}"
    )
    if document["misses"]:
        print("\nfirst hit not the answer:")
    for miss in document["misses"]:
        rank = f"rank {miss['rank']}" if miss["rank"] else f"not in the first {EVAL_DEPTH}"
        expected = miss["expected"]
        print(f"  {visible(miss['id'])}: {visible(miss['question'])}  ({rank})")
        print(f'    expected {visible(expected["path"])}: "{visible(expected["phrase"])}"')
        for found in miss["found"]:
            where = source_ref(found["path"], found["start_line"], found["end_line"], found["page"])
            print(f"    found    {visible(where)}  {found['score']:.2f}")
