"""The watched folder as a tree, each file with its index state.

Node data is the path relative to the folder; directories end with "/". Labels are Text
objects, so a file named `[bold].md` shows as written.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine import FileState, clean

OPEN_ALL_UP_TO = 80  # files; a bigger folder opens with its top level only
STATE_STYLE = {"indexed": "dim", "pending": "bold", "failed": "bold red", "ignored": "dim italic"}


def describe(state: FileState) -> str:
    """The words after a file's name: `3 chunks`, `pending`, `failed`, `ignored: rule`."""
    if state.state == "indexed":
        return f"{state.chunks} chunk{'s' if state.chunks != 1 else ''}"
    if state.state == "ignored":
        return f"ignored: {state.reason}" if state.reason else "ignored"
    return state.state


def _label(name: str, state: FileState | None) -> Text:
    text = Text(clean(name), end="")
    if state is not None:
        text.append("  ")
        text.append(clean(describe(state)), style=STATE_STYLE[state.state])
    return text


class FolderTree(Tree[str]):
    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(Text(clean(label)), data="", id=id)
        self.name_shown = label
        self.states: dict[str, FileState] = {}
        self.filter = ""
        self.failed_only = False  # only the files that could not be indexed
        self._by_path: dict[str, TreeNode[str]] = {}

    def load(self, states: dict[str, FileState]) -> None:
        """Show `states`, keeping the filter and, where it still exists, the cursor."""
        self.states = dict(states)
        self.rebuild()

    def set_filter(self, text: str) -> None:
        self.filter = text.strip().lower()
        self.rebuild()

    def set_failed_only(self, failed_only: bool) -> None:
        self.failed_only = failed_only
        label = Text(clean(self.name_shown), end="")
        if failed_only:
            label.append("  failed files only", style=STATE_STYLE["failed"])
        self.root.set_label(label)
        self.rebuild()

    def rebuild(self) -> None:
        selected = self.cursor_node.data if self.cursor_node else None
        expanded = {path for path, node in self._by_path.items() if node.is_expanded}
        first = not expanded
        self.clear()
        self._by_path = {"": self.root}
        shown = sorted(p for p in self.states if self._matches(p))
        nested: dict[str, Any] = {}
        for path in shown:
            place = nested
            for part in path.rstrip("/").split("/")[:-1]:
                place = place.setdefault(part + "/", {})
            place[path.rstrip("/").split("/")[-1] + ("/" if path.endswith("/") else "")] = path
        self._add_branch(self.root, "", nested)
        self.root.expand()
        if self.filter or self.failed_only or (first and len(shown) <= OPEN_ALL_UP_TO):
            self.root.expand_all()
        for path in expanded & self._by_path.keys():
            self._by_path[path].expand()
        if selected is not None and selected in self._by_path:
            self.move_cursor(self._by_path[selected])

    def _add_branch(self, parent: TreeNode[str], prefix: str, nested: dict[str, Any]) -> None:
        dirs = sorted(k for k, v in nested.items() if isinstance(v, dict))
        files = sorted(k for k, v in nested.items() if not isinstance(v, dict))
        for name in dirs:
            path = prefix + name
            node = parent.add(_label(name, None), data=path)
            self._by_path[path] = node
            self._add_branch(node, path, nested[name])
        for name in files:
            path = nested[name]
            self._by_path[path] = parent.add_leaf(_label(name, self.states[path]), data=path)

    def _matches(self, path: str) -> bool:
        state = self.states.get(path)
        if self.failed_only and (state is None or state.state != "failed"):
            return False
        return not self.filter or self.filter in path.lower()

    # live updates --------------------------------------------------------------------------
    def apply(self, path: str, state: FileState | None) -> None:
        """One file changed state (None: it left the folder)."""
        if state is None:
            self.states.pop(path, None)
            node = self._by_path.pop(path, None)
            if node is not None:
                node.remove()
            return
        self.states[path] = state
        node = self._by_path.get(path)
        if node is not None:
            node.set_label(_label(path.rstrip("/").rsplit("/", 1)[-1], state))
        elif self._matches(path):
            self._insert(path, state)

    def _insert(self, path: str, state: FileState) -> None:
        parent = self.root
        prefix = ""
        for part in path.rstrip("/").split("/")[:-1]:
            prefix += part + "/"
            if prefix not in self._by_path:
                self._by_path[prefix] = parent.add(_label(part + "/", None), data=prefix)
            parent = self._by_path[prefix]
        name = path.rstrip("/").rsplit("/", 1)[-1]
        self._by_path[path] = parent.add_leaf(_label(name, state), data=path)

    @property
    def selected_path(self) -> str | None:
        node = self.cursor_node
        return None if node is None or node.data is None else node.data
