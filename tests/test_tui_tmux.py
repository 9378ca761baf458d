"""End to end in a real terminal: tmux runs `docsight DIR` on a copy of the sample folder,
keys go in with send-keys, and the captured pane must show the answer's citation.

The tmux server is this test's own (`-L`, no user config), so it inherits this test's
isolated environment and is killed at the end. Success is judged by polling the pane with
a deadline, never by a fixed sleep.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.llm_server import stop_server

REPO = Path(__file__).resolve().parent.parent
TMUX = shutil.which("tmux")
CITATION = re.compile(r"\[\d+\] [\w./-]+:\d+-\d+")  # [2] guide/models.md:15-18
ANSWER_CITATION = re.compile(r"^ \[\d+\] [\w./-]+:\d+-\d+", re.MULTILINE)  # the chat's column

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed")


def docsight_command() -> list[str]:
    script = Path(sys.executable).parent / "docsight"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]


class Terminal:
    """One tmux server with one 120x40 window."""

    def __init__(self, name: str) -> None:
        assert TMUX is not None
        self.tmux = [TMUX, "-L", name, "-f", "/dev/null"]

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [*self.tmux, *args], capture_output=True, text=True, timeout=30, env=env
        )
        return done.stdout

    def start(self, command: list[str], env: dict[str, str]) -> None:
        """Start the server (it keeps `env` for the session) running `command`."""
        shell = " ".join(map(_quote, command)) + "; echo docsight exited $?; sleep 600"
        self.run("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "40", shell, env=env)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "e2e", *keys)

    def wait_for(self, seen: Callable[[str], object], what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            if "docsight exited" in screen or time.monotonic() > deadline:
                raise AssertionError(f"no {what} on the screen:\n{screen}")
            time.sleep(0.2)

    def kill(self) -> None:
        self.run("kill-server")


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    session = Terminal(f"docsight-test-{tmp_path.name}")
    yield session
    session.kill()


def fake_editor(tmp_path: Path) -> tuple[Path, Path]:
    """An $EDITOR that records how it was called and exits: (the script, its record)."""
    record = tmp_path / "editor-args.txt"
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\necho "$@" > {_quote(str(record))}\n')
    script.chmod(0o755)
    return script, record


def test_ask_in_a_real_terminal_shows_the_answer_and_its_citation(
    tmp_path: Path, terminal: Terminal
) -> None:
    folder = tmp_path / "docs"
    shutil.copytree(REPO / "docs", folder)
    data_dir = tmp_path / "data"
    config = tmp_path / "config.toml"
    config.write_text("[llm]\nmax_tokens = 48\n")
    editor, record = fake_editor(tmp_path)
    env = {**os.environ, "EDITOR": str(editor), "VISUAL": ""}
    command = [*docsight_command(), str(folder), "--data-dir", str(data_dir)]
    try:
        terminal.start([*command, "--config", str(config)], env)
        terminal.wait_for(  # the first sweep has ended: it says when
            lambda s: re.search(r"\d+ files · \d+ chunks.* · synced \d\d:\d\d:\d\d", s),
            "index",
            240,
        )

        terminal.keys("how do I rebuild the index after changing the embedding model?", "Enter")
        screen = terminal.wait_for(CITATION.search, "sources with a citation", 240)
        assert "> how do I rebuild the index" in screen
        terminal.wait_for(ANSWER_CITATION.search, "the answer's citations", 240)

        terminal.keys("C-g", "Enter")  # the first source, in the viewer
        screen = terminal.wait_for(lambda s: " of " in s and "▌" in s, "the cited lines", 30)
        where = screen.splitlines()[0].split()[0]  # guide/models.md:15-18
        path, lines = where.rsplit(":", 1)
        terminal.keys("e")  # the editor runs in the terminal, then docsight comes back
        terminal.wait_for(lambda s: record.exists() and where in s, "docsight back", 30)
        assert record.read_text().split() == [f"+{lines.split('-')[0]}", str(folder / path)]

        record.unlink()
        terminal.keys("Escape")  # alone: Esc and the next key at once read as alt+key
        terminal.wait_for(lambda s: "> how do I rebuild" in s, "the chat", 30)
        terminal.keys("C-g", "e")  # the same source, from the sources list
        terminal.wait_for(lambda s: record.exists() and "> how do I" in s, "the chat back", 30)
        assert record.read_text().split() == [f"+{lines.split('-')[0]}", str(folder / path)]

        terminal.keys("C-q")
        terminal.wait_for(lambda s: "docsight exited 0" in s, "clean exit", 60)
    finally:
        stop_server(data_dir)
