"""`docsight llm status | llm stop`: the model server answers come from."""

from __future__ import annotations

import argparse
from typing import Any

from engine.errors import LLMUnavailable
from engine.visible import clean_line
from tui.arguments import add_json, subcommand
from tui.cli import data_dir_from, print_json, settings_from


def register(subparsers: Any) -> None:
    llm = subparsers.add_parser(
        "llm",
        help="the model server answers come from",
        description="The model server answers come from.",
        epilog="examples:\n  docsight llm status\n  docsight llm stop",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    llm_commands = llm.add_subparsers(dest="llm_command", metavar="COMMAND")
    status = subcommand(
        llm_commands,
        "status",
        "which server, is it up",
        "docsight llm status",
        "docsight llm status --json",
        description="Which model server answers come from, and whether it is up.",
    )
    add_json(status)
    status.set_defaults(func=run_llm_status)
    stop = subcommand(llm_commands, "stop", "stop the managed server", "docsight llm stop")
    stop.set_defaults(func=run_llm_stop)


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
    model = status["model"] or "(default model)"
    if status["base_url"]:
        state = "up" if status["up"] else "down"
        print(clean_line(f"{status['backend']} {model} at {status['base_url']}: {state}"))
    else:
        print(
            clean_line(f"{status['backend']} {model}: not started (starts with the first question)")
        )
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
