"""The question input: Enter asks, up and down recall earlier questions (those of earlier
sessions too: tui/ui_state.py keeps them), and the placeholder says what a question asks."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widgets import Input

from engine import clean_line

WHOLE_FOLDER = "Ask a question about this folder"


def scoped_placeholder(prefix: str | None) -> str:
    if not prefix:
        return WHOLE_FOLDER
    return f"Ask about {clean_line(prefix)} only (Esc: the whole folder)"


class QuestionInput(Input):
    BINDINGS = [
        Binding("up", "recall(-1)", "Earlier question", id="earlier_question", show=False),
        Binding("down", "recall(1)", "Later question", id="later_question", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder=WHOLE_FOLDER, id=id)
        self.history: list[str] = []
        self._position = 0
        self._draft = ""

    def load_history(self, questions: Iterable[str]) -> None:
        """Earlier sessions' questions, oldest first, before any asked in this one."""
        self.history = [*questions, *self.history]
        self._position = len(self.history)

    def scope_to(self, prefix: str | None) -> None:
        self.placeholder = scoped_placeholder(prefix)

    def remember(self, question: str) -> None:
        if question and (not self.history or self.history[-1] != question):
            self.history.append(question)
        self._position = len(self.history)
        self._draft = ""

    def action_recall(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        self._position = max(0, min(self._position + step, len(self.history)))
        at_draft = self._position == len(self.history)
        self.value = self._draft if at_draft else self.history[self._position]
        self.cursor_position = len(self.value)
