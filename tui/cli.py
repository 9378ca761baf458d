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
from typing import Any, NoReturn

from engine.config import Settings, default_config_path, default_data_dir, load_settings
from engine.errors import DocsightError, translated
from engine.indexes import secure_data_dir
from engine.visible import clean, clean_line

log = logging.getLogger("docsight")

Command = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) that name the flag, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


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
    common.add_argument("--data-dir", type=Path, help="where indexes live (DOCSIGHT_DATA_DIR)")
    common.add_argument("--config", type=Path, help="config file (DOCSIGHT_CONFIG)")
    common.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr")
    return common


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand; only the index ones when `command` is one of them, so that a
    search another docsight serves starts without importing the rest."""
    from tui import commands_index

    parser = Parser(
        prog="docsight",
        description="A terminal knowledge assistant: a live index of a folder, cited answers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands_index.register(subparsers)
    if command in commands_index.COMMANDS:
        return parser
    modules = ("commands_answer", "commands_eval", "commands_watch", "commands_mcp", "commands_app")
    for name in modules:
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
    folder = Path(args.dir).expanduser()
    if not folder.is_dir():
        raise UsageError(f"not a folder: {args.dir}")
    return folder.resolve()


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class UsageError(DocsightError):
    exit_code = 2


class PrivateLog(logging.handlers.RotatingFileHandler):
    """The log names files and quotes errors about them: 0600, rotated files too."""

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class VisibleFormatter(logging.Formatter):
    """Log lines on the terminal show control characters (from file names) as symbols."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record))


def setup_logging(data_dir: Path, verbosity: int) -> Path:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for old in [h for h in root.handlers if getattr(h, "docsight", False)]:
        root.removeHandler(old)  # main() may run more than once in a process (tests)
        old.close()
    log_path = data_dir / "docsight.log"
    try:
        secure_data_dir(data_dir)
        handler = PrivateLog(log_path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
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
    stderr.setFormatter(VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
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
