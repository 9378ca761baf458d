"""`docsight ask | conversations | llm status | llm stop`."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from engine.errors import DocsightError, LLMUnavailable
from engine.indexes import index_dir_for
from engine.visible import clean, clean_line
from tui.cli import common_options, data_dir_from, folder_from, print_json, settings_from
from tui.commands_index import open_engine, owner_client, sync_with_progress

if TYPE_CHECKING:  # imported where used: `--help` and `llm status` load none of it
    from engine.answer import Answer, Answerer
    from engine.conversations import Conversations


def register(subparsers: Any) -> None:
    common = common_options()
    ask = subparsers.add_parser("ask", parents=[common], help="ask a question about a folder")
    ask.add_argument("dir")
    ask.add_argument("question")
    ask.add_argument("--path", action="append", default=[], help="limit to a path prefix")
    ask.add_argument("--conversation", metavar="ID", help="continue a saved conversation")
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(func=run_ask)

    talks = subparsers.add_parser(
        "conversations", parents=[common], help="list, show or delete saved conversations"
    )
    talks.add_argument("dir")
    talks.add_argument("--show", metavar="ID", help="print one conversation")
    talks.add_argument("--delete", metavar="ID", help="delete one conversation")
    talks.add_argument("--json", action="store_true")
    talks.set_defaults(func=run_conversations)

    llm = subparsers.add_parser("llm", help="the model server answers come from")
    llm_commands = llm.add_subparsers(dest="llm_command", metavar="COMMAND")
    status = llm_commands.add_parser("status", parents=[common], help="which server, is it up")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=run_llm_status)
    stop = llm_commands.add_parser("stop", parents=[common], help="stop the managed server")
    stop.set_defaults(func=run_llm_stop)


def open_folder_answerer(
    args: argparse.Namespace, stack: ExitStack
) -> tuple[Answerer, dict[str, Any]]:
    """Through the process that owns the index when there is one, else through our own
    engine (indexing the folder first when it never was); with the index's status."""
    from engine.engine import open_answerer

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
        if not engine.status()["indexed"]:
            sync_with_progress(engine)
        answerer = engine.answerer()
        status = engine.status()
    stack.callback(answerer.close)
    return answerer, status


def say_if_building(status: dict[str, Any]) -> None:
    """An owner still indexing answers from the files indexed so far: say so."""
    if status.get("in_progress"):
        print(
            f"docsight: indexing in progress ({status['files']} files indexed, "
            f"{status['pending']} pending): answering from what is indexed so far",
            file=sys.stderr,
        )


def run_ask(args: argparse.Namespace) -> int:
    if not args.question.strip():
        raise DocsightError("the question is empty")
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
        print_json({**result.as_json(), "index_in_progress": bool(status.get("in_progress"))})
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
    by_number = {c.n: c for c in result.contexts}
    if result.citations:
        print()
    for citation in result.citations:
        where = clean(by_number[citation["n"]].where())
        print(f"[{citation['n']}] {where}{NOTES.get(citation['by'], '')}")
    if result.sources:
        print("\nNearest passages:" if result.declined else "\nAlso retrieved:")
        for source in result.sources:
            context = by_number[source["n"]]
            print(f"[{source['n']}] {clean(context.where())}  relevance {context.score:.2f}")


def run_conversations(args: argparse.Namespace) -> int:
    from engine.conversations import Conversations

    index_dir = index_dir_for(folder_from(args), data_dir_from(args))
    store = Conversations(index_dir / "conversations.sqlite")
    try:
        if args.delete:
            if not store.delete(args.delete):
                raise DocsightError(f"no conversation {args.delete}")
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
        print(clean_line(f"{summary.id}  {when}  {summary.turns} turns  {summary.title}"))
    if not summaries:
        print("no conversations yet")
    return 0


def _show(store: Conversations, conversation_id: str, as_json: bool) -> int:
    if not store.exists(conversation_id):
        raise DocsightError(f"no conversation {conversation_id}")
    turns = store.turns(conversation_id)
    if as_json:
        print_json({"id": conversation_id, "turns": [turn.result for turn in turns]})
        return 0
    for turn in turns:
        print(f"> {clean_line(turn.question)}\n{clean(turn.answer.strip())}\n")
    return 0


def llm_status(args: argparse.Namespace) -> dict[str, Any]:
    from engine.llm_server import alive, choose_backend, log_path, read_record

    settings, data_dir = settings_from(args), data_dir_from(args)
    if settings.llm.base_url:
        url = settings.llm.base_url.rstrip("/")
        status: dict[str, Any] = {
            "backend": settings.llm.backend,
            "base_url": url,
            "model": settings.llm.model or None,
            "context_length": settings.llm.context_length,
            "up": False,
            "managed_pid": None,
            "server_pid": None,
            "state": None,
            "reason": None,
            "log": None,
        }
        from engine.llm import reported_context_length, server_models

        try:
            models = server_models(url if url.endswith("/v1") else f"{url}/v1")
        except LLMUnavailable:
            return status
        entry = next(
            (m for m in models if m.get("id") == settings.llm.model), models[0] if models else {}
        )
        status["model"] = status["model"] or entry.get("id")
        status["context_length"] = (
            reported_context_length(url, entry) or settings.llm.context_length
        )
        status["up"] = True
        return status
    record = read_record(data_dir) or {}
    up = record.get("state") == "ready" and alive(record.get("supervisor_pid"))
    if up:
        from engine.llm import server_models

        try:
            server_models(str(record["base_url"]))
        except LLMUnavailable:
            up = False
    supervisor, server = record.get("supervisor_pid"), record.get("server_pid")
    return {
        "backend": record.get("backend") or choose_backend(settings),
        "base_url": record.get("base_url"),
        "model": record.get("model") or settings.llm.model or None,
        "context_length": record.get("context_length") or settings.llm.context_length,
        "up": up,
        "managed_pid": supervisor if alive(supervisor) else None,
        "server_pid": server if alive(server) else None,
        "state": record.get("state") if alive(supervisor) else None,
        "reason": record.get("reason"),
        "log": str(log_path(data_dir)) if record else None,
    }


def run_llm_status(args: argparse.Namespace) -> int:
    status = llm_status(args)
    if args.json:
        print_json(status)
        return 0
    where = status["base_url"] or "not started (starts with the first question)"
    state = "up" if status["up"] else "down"
    model = status["model"] or "(default model)"
    print(clean_line(f"{status['backend']} {model} at {where}: {state}"))
    print(f"context length {status['context_length']} tokens")
    if status["managed_pid"]:
        pids = f"supervisor pid {status['managed_pid']}, server pid {status['server_pid']}"
        print(f"managed by docsight ({pids}); docsight llm stop")
    elif status["server_pid"]:
        print(f"a server (pid {status['server_pid']}) outlived its supervisor: docsight llm stop")
    if status["reason"]:
        print(clean_line(f"last failure: {status['reason']} (log: {status['log']})"))
    return 0


def run_llm_stop(args: argparse.Namespace) -> int:
    from engine.llm_server import stop_server

    stopped = stop_server(data_dir_from(args))
    print("stopped the model server" if stopped else "no managed model server was running")
    return 0
