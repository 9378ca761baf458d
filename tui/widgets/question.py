"""The question input: Enter asks, up and down recall earlier questions."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class QuestionInput(Input):
    BINDINGS = [
        Binding("up", "recall(-1)", "Earlier question", id="earlier_question", show=False),
        Binding("down", "recall(1)", "Later question", id="later_question", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="Ask a question about this folder", id=id)
        self.history: list[str] = []
        self._position = 0
        self._draft = ""

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
