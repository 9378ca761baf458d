"""What a person reads from the command line: help, version, suggestions, wording, the log."""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from engine.events import FileIndexed
from tests.helpers import REPO, run_cli
from tui import logs
from tui.cli import build_parser, main
from tui.commands_watch import describe

COMMANDS = [
    ["index"], ["search"], ["status"], ["indexes"], ["forget"], ["ask"], ["conversations"],
    ["eval"], ["watch"], ["mcp"], ["app"], ["llm"], ["llm", "status"], ["llm", "stop"],
]  # fmt: skip


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_examples_and_describes_its_arguments(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    out = help_of(capsys, *command)
    assert out.startswith(f"usage: docsight {' '.join(command)} ")
    assert out.split("\nexamples:\n")[1].startswith("  docsight ")
    for name in ("DIR", "QUERY", "QUESTION", "QUESTIONS", "--json"):
        if re.search(rf"^  {name}\b", out, re.M):
            assert re.search(rf"^  {name} +\S", out, re.M), f"{name} has no description"


def test_no_argument_of_any_command_goes_without_help() -> None:
    def undescribed(parser: argparse.ArgumentParser) -> Iterator[str]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from undescribed(sub)
            elif not action.help:
                yield f"{parser.prog} {action.dest}"

    assert list(undescribed(build_parser())) == []


def test_the_usage_shows_the_dir_form_and_version_prints_the_package_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = help_of(capsys)
    assert out.startswith("usage: docsight [-h] [--version] [DIR]\n       docsight COMMAND")
    assert "`docsight DIR` opens the terminal UI on DIR" in out and "\nexamples:\n" in out
    result = run_cli("--version")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"docsight {version('docsight')}\n"


def test_a_misspelt_command_or_option_gets_a_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_cli("serch", "docs", "x")  # in the repository, where docs/ is a folder
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "unrecognized arguments" not in result.stderr
    assert "'serch' is neither a command nor a folder; did you mean 'search'?" in result.stderr
    assert "did you mean 'status'?" in one_line_error(capsys, "llm", "stauts")
    assert "did you mean --json?" in one_line_error(capsys, "search", "docs", "x", "--jsno")
    err = one_line_error(capsys, "nothing", "here")
    assert "'nothing' is neither a command nor a folder" in err and "did you mean" not in err
    code = main(["a" * 300])  # too long for a file name: said, not a traceback
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("docsight: not a folder: aaa") and err.count("\n") == 1
    folder = tmp_path / "serch"  # a folder of that name is a folder, not a typo
    folder.mkdir()
    err = one_line_error(capsys, str(folder), "--bogus")
    assert "unrecognized arguments: --bogus" in err and "did you mean 'search'" not in err


def test_counts_agree_with_their_nouns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "keys.md").write_text("# Keys\n\nRotate the signing key every 90 days.\n")
    assert main(["index", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 file, 1 added,") and "; 1 chunk in the index," in out
    assert main(["status", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("1 file, 1 chunk, last sync ")
    assert main(["indexes"]) == 0
    assert "  1 file  1 chunk  " in capsys.readouterr().out
    closed = tmp_path / "closed.toml"  # no model: the passages are the answer, still saved
    closed.write_text('[llm]\nbase_url = "http://127.0.0.1:9"\n')
    assert main(["ask", str(folder), "how often is the key rotated?", "--config", str(closed)]) == 0
    capsys.readouterr()
    assert main(["conversations", str(folder)]) == 0
    assert "  1 turn  how often is the key rotated?" in capsys.readouterr().out
    questions = tmp_path / "questions.jsonl"
    question = {"question": "how often is the key rotated?", "path": "keys.md", "phrase": "90"}
    questions.write_text(json.dumps(question) + "\n")
    assert main(["eval", str(folder), str(questions)]) == 0
    assert capsys.readouterr().out.startswith("1 question: hit@1 1.00")
    assert describe(FileIndexed("keys.md", 1, 1, True)) == "+ keys.md 1 chunk"
    assert describe(FileIndexed("keys.md", 1, 0, False)) == "~ keys.md 0 of 1 chunk re-embedded"


def test_llm_status_says_where_the_server_is_or_that_it_is_not_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["llm", "status"]) == 0  # a fresh data dir: nothing started yet
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(": not started (starts with the first question)") and " at " not in first
    closed = tmp_path / "closed.toml"
    closed.write_text('[llm]\nbase_url = "http://127.0.0.1:9"\n')
    assert main(["llm", "status", "--config", str(closed)]) == 0
    assert " at http://127.0.0.1:9: down" in capsys.readouterr().out.splitlines()[0]


def test_install_guide_says_make_run_opens_the_terminal_ui() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nrun: setup\n")[1].splitlines()[0].split()
    assert recipe == ["$(VENV)/bin/docsight", "$(SAMPLE)"]  # `docsight DIR`: the UI
    guide = (REPO / "docs" / "getting-started" / "install.md").read_text()
    [line] = [line for line in guide.splitlines() if line.startswith("make run ") and "#" in line]
    assert "terminal UI" in line and "search" not in line


# the log ---------------------------------------------------------------------------------
@pytest.fixture
def restored_logging() -> Iterator[None]:
    """main() configures the process's logging; put the levels back and drop its handlers."""
    names = ["", *logs.OWN, *logs.CHATTY, "markdown_it", "watchdog"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "docsight", False)]:
        root.removeHandler(handler)
        handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def log_after(capsys: pytest.CaptureFixture[str], data: Path, *flags: str) -> str:
    """Configure logging through the real entry point, then log as the TUI's libraries do:
    a real markdown_it parse (DEBUG per block rule), a real watchdog observer seeing a file
    written (DEBUG per inotify event: IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE)."""
    assert main(["indexes", "--data-dir", str(data), *flags]) == 0
    MarkdownIt().parse("# Title\n\nA paragraph.\n")
    watched_file_closed(data / "watched")
    logging.getLogger("watchdog.observers").warning("Inotify queue overflowed (a stand-in)")
    logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1:9/v1/models "200 OK"')
    logging.getLogger("engine.sync").info("synced %s", flags)
    logging.getLogger("engine.sync").debug("batch detail %s", flags)
    capsys.readouterr()
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (data / "docsight.log").read_text()


def watched_file_closed(folder: Path) -> None:
    """Write a file under a real observer; back once watchdog has dispatched its close, by
    which time its reader has logged every raw event of that file."""
    folder.mkdir()
    closed = threading.Event()

    class Closed(FileSystemEventHandler):
        def on_closed(self, event: FileSystemEvent) -> None:
            closed.set()

    observer = Observer()
    observer.schedule(Closed(), str(folder))
    observer.start()
    try:
        (folder / "note.md").write_text("# Note\n")
        assert closed.wait(120), "watchdog never reported the file closed"
    finally:
        observer.stop()
        observer.join()


@pytest.mark.usefixtures("restored_logging")
def test_the_log_keeps_docsight_info_and_other_libraries_warnings_unless_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = log_after(capsys, tmp_path / "quiet")
    assert "INFO engine.sync: synced ()" in quiet
    assert "WARNING watchdog.observers: Inotify queue overflowed" in quiet
    assert "markdown_it" not in quiet and "IN_OPEN" not in quiet and "batch detail" not in quiet
    verbose = log_after(capsys, tmp_path / "verbose", "-v")
    assert "DEBUG markdown_it.rules_block.heading: entering heading" in verbose
    assert "DEBUG watchdog.observers.inotify_move_event_grouper: in-event" in verbose
    assert "IN_OPEN" in verbose
    assert "DEBUG engine.sync: batch detail ('-v',)" in verbose
    assert "HTTP Request" not in quiet + verbose  # a line per request: only with -vv
