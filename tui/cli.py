"""`docsight` entry point: parse, load settings once, run a subcommand, translate errors.

Every subcommand module exposes `register(subparsers)`; each command is a function
`(args) -> int`. Errors become one line on stderr and an exit code (DESIGN.md); the
traceback goes to the log file in the data dir.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from engine.config import Settings, default_config_path, default_data_dir, load_settings
from engine.errors import DocsightError, translated
from engine.visible import clean_line
from tui.logs import setup_logging

log = logging.getLogger("docsight")

Command = Callable[[argparse.Namespace], int]

USAGE = "docsight [-h] [--version] [DIR]\n       docsight COMMAND [-h] ..."
DESCRIPTION = """\
A terminal knowledge assistant: a live index of a folder, cited answers.

`docsight DIR` opens the terminal UI on DIR (the same as `docsight app DIR`); each
COMMAND works on the same index without it."""
EXAMPLES = """\
examples:
  docsight ~/notes                                open the terminal UI on ~/notes
  docsight search ~/notes "rotate the signing key"
  docsight ask ~/notes "how often is the signing key rotated?"
  docsight search --help                          a command's options and examples"""
DIR_HELP = "the folder of documents (its index lives in the data dir)"
UNRECOGNIZED = "unrecognized arguments: "
INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) that name the flag, like every other error,
    and a guess at what a misspelt option meant."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}{self._guess(message)} (see {self.prog} --help)\n")

    def _guess(self, message: str) -> str:
        """`; did you mean --json?` for a stray `--jsno`, `'status'` for `llm stauts`."""
        choice = INVALID_CHOICE.search(message)
        if choice:
            words, known = [choice[1]], re.findall(r"'([^']*)'", choice[2])
        elif message.startswith(UNRECOGNIZED):
            words = [w for w in message[len(UNRECOGNIZED) :].split() if w.startswith("--")]
            known = sorted(_option_strings(self))
        else:
            return ""
        for word in words:
            close = difflib.get_close_matches(word, known, n=1)
            if close:
                return f"; did you mean {close[0] if close[0][0] == '-' else repr(close[0])}?"
        return ""


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    """The long options of a parser and of its subcommands (argparse reports a stray option
    from the top parser, which does not know which subcommand it was meant for)."""
    found: set[str] = set()
    for action in parser._actions:
        found.update(option for option in action.option_strings if option.startswith("--"))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
    return found


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], else an error naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"should be an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand takes, placed after the subcommand name."""
    common = Parser(add_help=False)
    common.add_argument(
        "--data-dir", type=Path, metavar="PATH", help="where indexes live (DOCSIGHT_DATA_DIR)"
    )
    common.add_argument("--config", type=Path, metavar="PATH", help="config file (DOCSIGHT_CONFIG)")
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr, and let other libraries' debug lines into docsight.log; "
        "-vv: debug lines on stderr too",
    )
    return common


def subcommand(
    subparsers: Any, name: str, summary: str, *examples: str, **options: Any
) -> argparse.ArgumentParser:
    """A subcommand with the common options, its summary and examples under its --help."""
    lines = "\n".join(f"  {example}" for example in examples)
    return subparsers.add_parser(
        name,
        parents=[common_options()],
        help=summary,
        description=options.pop("description", f"{summary[0].upper()}{summary[1:]}."),
        epilog=f"examples:\n{lines}" if examples else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **options,
    )


def add_dir(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    if optional:
        text = f"{DIR_HELP}; here by default"
        parser.add_argument("dir", metavar="DIR", nargs="?", default=".", help=text)
    else:
        parser.add_argument("dir", metavar="DIR", help=DIR_HELP)


def add_json(parser: argparse.ArgumentParser, what: str = "print one JSON document") -> None:
    parser.add_argument("--json", action="store_true", help=f"{what} (docs/reference/cli.md)")


def counted(count: int, noun: str) -> str:
    """`1 file`, `2 files`: a count with its noun in agreement (every noun counted here
    takes an s)."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def package_version() -> str:
    try:
        return version("docsight")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand; only the index ones when `command` is one of them, so that a
    search another docsight serves starts without importing the rest."""
    from tui import commands_index

    parser = Parser(
        prog="docsight",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"docsight {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", prog="docsight")
    commands_index.register(subparsers)
    if command in commands_index.COMMANDS:
        return parser
    modules = ("answer", "llm", "eval", "watch", "mcp", "app")
    for name in (f"commands_{module}" for module in modules):
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
    data_dir = Path(chosen) if chosen else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        where = "--data-dir" if chosen else "DOCSIGHT_DATA_DIR or the default data dir"
        raise UsageError(f"{where} {data_dir}: not a directory")
    return data_dir


def config_path_from(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "config", None)
    return Path(chosen) if chosen else default_config_path()


def folder_from(args: argparse.Namespace) -> Path:
    if not is_folder(args.dir):
        raise UsageError(f"not a folder: {args.dir}")
    return Path(args.dir).expanduser().resolve()


def is_folder(text: str) -> bool:
    try:
        return Path(text).expanduser().is_dir()
    except OSError:  # a name too long for the file system, a folder we may not look into
        return False


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class UsageError(DocsightError):
    exit_code = 2


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


def _default_to_app(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """`docsight DIR` opens the TUI: insert the app subcommand when no subcommand is named.
    A first word that is neither a command nor a folder is a misspelt command when one is
    close (`serch`), not a folder for the app to refuse."""
    commands: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
    if not argv or argv[0] in commands | {"-h", "--help", "--version"} or "app" not in commands:
        return argv
    first = argv[0]
    if not first.startswith("-") and not is_folder(first):
        close = difflib.get_close_matches(first, sorted(commands), n=1)
        if close:
            parser.error(f"{first!r} is neither a command nor a folder; did you mean {close[0]!r}?")
        if len(argv) > 1:
            parser.error(f"{first!r} is neither a command nor a folder")
    return ["app", *argv]


if __name__ == "__main__":
    sys.exit(main())
