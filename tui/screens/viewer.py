"""The source viewer: a file with the cited lines highlighted; walk the citations, search,
or open $VISUAL / $EDITOR at the line and come back."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.widgets import Footer, Input, Static

from engine import clean, on_disk
from tui import messages as m
from tui.screens.base import DocsightScreen
from tui.widgets.source_view import SourceView
from tui.widgets.status_line import StatusLine


def editor_command(path: Path, line: int, env: Mapping[str, str]) -> list[str]:
    """`$VISUAL` (else `$EDITOR`, else vi) with `+line`, which vi, nano, emacs and
    micro all understand; VS Code-style editors get `--goto path:line`."""
    editor = env.get("VISUAL") or env.get("EDITOR") or "vi"
    words = shlex.split(editor)
    if Path(words[0]).name in ("code", "codium", "subl", "zed"):
        return [*words, "--wait", "--goto", f"{path}:{line}"]
    return [*words, f"+{line}", str(path)]


def edit_file(app: App[Any], path: Path, line: int) -> bool:
    """Hand the terminal to the editor at `line` of `path` until it exits; False (and a
    notification saying why) when it could not run."""
    command = editor_command(path, line, os.environ)
    try:
        with app.suspend():
            subprocess.run(command, check=False)
    except SuspendNotSupported:
        app.notify("this terminal cannot hand over to an editor", title="Edit")
        return False
    except OSError as error:
        reason = f"cannot run {command[0]}: {error.strerror}"
        app.notify(reason, title="Edit", severity="error")
        return False
    return True


def ref_lines(ref: m.SourceRef, source: m.SourceText) -> tuple[int, int] | None:
    """The 0-based line range `ref` cites in `source` (a whole page for a PDF)."""
    if ref.page is not None and source.pages is not None:
        rows = [i for i, page in enumerate(source.pages) if page == ref.page]
        return (rows[0], rows[-1]) if rows else None
    if ref.start_line is None:
        return None
    return ref.start_line - 1, (ref.end_line or ref.start_line) - 1


class ViewerScreen(DocsightScreen[None]):
    BINDINGS = [
        Binding("escape,q", "back", "Back", id="back", tooltip="Close the search, else go back"),
        Binding(
            "n", "cite(1)", "Next cite", id="next_citation", tooltip="Next citation of the answer"
        ),
        Binding(
            "p",
            "cite(-1)",
            "Prev cite",
            id="previous_citation",
            tooltip="Previous citation of the answer",
        ),
        Binding(
            "slash", "find", "Find", id="find", tooltip="Search in this file (Enter: next match)"
        ),
        Binding("f3", "find_again(1)", "Find next", id="find_next", show=False),
        Binding("shift+f3", "find_again(-1)", "Find previous", id="find_previous", show=False),
        Binding(
            "e",
            "edit",
            "Edit",
            id="edit",
            tooltip="Open $VISUAL or $EDITOR at this line; docsight comes back after",
        ),
        *[Binding(str(n), f"jump({n})", f"Citation {n}", show=False) for n in range(1, 10)],
    ]

    def __init__(self, refs: list[m.SourceRef], index: int = 0) -> None:
        super().__init__()
        self.refs = refs
        self.index = index
        self.source: m.SourceText | None = None
        self.query_text = ""

    @property
    def ref(self) -> m.SourceRef:
        return self.refs[self.index]

    def compose(self) -> ComposeResult:
        yield Static(id="viewer-title")
        yield SourceView(id="source")
        yield Input(placeholder="Find in this file (Enter: next, Esc: close)", id="find")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#find", Input).display = False
        self.set_focus(self.query_one(SourceView))
        self.show_ref()

    def show_ref(self) -> None:
        self._title()
        if self.source is not None and self.source.path == self.ref.path:
            self._focus_cited()
        else:
            self.docsight.load_source(self, self.ref.path)

    def on_source_loaded(self, message: m.SourceLoaded) -> None:
        self.source = message.source
        self.query_one(SourceView).show(message.lines)
        self._focus_cited()

    def _focus_cited(self) -> None:
        view = self.query_one(SourceView)
        cited = ref_lines(self.ref, self.source) if self.source else None
        if cited is None:
            view.cited = None
            view.cursor = 0
            view.refresh()
        else:
            view.focus_lines(*cited)

    def _title(self) -> None:
        text = Text(clean(self.ref.where), style="bold", end="")
        if self.ref.n and len(self.refs) > 1:
            text.append(f"   [{self.ref.n}] {self.index + 1} of {len(self.refs)}", style="dim")
        if self.ref.heading:
            text.append(f"   {clean(self.ref.heading)}", style="dim")
        self.query_one("#viewer-title", Static).update(text)

    # actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        field = self.query_one("#find", Input)
        if field.display:
            field.display = False
            self.set_focus(self.query_one(SourceView))
        else:
            self.dismiss()

    def action_cite(self, step: int) -> None:
        if len(self.refs) > 1:
            self.index = (self.index + step) % len(self.refs)
            self.show_ref()

    def action_jump(self, n: int) -> None:
        for index, ref in enumerate(self.refs):
            if ref.n == n:
                self.index = index
                self.show_ref()
                return
        self.app.bell()

    def action_find(self) -> None:
        field = self.query_one("#find", Input)
        field.display = True
        field.value = self.query_text
        self.set_focus(field)

    @on(Input.Submitted, "#find")
    def find_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value
        self.action_find_again(1)

    def action_find_again(self, step: int) -> None:
        if self.query_text and not self.query_one(SourceView).find(self.query_text, step > 0):
            self.notify(f"not found: {clean(self.query_text)}", title="Find", severity="warning")

    def action_edit(self) -> None:
        if self.source is None:
            return
        path = on_disk(self.docsight.backend.folder, self.source.path)  # absolute: no "-x"
        if edit_file(self.app, path, self.query_one(SourceView).cursor + 1):
            self.source = None  # the file may have changed: read it again
            self.show_ref()
