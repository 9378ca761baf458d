"""`docsight` entry point: parse, load settings once, run a subcommand, translate errors.

Every subcommand module exposes `register(subparsers)`; each command is a function
`(args) -> int`. Errors become one line on stderr and an exit code (DESIGN.md); the
traceback goes to the log file in the data dir.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.config import Settings, default_config_path, default_data_dir, load_settings
from engine.errors import DocsightError

log = logging.getLogger("docsight")

Command = Callable[[argparse.Namespace], int]


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes, placed after the subcommand name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="where indexes live (DOCSIGHT_DATA_DIR)")
    common.add_argument("--config", type=Path, help="config file (DOCSIGHT_CONFIG)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr")
    return common


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand; only the index ones when `command` is one of them, so that a
    search another docsight serves starts without importing the rest."""
    from tui import commands_index

    parser = argparse.ArgumentParser(
        prog="docsight",
        description="A terminal knowledge assistant: a live index of a folder, cited answers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands_index.register(subparsers)
    if command in commands_index.COMMANDS:
        return parser
    for name in ("commands_answer", "commands_watch", "commands_mcp", "commands_app"):
        module = _optional_module(name)
        if module is not None:
            module.register(subparsers)
    return parser


def _optional_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"tui.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"tui.{name}":
            raise
        return None


def settings_from(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    config = getattr(args, "config", None)
    return load_settings(config, overrides=overrides)


def data_dir_from(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "data_dir", None)
    return Path(chosen) if chosen else default_data_dir()


def config_path_from(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "config", None)
    return Path(chosen) if chosen else default_config_path()


def folder_from(args: argparse.Namespace) -> Path:
    folder = Path(args.dir).expanduser()
    if not folder.is_dir():
        raise UsageError(f"not a folder: {args.dir}")
    return folder.resolve()


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class UsageError(DocsightError):
    exit_code = 2


def setup_logging(data_dir: Path, verbosity: int) -> Path:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for old in [h for h in root.handlers if getattr(h, "docsight", False)]:
        root.removeHandler(old)  # main() may run more than once in a process (tests)
        old.close()
    log_path = data_dir / "docsight.log"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            log_path, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
        )
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        )
        handler.setLevel(logging.DEBUG)
        handler.docsight = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    except OSError:
        pass  # a read-only data dir must not stop a search; the screen still gets errors
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else 100)
    stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    stderr.docsight = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    for noisy in ("httpx", "httpcore", "urllib3", "sentence_transformers", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_path


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched from a model hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    argv = _default_to_app(parser, argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    log_path = setup_logging(data_dir_from(args), getattr(args, "verbose", 0))
    try:
        return int(args.func(args))
    except DocsightError as error:
        log.debug("command failed", exc_info=True)
        print(f"docsight: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("docsight: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as error:
        log.exception("unexpected error")
        print(f"docsight: unexpected error: {error} (details in {log_path})", file=sys.stderr)
        return 1


def _default_to_app(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`docsight DIR` opens the TUI: insert the app subcommand when no subcommand is named."""
    names: set[str] = {"-h", "--help"}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    if argv and argv[0] not in names and "app" in names:
        return ["app", *argv]
    return argv


if __name__ == "__main__":
    sys.exit(main())
