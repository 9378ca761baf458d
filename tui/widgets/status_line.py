"""The status line every screen shows: index, sync progress, model, embedding model."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from tui.messages import IndexState
from tui.widgets.safe import clean


def index_text(state: IndexState) -> Text:
    text = Text(clean(state.folder), style="bold", end="")
    text.append("  ")
    if state.phase == "opening":
        text.append("opening the index...")
    elif state.phase == "failed":
        text.append(f"index unavailable: {clean(state.error)}", style="red")
    elif state.phase == "syncing":
        text.append(f"syncing {state.done}/{state.total} {state.unit}")
        if state.rate:
            text.append(f" · {rate_text(state)}", style="dim")
    else:
        text.append(f"{state.files} files · {state.chunks} chunks · ")
        text.append("watching" if state.phase == "watching" else "not watching")
    if state.served_by and state.phase != "failed":
        text.append(f" · served by pid {state.served_by}", style="dim")
    if state.degraded:
        text.append(" · ")
        text.append(f"watcher degraded: {clean(state.degraded)}", style="yellow")
    return text


def rate_text(state: IndexState) -> str:
    if state.phase != "syncing" or not state.rate:
        return ""
    return f"{state.rate:.0f} {state.unit}/s"


MODEL_MARK = {True: ("● ", "green"), False: ("✕ ", "red"), None: ("◌ ", "yellow")}


def model_text(state: IndexState) -> Text:
    """`● llama.cpp SmolLM2: ready │ all-MiniLM-L6-v2`: the mark first, so the model's
    state shows however narrow the terminal cuts the line."""
    mark, style = MODEL_MARK[state.model_ready]
    text = Text(mark, style=style, end="")
    text.append(clean(state.model), style=style)
    if state.embedding_model:
        text.append(" │ ", style="dim")
        text.append(clean(state.embedding_model.rsplit("/", 1)[-1]), style="dim")
    return text


class StatusLine(Horizontal):
    """Follows the app's `index_state`; one row, always docked at the bottom."""

    def compose(self) -> ComposeResult:
        yield Label(id="status-index")
        yield ProgressBar(id="status-progress", show_eta=False, show_percentage=False)
        yield Label(id="status-model")

    def on_mount(self) -> None:
        self.watch(self.app, "index_state", self.show)

    def show(self, state: IndexState) -> None:
        self.query_one("#status-index", Label).update(index_text(state))
        bar = self.query_one(ProgressBar)
        bar.display = state.phase == "syncing" and state.total > 0
        if bar.display:
            bar.update(total=state.total, progress=state.done)
        self.query_one("#status-model", Label).update(model_text(state))
