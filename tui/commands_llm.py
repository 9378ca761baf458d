"""`docsight llm status | llm stop`: the model server answers come from."""

from __future__ import annotations

import argparse
from typing import Any

from engine import clean_line
from tui.arguments import add_json, subcommand
from tui.commands_common import data_dir_from, print_json, settings_from


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


def run_llm_status(args: argparse.Namespace) -> int:
    from engine import server_status

    status = server_status(settings_from(args), data_dir_from(args))
    if args.json:
        print_json(status.as_json())
        return 0
    model = status.model or "(default model)"
    if status.base_url:
        state = "up" if status.up else "down"
        print(clean_line(f"{status.backend} {model} at {status.base_url}: {state}"))
    else:
        print(clean_line(f"{status.backend} {model}: not started (starts with the first question)"))
    print(f"context length {status.context_length} tokens")
    if status.managed_pid:
        pids = f"supervisor pid {status.managed_pid}, server pid {status.server_pid}"
        print(f"managed by docsight ({pids}); docsight llm stop")
    elif status.server_pid:
        print(f"a server (pid {status.server_pid}) outlived its supervisor: docsight llm stop")
    if status.reason:
        print(clean_line(f"last failure: {status.reason} (log: {status.log})"))
    return 0


def run_llm_stop(args: argparse.Namespace) -> int:
    from engine import stop_server

    stopped = stop_server(data_dir_from(args))
    print("stopped the model server" if stopped else "no managed model server was running")
    return 0
