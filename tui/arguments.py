"""The command line's grammar and its help: options, examples, one-line errors that
suggest what a misspelt command or option meant, and `docsight DIR` for the app."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

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
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    *examples: str,
    **options: Any,
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


def add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PREFIX",
        help="limit to a path prefix (repeatable)",
    )


def package_version() -> str:
    try:
        return version("docsight")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def top_parser() -> Parser:
    """`docsight`'s own parser: the usage shows `docsight DIR` beside the commands."""
    parser = Parser(
        prog="docsight",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"docsight {package_version()}")
    return parser


def is_folder(text: str) -> bool:
    try:
        return Path(text).expanduser().is_dir()
    except OSError:  # a name too long for the file system, a folder we may not look into
        return False


def default_to_app(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
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
