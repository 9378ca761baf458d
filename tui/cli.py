"""`docsight` entry point: parse, load settings once, run a subcommand, translate errors.

Every subcommand module exposes `register(subparsers)`; each command is a function
`(args) -> int`. Errors become one line on stderr and an exit code (DESIGN.md); the
traceback goes to the log file in the data dir.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from engine import (
    DocsightError,
    clean_line,
    translated,
)
from tui.arguments import default_to_app, top_parser
from tui.commands_common import data_dir_from
from tui.logs import setup_logging

log = logging.getLogger("docsight")

Command = Callable[[argparse.Namespace], int]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand; only the index ones when `command` is one of them, so that a
    search another docsight serves starts without importing the rest."""
    from tui import commands_index

    parser = top_parser()
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", prog="docsight")
    commands_index.register(subparsers)
    if command in commands_index.COMMANDS:
        return parser
    from tui import (
        commands_answer,
        commands_app,
        commands_eval,
        commands_llm,
        commands_mcp,
        commands_watch,
    )

    for module in (
        commands_answer,
        commands_llm,
        commands_eval,
        commands_watch,
        commands_mcp,
        commands_app,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a model hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    argv = default_to_app(parser, argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        data_dir = data_dir_from(args)
    except DocsightError as error:
        return _failed(error)
    log_path = setup_logging(data_dir, getattr(args, "verbose", 0))
    try:
        return int(args.func(args))
    except DocsightError as error:
        return _failed(error)
    except KeyboardInterrupt:
        print("docsight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:
        known = translated(error, data_dir)  # a full disk, a refusing store: said plainly
        if known is not None:
            log.warning("%s", known, exc_info=True)
            return _failed(known)
        log.exception("unexpected error")
        message = f"docsight: unexpected error: {error} (details in {log_path})"
        print(clean_line(message), file=sys.stderr)
        return 1


def _failed(error: DocsightError) -> int:
    log.debug("command failed", exc_info=True)
    print(clean_line(f"docsight: {error}"), file=sys.stderr)
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
