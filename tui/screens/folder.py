"""The folder browser: every file with its index state; open one, or ask about it."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static, Tree

from engine import FileState, clean
from tui import messages as m
from tui.screens.base import DocsightScreen
from tui.screens.viewer import ViewerScreen
from tui.widgets.folder_tree import STATE_STYLE, FolderTree, describe


def detail(state: FileState | None, path: str) -> Text:
    """The line under the tree: the selected path and its full state (the failure reason)."""
    text = Text(clean(path or "/"), style="bold", end="")
    if state is not None:
        text.append("  ")
        text.append(clean(describe(state)), style=STATE_STYLE[state.state])
        if state.state == "failed" and state.reason:
            text.append(f": {clean(state.reason)}", style="red")
    return text


class FilterField(Input):
    """The filter: Down and Tab go on to the tree (the placeholder and the footer say so),
    Enter too; every other key edits the filter."""

    BINDINGS = [
        Binding("down", "screen.to_tree", "To the files"),
        Binding("tab", "screen.to_tree", "To the files", show=False),
    ]


class FolderScreen(DocsightScreen[None]):
    BINDINGS = [
        Binding(
            "escape", "back", "Back", id="back", tooltip="Clear the filter, else back to the chat"
        ),
        Binding(  # the field's placeholder shows the key: the footer fits 80 columns
            "slash", "filter", "Filter", id="filter", tooltip="Filter the tree by name", show=False
        ),
        Binding(
            "a",
            "ask_here",
            "Ask here",
            id="ask_here",
            tooltip="Ask a question about the selected file or folder only",
        ),
    ]

    def __init__(self, failed_only: bool = False) -> None:
        super().__init__()
        self.failed_only = failed_only  # opened from the status line's failed count

    def compose(self) -> ComposeResult:
        from tui.widgets.status_line import StatusLine

        yield FilterField(placeholder="Filter by name (/) · Down or Tab: to the files", id="filter")
        yield FolderTree(self.docsight.backend.folder.name + "/", id="tree")
        yield Static(id="file-detail")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        if self.failed_only:
            self.query_one(FolderTree).set_failed_only(True)
        self.reload()
        self.set_focus(self.query_one(FolderTree))

    def reload(self) -> None:
        self.query_one(FolderTree).load(self.docsight.file_states)
        self._show_detail()

    def show_failed_only(self) -> None:
        self.query_one(FolderTree).set_failed_only(True)
        self._show_detail()

    def apply(self, path: str, state: FileState | None) -> None:
        self.query_one(FolderTree).apply(path, state)

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.query_one(FolderTree).set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.action_to_tree()

    def action_to_tree(self) -> None:
        self.set_focus(self.query_one(FolderTree))

    @on(Tree.NodeHighlighted)
    def _show_detail(self) -> None:
        tree = self.query_one(FolderTree)
        path = tree.selected_path or ""
        self.query_one("#file-detail", Static).update(detail(tree.states.get(path), path))

    @on(Tree.NodeSelected)
    def open_file(self, event: Tree.NodeSelected[str]) -> None:
        path = event.node.data or ""
        if path and not path.endswith("/"):
            self.app.push_screen(ViewerScreen([m.SourceRef(0, path, None, None)], 0))

    def action_filter(self) -> None:
        self.set_focus(self.query_one("#filter", Input))

    def action_back(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus and field.value:
            field.value = ""
            self.set_focus(self.query_one(FolderTree))
        else:
            self.dismiss()

    def action_ask_here(self) -> None:
        """Ask a question scoped to the selected file or directory."""
        path = self.query_one(FolderTree).selected_path
        self.docsight.switch_to_main().set_scope(path or None)
