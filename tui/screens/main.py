"""The chat: the conversation, the sources of the current answer, the question input."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input, Static

from engine import clean, on_disk
from tui import messages as m
from tui.screens.base import DocsightScreen
from tui.screens.viewer import ViewerScreen, edit_file
from tui.widgets.chat import AnswerBlock, AnswerFocused, ChatView
from tui.widgets.question import QuestionInput
from tui.widgets.sources_pane import SourcesPane
from tui.widgets.status_line import StatusLine


class MainScreen(DocsightScreen[None]):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding(
            "escape",
            "stop",
            "Stop",
            id="stop",
            tooltip="Stop the answer (keeps what arrived); else ask about all files again",
        ),
        Binding(
            "ctrl+g",
            "focus_sources",
            "Sources",
            id="focus_sources",
            tooltip="Move to the sources of the current answer",
        ),
        Binding(
            "ctrl+up",
            "focus_answers",
            "Answers",
            id="focus_answers",
            show=False,
            tooltip=(
                "Move to the answers: up/down walks them, 1-9 opens that answer's sources, "
                "left/right scrolls its code"
            ),
        ),
        Binding(
            "ctrl+l",
            "focus_question",
            "Question",
            id="focus_question",
            show=False,
            tooltip="Back to the question input",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.conversation_id: str | None = None
        self.scope: list[str] = []
        self.answering: AnswerBlock | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield ChatView(id="chat")
            yield SourcesPane(id="sources")
        yield Static(id="scope")
        yield QuestionInput(id="question")
        yield StatusLine()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SourcesPane).display = False
        self.query_one("#scope").display = False
        field = self.query_one(QuestionInput)
        field.load_history(self.docsight.ui_state.state.questions)
        self.set_focus(field)

    # asking -------------------------------------------------------------------------------
    @on(Input.Submitted, "#question")
    async def submit(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.answering is not None:
            self.notify("An answer is still streaming (Esc stops it).", title="Busy")
            return
        field = self.query_one(QuestionInput)
        field.remember(question)
        self.docsight.ui_state.remember_question(question)
        field.value = ""
        await self.ask(question)

    async def ask(self, question: str) -> None:
        chat = self.query_one(ChatView)
        await chat.add_question(question, self.scope)
        self.answering = await chat.start_answer()
        self.docsight.ask(self, question, list(self.scope), self.conversation_id)

    def set_scope(self, prefix: str | None) -> None:
        """Limit the next questions to a path prefix (None: the whole folder)."""
        self.scope = [prefix] if prefix else []
        label = self.query_one("#scope", Static)
        label.display = bool(prefix)
        if prefix:
            text = Text("asking about ", style="dim", end="")
            text.append(clean(prefix), style="bold")
            text.append("   (Esc: whole folder)", style="dim")
            label.update(text)
        field = self.query_one(QuestionInput)
        field.scope_to(prefix)
        self.set_focus(field)

    def on_answer_sources(self, message: m.AnswerSources) -> None:
        self.query_one(SourcesPane).show(message.refs)
        if self.answering is not None:
            self.answering.refs = message.refs
            self.answering.set_note("generating...")

    def on_answer_quote(self, message: m.AnswerQuote) -> None:
        if self.answering is not None:
            self.answering.show_quote(message.quote)
            notes = ["generating..."]
            if message.followup:
                notes.insert(0, "taken as a follow-up of the previous question;")
            if message.indexing:
                notes.insert(0, f"{message.indexing};")
            self.answering.set_note(" ".join(notes))

    def on_answer_note(self, message: m.AnswerNote) -> None:
        if self.answering is not None:
            self.answering.set_note(message.text)

    def on_answer_focused(self, message: AnswerFocused) -> None:
        """An earlier answer in focus: the pane shows that answer's sources."""
        if message.block.refs:
            self.query_one(SourcesPane).show(message.block.refs)

    def action_focus_answers(self) -> None:
        answers = list(self.query(AnswerBlock))
        if answers:
            answers[-1].focus()

    async def on_answer_token(self, message: m.AnswerToken) -> None:
        if self.answering is not None:
            await self.answering.write(message.text)

    async def on_answer_finished(self, message: m.AnswerFinished) -> None:
        block, self.answering = self.answering, None
        result = message.result
        if result is not None:
            self.conversation_id = result.conversation_id or self.conversation_id
            self.query_one(SourcesPane).show(result.refs)
            if not result.generated and self.docsight.index_state.model_ready is not False:
                reason = result.reason or "no model available"  # news: the model was up
                note = f"No answer generated ({reason}); showing the closest passages."
                self.notify(note, title="Answer", severity="warning")
        if block is not None:
            await block.finish(result)

    def action_stop(self) -> None:
        """Esc: stop the answer in flight; else widen a scoped question; else back to
        the question input."""
        if self.docsight.stop_answer():
            self.notify("Stopped; the answer keeps what arrived.", title="Answer")
        elif self.scope:
            self.set_scope(None)
        else:
            self.set_focus(self.query_one(QuestionInput))

    # sources ------------------------------------------------------------------------------
    def action_focus_sources(self) -> None:
        pane = self.query_one(SourcesPane)
        if pane.display:
            self.set_focus(pane)

    def action_focus_question(self) -> None:
        self.set_focus(self.query_one(QuestionInput))

    def on_open_source(self, message: m.OpenSource) -> None:
        self.app.push_screen(ViewerScreen(message.refs, message.index))

    def on_edit_source(self, message: m.EditSource) -> None:
        """`e` in the sources: the editor at the first cited line, as in the viewer."""
        path = on_disk(self.docsight.backend.folder, message.ref.path)  # absolute: no "-x"
        edit_file(self.app, path, message.ref.start_line or 1)

    # conversations ------------------------------------------------------------------------
    async def new_chat(self) -> None:
        self.docsight.stop_answer()
        self.conversation_id = None
        self.answering = None
        await self.query_one(ChatView).clear()
        self.query_one(SourcesPane).show([])
        self.set_scope(None)

    async def on_conversation_loaded(self, message: m.ConversationLoaded) -> None:
        chat = self.query_one(ChatView)
        await chat.clear()
        field = self.query_one(QuestionInput)
        for turn in message.turns:
            await chat.add_question(turn.question, [])
            block = AnswerBlock()
            await chat.mount(block)
            await block.show(turn)
            field.remember(turn.question)
        self.conversation_id = message.conversation_id
        self.query_one(SourcesPane).show(message.turns[-1].refs if message.turns else [])
        chat.scroll_end(animate=False)
        self.set_focus(field)
