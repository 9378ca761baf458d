"""`docsight ask | conversations`."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from engine import (
    ConversationNotFound,
    EmptyQuestion,
    IndexStatus,
    clean,
    clean_line,
    conversations_path,
    index_dir_for,
)
from tui.arguments import add_dir, add_json, add_paths, subcommand
from tui.commands_common import counted, data_dir_from, folder_from, print_json, settings_from
from tui.commands_index import open_engine, owner_client, sync_with_progress

if TYPE_CHECKING:  # imported where used: `--help` and `llm status` load none of it
    from engine import Answer, Answerer, Conversations


def register(subparsers: Any) -> None:
    ask = subcommand(
        subparsers,
        "ask",
        "ask a question about a folder",
        'docsight ask ~/notes "how often is the signing key rotated?"',
        'docsight ask ~/notes "and who does it?" --conversation 3f2a9c81d04e     a follow-up',
        'docsight ask ~/notes "what is the backup schedule?" --path ops/ --json',
        description="Ask a question about a folder: a cited answer from the local model\n"
        "(the nearest passages when no model can run).",
    )
    add_dir(ask)
    ask.add_argument("question", metavar="QUESTION", help="a question in plain words, quoted")
    add_paths(ask)
    ask.add_argument("--conversation", metavar="ID", help="continue a saved conversation")
    add_json(ask, "print the answer, its citations and sources as one JSON document")
    ask.set_defaults(func=run_ask)

    talks = subcommand(
        subparsers,
        "conversations",
        "list, show or delete saved conversations",
        "docsight conversations ~/notes",
        "docsight conversations ~/notes --show 3f2a9c81d04e",
        "docsight conversations ~/notes --delete 3f2a9c81d04e",
    )
    add_dir(talks)
    talks.add_argument("--show", metavar="ID", help="print one conversation")
    talks.add_argument("--delete", metavar="ID", help="delete one conversation")
    add_json(talks)
    talks.set_defaults(func=run_conversations)


def open_folder_answerer(
    args: argparse.Namespace, stack: ExitStack
) -> tuple[Answerer, IndexStatus]:
    """Through the process that owns the index when there is one, else through our own
    engine (indexing the folder first when it never was); with the index's status."""
    from engine import open_answerer

    settings, data_dir = settings_from(args), data_dir_from(args)
    index_dir = index_dir_for(folder_from(args), data_dir)
    client = owner_client(args)
    if client is not None:
        stack.callback(client.close)
        answerer = open_answerer(  # the owner's encoder checks the citations, as it would
            settings,
            data_dir,
            index_dir,
            client.search,
            client.embed_texts,
            folder=folder_from(args),
        )
        status = client.status()
    else:
        engine = stack.enter_context(open_engine(args))
        if not engine.status().indexed:
            sync_with_progress(engine)
        answerer = engine.answerer()
        status = engine.status()
    stack.callback(answerer.close)
    return answerer, status


def say_if_building(status: IndexStatus) -> None:
    """An owner still indexing answers from the files indexed so far: say so."""
    if status.in_progress:
        print(
            f"docsight: indexing in progress ({counted(status.files, 'file')} indexed, "
            f"{status.pending} pending): answering from what is indexed so far",
            file=sys.stderr,
        )


def run_ask(args: argparse.Namespace) -> int:
    if not args.question.strip():
        raise EmptyQuestion()
    with ExitStack() as stack:
        answerer, status = open_folder_answerer(args, stack)
        say_if_building(status)
        streamed = not args.json
        result = answerer.ask(
            args.question,
            prefixes=args.path,
            conversation_id=args.conversation,
            on_quote=_print_quote if streamed else None,
            on_token=_write if streamed else None,
            on_state=lambda line: print(clean_line(f"docsight: {line}"), file=sys.stderr),
        )
    if args.json:
        print_json({**result.as_json(), "index_in_progress": status.in_progress})
    else:
        print_answer(result)
    return 0


def _write(piece: str) -> None:
    sys.stdout.write(clean(piece))
    sys.stdout.flush()


def _print_quote(result: Answer) -> None:
    """The quote, before the model starts: the sentences that answer, verbatim."""
    if result.followup:
        print("docsight: taken as a follow-up of the previous question", file=sys.stderr)
    for quote, context in zip(result.quote, result.quoted, strict=True):
        print(f"> {clean(quote.text)} [{context.n}]  ({clean(quote.where())})")
    print(flush=True)


def print_answer(result: Answer) -> None:
    """After the stream: the checked answer where checking changed it, the citations
    and the other sources."""
    if result.indexing:
        print(f"docsight: {result.indexing}", file=sys.stderr)
    if result.declined or not result.contexts:
        print(f"docsight: {result.reason}", file=sys.stderr)
        print(clean(result.answer))
    elif not result.generated:
        print(f"docsight: no answer generated: {result.reason}", file=sys.stderr)
    else:
        print()
        if result.incomplete:
            print(f"docsight: the answer is incomplete: {result.reason}", file=sys.stderr)
        if _checking_changed(result):
            print("\nChecked against the sources:")
            print(clean(result.answer.strip()))
    _print_sources(result)
    print(
        f"\nconversation {result.conversation_id} (continue: --conversation "
        f"{result.conversation_id})",
        file=sys.stderr,
    )


def _checking_changed(result: Answer) -> bool:
    return any(not s.supported or s.by != "model" for s in result.sentences)


NOTES = {
    "model": "",
    "attribution": "  (cited by docsight)",
    "quote": "  (quoted)",
}


def _print_sources(result: Answer) -> None:
    score = {c.n: c.score for c in result.contexts}
    if result.citations:
        print()
    for citation in result.citations:
        print(f"[{citation.n}] {clean(citation.where())}{NOTES.get(citation.by or '', '')}")
    if result.sources:
        print("\nNearest passages:" if result.declined else "\nAlso retrieved:")
        for source in result.sources:
            print(f"[{source.n}] {clean(source.where())}  relevance {score[source.n]:.2f}")


def run_conversations(args: argparse.Namespace) -> int:
    from engine import Conversations

    index_dir = index_dir_for(folder_from(args), data_dir_from(args))
    store = Conversations(conversations_path(index_dir))
    try:
        if args.delete:
            if not store.delete(args.delete):
                raise ConversationNotFound(args.delete)
            print_json({"deleted": args.delete}) if args.json else print(f"deleted {args.delete}")
            return 0
        if args.show:
            return _show(store, args.show, args.json)
        summaries = store.list()
    finally:
        store.close()
    if args.json:
        print_json({"conversations": [summary.as_json() for summary in summaries]})
        return 0
    for summary in summaries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated))
        turns = counted(summary.turns, "turn")
        print(clean_line(f"{summary.id}  {when}  {turns}  {summary.title}"))
    if not summaries:
        print("no conversations yet")
    return 0


def _show(store: Conversations, conversation_id: str, as_json: bool) -> int:
    if not store.exists(conversation_id):
        raise ConversationNotFound(conversation_id)
    turns = store.turns(conversation_id)
    if as_json:
        print_json({"id": conversation_id, "turns": [turn.result for turn in turns]})
        return 0
    for turn in turns:
        print(f"> {clean_line(turn.question)}\n{clean(turn.answer.strip())}\n")
    return 0
