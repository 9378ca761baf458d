"""Every key, by where it works, as the keymap in the config file left it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, Sequence[BindingType]]  # title, the BINDINGS of a class
# Keys that widgets handle themselves, by section title.
BUILT_IN = {
    "Everywhere": [
        ("ctrl+p", "Command palette: every action"),
        ("tab / shift+tab", "Next / previous pane"),
    ],
    "Chat": [("enter", "Ask the question")],
    "Sources": [("up / down", "Choose a source"), ("enter", "Open it in the source viewer")],
    "Folder browser": [
        ("up / down", "Move"),
        ("enter", "Open the file, or open / close the folder"),
    ],
    "Conversations": [("enter", "Resume the conversation")],
}


KeyRows = list[tuple[str, list[tuple[str, str]]]]


def key_rows(sections: Sequence[Section], keymap: dict[str, str]) -> KeyRows:
    """(title, [(keys, description)]) per section, with the keymap's overrides applied."""
    rows: KeyRows = []
    for title, bindings in sections:
        entries: list[tuple[str, str]] = []
        digits = False
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            if binding.key.isdigit():
                digits = True
                continue
            key = keymap.get(binding.id or "", binding.key)
            entries.append((key.replace(",", " / "), binding.tooltip or binding.description))
        if digits:
            entries.append(("1 ... 9", "Open citation [n]"))
        rows.append((title, [*entries, *BUILT_IN.get(title, [])]))
    return rows


def help_table(sections: Sequence[Section], keymap: dict[str, str]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for title, entries in key_rows(sections, keymap):
        table.add_row(Text(title, style="underline"), "")
        for key, description in entries:
            table.add_row(Text(key), Text(description))
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close", id="close_help")]

    def __init__(self, sections: Sequence[Section], keymap: dict[str, str]) -> None:
        super().__init__()
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("docsight keys (Esc closes)", id="help-title")
            yield Static(help_table(self.sections, self.keymap), id="help-keys")
