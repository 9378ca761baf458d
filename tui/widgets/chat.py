"""The conversation: questions, answers streamed as Markdown, citations under each answer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tui.messages import AnswerResult, SourceRef
from tui.widgets.safe import clean, snippet


def citation_lines(refs: list[SourceRef], with_text: bool = False) -> Text:
    text = Text(end="")
    for ref in refs:
        if text:
            text.append("\n")
        text.append(f"[{ref.n}] ", style="bold")
        text.append(clean(ref.where))
        if with_text:
            text.append(f'  "{snippet(ref.text, 48)}"', style="dim")
        elif ref.heading:
            text.append(f"  {clean(ref.heading)}", style="dim")
    return text


def outcome_note(result: AnswerResult) -> Text:
    """Why an answer is missing or short, in one line (empty when all went well)."""
    if not result.generated:
        why = f"No answer generated: {clean(result.reason or 'no model available')}."
        more = " The closest passages:" if result.sources else " Nothing in the index matched."
        return Text(why + more, style="yellow", end="")
    if result.incomplete:
        reason = f": {clean(result.reason)}" if result.reason else ""
        return Text(f"(answer incomplete{reason})", style="yellow", end="")
    return Text("", end="")


class AnswerBlock(Vertical):
    """One answer: streamed Markdown, then its citations and a note when it fell short."""

    def __init__(self) -> None:
        super().__init__(classes="answer")
        self._stream: MarkdownStream | None = None
        self.text = ""
        self.done = False

    def compose(self) -> ComposeResult:
        yield Markdown(classes="answer-body", open_links=False)
        yield Static("searching...", classes="answer-note")
        yield Static(classes="answer-citations")

    @property
    def body(self) -> Markdown:
        return self.query_one(".answer-body", Markdown)

    async def write(self, fragment: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
            self.query_one(".answer-note", Static).update("")
        fragment = clean(fragment)
        self.text += fragment
        await self._stream.write(fragment)

    def set_note(self, note: str) -> None:
        self.query_one(".answer-note", Static).update(Text(note, style="dim"))

    async def finish(self, result: AnswerResult | None) -> None:
        """The stream ended: the final text (with the markers docsight attributed), the
        citations, and a note when the answer fell short."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.stop()
        if result is None:
            failed = Text("(the answer failed; see the notification)", style="red")
            self.query_one(".answer-note", Static).update(failed)
        else:
            final = clean(result.answer) if result.generated else ""
            if final and final != self.text:
                self.text = final
                await self.body.update(final)
            self._show_outcome(result)
        self.done = True

    async def show(self, result: AnswerResult) -> None:
        """A finished answer (a resumed conversation): no streaming."""
        self.text = clean(result.answer) if result.generated else ""
        await self.body.update(self.text)
        self._show_outcome(result)
        self.done = True

    def _show_outcome(self, result: AnswerResult) -> None:
        self.query_one(".answer-note", Static).update(outcome_note(result))
        cited = result.citations if result.generated else result.sources
        self.query_one(".answer-citations", Static).update(
            citation_lines(cited, with_text=not result.generated)
        )


HINT = Text(
    "Ask a question about this folder. Answers cite their sources as [n]; "
    "ctrl+g moves to the sources, F1 lists every key."
)


class ChatView(VerticalScroll):
    """The scrolling conversation; anchored to the bottom while an answer streams."""

    def compose(self) -> ComposeResult:
        yield Static(HINT, classes="hint")

    async def add_question(self, question: str, scope: list[str]) -> None:
        await self.query(".hint").remove()
        text = Text("> ", style="bold", end="")
        text.append(clean(question))
        if scope:
            text.append(f"   (in {clean(', '.join(scope))})", style="dim")
        await self.mount(Static(text, classes="question"))

    async def start_answer(self) -> AnswerBlock:
        block = AnswerBlock()
        await self.mount(block)
        self.anchor()
        return block

    async def clear(self) -> None:
        await self.remove_children()
        await self.mount(Static(HINT, classes="hint"))

    @property
    def last_answer(self) -> AnswerBlock | None:
        blocks = self.query(AnswerBlock)
        return blocks.last() if blocks else None
