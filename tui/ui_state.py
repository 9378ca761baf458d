"""What the app remembers between runs: the theme picked in the app and the questions asked.

One small JSON file in the data dir, private like the rest of it (questions say what a
folder holds). It is written whole to a temporary file, then renamed over the old one, so
a crash leaves the old file or the new, never half of one. A file that cannot be read or
makes no sense is ignored with a log line (the app starts as on a first run) and replaced
at the next save. Without a data dir (the tests' stand-in app) nothing is kept.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine import private_dir

log = logging.getLogger(__name__)

STATE_FILE = "ui-state.json"
HISTORY_LIMIT = 200  # questions kept; the file stays a few kilobytes


@dataclass
class UIState:
    theme: str | None = None  # None: the config's tui.theme
    questions: list[str] = field(default_factory=list)  # oldest first


class UIStateFile:
    """The state as loaded, and each change saved at once.

    The saves run on the UI thread on purpose: a few kilobytes written in well under a
    millisecond, and a question asked just before ctrl+q is on disk when the app exits
    (a thread worker still writing then would be cut off)."""

    def __init__(self, data_dir: Path | None) -> None:
        self.path = data_dir / STATE_FILE if data_dir is not None else None
        self.state = load(self.path) if self.path is not None else UIState()

    def remember_theme(self, name: str) -> None:
        if name != self.state.theme:
            self.state.theme = name
            self._save()

    def remember_question(self, question: str) -> None:
        questions = self.state.questions
        if question and (not questions or questions[-1] != question):
            self.state.questions = [*questions, question][-HISTORY_LIMIT:]
            self._save()

    def _save(self) -> None:
        if self.path is not None:
            save(self.path, self.state)


def load(path: Path) -> UIState:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UIState()
    except (OSError, UnicodeDecodeError) as error:
        log.warning("ignoring %s: %s", path, error)
        return UIState()
    try:
        return parsed(json.loads(raw))
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        log.warning("ignoring %s: %s", path, error)
        return UIState()


def parsed(data: Any) -> UIState:
    """The state a decoded file holds; ValueError when it is not docsight's."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, found {type(data).__name__}")
    theme = data.get("theme")
    questions = data.get("questions", [])
    if theme is not None and not isinstance(theme, str):
        raise ValueError("theme is not a string")
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise ValueError("questions is not a list of strings")
    return UIState(theme, questions[-HISTORY_LIMIT:])


def save(path: Path, state: UIState) -> None:
    """Write `state` (mode 0600, the data dir 0700); a failure is logged, never raised:
    losing a preference must not stop the app."""
    temporary: str | None = None
    try:
        private_dir(path.parent)
        descriptor, temporary = tempfile.mkstemp(prefix=".ui-state-", dir=path.parent)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
            json.dump(asdict(state), out, ensure_ascii=False, indent=1)
        os.replace(temporary, path)
    except OSError as error:
        log.warning("cannot save %s: %s", path, error)
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)
