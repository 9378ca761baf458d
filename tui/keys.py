"""Every key in one place: the app's own bindings, the help screen's sections, the names
`[tui.keys]` may rebind, and the command palette's commands (every named binding)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.markup import escape
from textual.screen import Screen

from tui.screens.conversations import ConversationsScreen
from tui.screens.folder import FolderScreen
from tui.screens.help import Section
from tui.screens.main import MainScreen
from tui.screens.viewer import ViewerScreen
from tui.widgets.question import QuestionInput
from tui.widgets.source_view import SourceView
from tui.widgets.sources_pane import SourcesPane


def _key(key: str, action: str, description: str, tooltip: str, show: bool = True) -> Binding:
    return Binding(key, action, description, show=show, id=action, tooltip=tooltip)


APP_BINDINGS: list[BindingType] = [
    _key("ctrl+n", "new_chat", "New chat", "Start a new conversation"),
    _key("ctrl+o", "files", "Files", "Browse the folder: each file's index state"),
    _key("ctrl+r", "conversations", "Chats", "Resume or delete a saved conversation"),
    _key("f1", "help", "Help", "List every key"),
    _key("ctrl+s", "sync", "Sync now", "Bring the index up to date with the folder", False),
    _key("ctrl+f", "failures", "Failed files", "Only the files that failed, and why", False),
    Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit", tooltip="Quit"),
]


def help_sections() -> list[Section]:
    return [
        ("Everywhere", APP_BINDINGS),
        ("Chat", [*MainScreen.BINDINGS, *QuestionInput.BINDINGS]),
        ("Sources", SourcesPane.BINDINGS),
        ("Source viewer", [*ViewerScreen.BINDINGS, *SourceView.BINDINGS]),
        ("Folder browser", FolderScreen.BINDINGS),
        ("Conversations", ConversationsScreen.BINDINGS),
    ]


def binding_ids() -> set[str]:
    """Every name `[tui.keys]` may rebind."""
    sections = help_sections()
    return {b.id for _, bindings in sections for b in bindings if isinstance(b, Binding) and b.id}


def palette_commands(app: App[Any], screen: Screen[Any]) -> Iterable[SystemCommand]:
    """The app's named bindings, then those of the screen and the focused widget; not
    every editing key of an Input, which has no name. The key comes first in the help
    line, so a narrow palette cuts the end of the tooltip (app.tcss), never the key."""
    seen = {"command_palette", "quit"}
    bindings: list[tuple[Binding, DOMNode]]
    bindings = [(b, app) for b in APP_BINDINGS if isinstance(b, Binding)]
    bindings += [(a.binding, a.node) for a in screen.active_bindings.values() if a.enabled]
    for binding, node in bindings:
        if binding.id and binding.description and binding.action not in seen:
            seen.add(binding.action)
            key = app._keymap.get(binding.id, binding.key)
            run = partial(app.run_action, binding.action, node)
            yield SystemCommand(binding.description, palette_help(key, binding.tooltip), run)


def palette_help(key: str, tooltip: str) -> str:
    """The palette parses help as markup: the key in bold, both escaped."""
    return f"[b]{escape(key)}[/b]  {escape(tooltip)}".rstrip()
