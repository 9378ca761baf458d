"""Saved conversations: resume one (Enter), delete one (d, then y to confirm), or start a
new chat (n)."""

from __future__ import annotations

import time
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from tui import messages as m
from tui.render.safe import snippet
from tui.screens.base import DocsightModal


def conversation_line(info: m.ConversationInfo) -> Text:
    text = Text(snippet(info.title or "(untitled)", 52), style="bold", end="")
    text.append(f"  {info.turns} question{'s' if info.turns != 1 else ''}", style="dim")
    if info.updated:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
        text.append(f"  {when}", style="dim")
    return text


class ConfirmDelete(ModalScreen[bool]):
    """Asked once before a conversation is deleted: y deletes, n or Esc keeps it."""

    BINDINGS = [
        Binding("y", "dismiss(True)", "Delete"),
        Binding("n,escape", "dismiss(False)", "Keep it"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_shown = title

    def compose(self) -> ComposeResult:
        title = Text(snippet(self.title_shown or "(untitled)", 58), style="bold", end="")
        with Vertical(id="confirm-box"):
            yield Static("Delete this conversation for good?")
            yield Static(title, id="confirm-title")
            yield Footer()


class ConversationsScreen(DocsightModal[str | None]):
    """Dismissed with the id of the conversation to resume, or None."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Close", id="close", tooltip="Back to the chat"),
        Binding(
            "d,delete",
            "delete",
            "Delete",
            id="delete_conversation",
            tooltip="Delete the selected conversation (asks first)",
        ),
        Binding("n", "new", "New chat", id="new_conversation", tooltip="Start a new conversation"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.conversations: list[m.ConversationInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="conversations-box"):
            yield Static("Conversations", id="conversations-title")
            yield OptionList(id="conversations")
            yield Footer()

    def on_mount(self) -> None:
        self.set_focus(self.query_one(OptionList))
        self.docsight.load_conversations(self)

    def on_conversations_loaded(self, message: m.ConversationsLoaded) -> None:
        self.conversations = message.conversations
        options = self.query_one(OptionList)
        keep = options.highlighted
        options.clear_options()
        if not self.conversations:
            empty = Text("no saved conversations yet", style="dim")
            options.add_option(Option(empty, disabled=True))
            return
        options.add_options(Option(conversation_line(c), id=c.id) for c in self.conversations)
        options.highlighted = min(keep or 0, len(self.conversations) - 1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_delete(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None or index >= len(self.conversations):
            return
        chosen = self.conversations[index]
        self.app.push_screen(ConfirmDelete(chosen.title), partial(self._delete, chosen))

    def _delete(self, chosen: m.ConversationInfo, confirmed: bool | None) -> None:
        if confirmed:
            self.docsight.delete_conversation(self, chosen.id)
            self.notify(f"deleted: {snippet(chosen.title, 40)}", title="Conversations")

    async def action_new(self) -> None:
        self.dismiss(None)
        await self.docsight.action_new_chat()
