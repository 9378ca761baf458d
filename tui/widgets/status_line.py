"""The status line every screen shows: index, sync progress, model, embedding model.

One row says a lot, so each part has a priority (tui/widgets/fit.py): at 80 columns the
model's file name shortens in the middle and the rate goes before the model's state, a
failure's reason, the time left or the failed count do. What is cut stays reachable: the
tooltip holds the whole line, and a failure is also a notification when it happens.
"""

from __future__ import annotations

import time

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from engine import clean
from tui.messages import IndexState
from tui.render.fit import Part, Shrink, fit, joined

BAR_CELLS = 14  # the progress bar with its margins (app.tcss)
GAP = Part(Text("  ", end=""), 10)  # between the index's side and the model's
REASON_SOON = 40  # cells of a failure's reason that come before the rest of the line
NAME_LEAST = 7  # a model name shortened to `Smo…guf` still tells models apart
FAILURES_ACTION = "app.failures"  # clicking the failed count: the browser, failures only


def _text(text: str, style: str = "") -> Text:
    return Text(text, style=style, end="")


def duration_text(seconds: float) -> str:
    """`40 s`, `3 min`, `2 h 05 min`: the time left as a person reads it."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def rate_text(state: IndexState) -> str:
    if state.phase != "syncing" or not state.rate:
        return ""
    return f"{state.rate:.0f} {state.unit}/s"


def changes_text(changed: int) -> str:
    if changed == 0:
        return "no changes"
    return f"{changed} file{'s' if changed != 1 else ''} changed"


def _syncing_parts(state: IndexState) -> list[Part]:
    parts = [Part(_text(f"syncing {state.done}/{state.total} {state.unit}"), 9)]
    if state.seconds_left is not None:
        parts.append(Part(_text(f" · {duration_text(state.seconds_left)} left"), 8, "drop"))
    if state.reused:
        parts.append(Part(_text(f" · {state.reused:,} reused", "dim"), 6, "drop"))
    if state.embedded:
        parts.append(Part(_text(f" · {state.embedded:,} embedded", "dim"), 2, "drop"))
    if state.rate:
        parts.append(Part(_text(f" · {rate_text(state)}", "dim"), 1, "drop"))
    return parts


def _settled_parts(state: IndexState) -> list[Part]:
    parts = [Part(_text(f"{state.files} files · {state.chunks} chunks"), 9)]
    if state.failed:
        count = _text(" · ")
        click = Style(color="red", bold=True, meta={"@click": FAILURES_ACTION})
        count.append(f"{state.failed} failed", click)
        parts.append(Part(count, 9))
    if state.last_sync is not None:  # it changes after each sync: the feedback of an edit
        when = time.strftime("%H:%M:%S", time.localtime(state.last_sync))
        parts.append(Part(_text(f" · synced {when}", "dim"), 6, "drop"))
        if state.changed is not None:
            parts.append(Part(_text(f", {changes_text(state.changed)}", "dim"), 5, "drop"))
    if state.phase == "watching":
        parts.append(Part(_text(" · watching"), 4, "drop"))
    else:  # news: edits will not show until a sync (ctrl+s)
        parts.append(Part(_text(" · not watching"), 7))
    return parts


def index_parts(state: IndexState) -> list[Part]:
    parts = [Part(_text(clean(state.folder), "bold"), 4, "middle", 6), Part(_text("  "), 9)]
    if state.phase == "opening":
        parts.append(Part(_text("opening the index..."), 9))
    elif state.phase == "failed":
        reason = _text(f"index unavailable: {clean(state.error)}", "red")
        parts.append(Part(reason, 9, "end", 24, soon=REASON_SOON + 19, later=3))
    elif state.phase == "syncing":
        parts += _syncing_parts(state)
    else:
        parts += _settled_parts(state)
    if state.served_by and state.phase != "failed":
        parts.append(Part(_text(f" · served by pid {state.served_by}", "dim"), 3, "drop"))
    if state.degraded:
        parts.append(Part(_text(" · "), 7))
        degraded = _text(f"watcher degraded: {clean(state.degraded)}", "yellow")
        parts.append(Part(degraded, 7, "end", 20))
    return parts


MODEL_MARK = {True: ("● ", "green"), False: ("✕ ", "red"), None: ("◌ ", "yellow")}


def model_parts(state: IndexState) -> list[Part]:
    """`● llama.cpp SmolLM2-135M-Instruct.Q4_1.gguf: ready │ all-MiniLM-L6-v2`. A failure
    is its reason, cut only at its end; otherwise the longest word is the model's name,
    shortened in the middle before anything else of the model's side gives way."""
    mark, style = MODEL_MARK[state.model_ready]
    parts = [Part(_text(mark, style), 10)]
    text = clean(state.model)
    words = text.split(" ")
    name = max(words, key=len)
    if state.model_ready is False:  # the reason's first words before the index's news
        parts.append(Part(_text(text, style), 9, "end", 16, soon=REASON_SOON, later=3))
    elif len(name) <= NAME_LEAST:
        parts.append(Part(_text(text, style), 9, "end", 16))
    else:
        at = text.index(name)
        before: Shrink = "drop" if state.model_ready else "keep"  # `llama.cpp `; `loading`
        parts.append(Part(_text(text[:at], style), 3 if state.model_ready else 8, before))
        parts.append(Part(_text(name, style), 3, "middle", NAME_LEAST))
        parts.append(Part(_text(text[at + len(name) :], style), 8))
    if state.embedding_model:
        embedding = clean(state.embedding_model.rsplit("/", 1)[-1])
        parts.append(Part(_text(f" │ {embedding}", "dim"), 1, "drop"))
    return parts


def index_text(state: IndexState) -> Text:
    return joined(index_parts(state))


def model_text(state: IndexState) -> Text:
    return joined(model_parts(state))


def fitted(state: IndexState, width: int) -> tuple[Text, Text]:
    """The index's side and the model's, together at most `width` cells wide."""
    index = index_parts(state)
    parts = fit([*index, GAP, *model_parts(state)], width)
    split = next(n for n, part in enumerate(parts) if part is GAP)
    return joined(parts[:split]), joined(parts[split + 1 :])


class StatusLine(Horizontal):
    """Follows the app's `index_state`; one row, always docked at the bottom."""

    def compose(self) -> ComposeResult:
        yield Label(id="status-index")
        yield ProgressBar(id="status-progress", show_eta=False, show_percentage=False)
        yield Label(id="status-model")

    def on_mount(self) -> None:
        self.watch(self.app, "index_state", self.show)

    def on_resize(self, event: events.Resize) -> None:
        self.show(self.app.index_state)  # type: ignore[attr-defined]

    def show(self, state: IndexState) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = state.phase == "syncing" and state.total > 0
        if bar.display:
            bar.update(total=state.total, progress=state.done)
        width = self.content_size.width or self.app.size.width
        index, model = fitted(state, width - (BAR_CELLS if bar.display else 0))
        whole_index, whole_model = index_text(state), model_text(state)
        label = self.query_one("#status-index", Label)
        label.update(index)
        label.tooltip = whole_index if index.plain != whole_index.plain else None
        label = self.query_one("#status-model", Label)
        label.update(model)
        label.tooltip = whole_model if model.plain != whole_model.plain else None
