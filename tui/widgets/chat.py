"""The conversation: questions, answers streamed as Markdown, citations under each answer."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownFence, MarkdownStream

from engine import clean, join_units
from tui.messages import AnswerResult, OpenSource, QuoteRef, SourceRef
from tui.render.safe import snippet

BY = {"attribution": "  cited by docsight", "quote": "  quoted"}
CODE_STEP = 8  # columns a code block scrolls per left/right


def citation_lines(refs: list[SourceRef], with_text: bool = False) -> Text:
    """`[1] guide/keys.md:40-58  quoted`: who placed each citation is shown (the model
    when nothing is said)."""
    text = Text(end="")
    for ref in refs:
        if text:
            text.append("\n")
        text.append(f"[{ref.n}] ", style="bold")
        text.append(clean(ref.where))
        if with_text:
            text.append(f'  "{snippet(ref.text, 48)}"', style="dim")
        elif ref.by in BY:
            text.append(BY[ref.by], style="italic")
        elif ref.heading:
            text.append(f"  {clean(ref.heading)}", style="dim")
    return text


def quote_text(quote: list[QuoteRef]) -> Text:
    """The quote, visibly a quote: a bar, the sentences as written, where they are."""
    text = Text("quoted from the sources", style="dim italic", end="")
    for line in quote:
        text.append("\n")
        text.append(clean(line.text))
        text.append(f" [{line.n}]", style="bold")
        text.append(f"  {clean(line.where)}", style="dim")
    return text


def checked_markdown(result: AnswerResult) -> str:
    """The model's sentences as checked: their citations as docsight placed them, and a
    mark on each sentence no passage supports; code lines in a code block, as written."""
    pieces = []
    for sentence in result.sentences:
        markers = "".join(f"[{n}]" for n in sentence.citations)
        warning = "" if sentence.supported else UNSUPPORTED
        pieces.append((sentence.kind, clean(sentence.text), markers, warning))
    return join_units(pieces)


UNSUPPORTED = "⚠ *not in the sources*"


def outcome_note(result: AnswerResult) -> Text:
    """Why an answer is missing or short, in one line (empty when all went well)."""
    notes = []
    if result.followup:
        notes.append("Taken as a follow-up of the previous question.")
    if result.indexing:
        notes.append(f"Answered from what is indexed so far: {clean(result.indexing)}.")
    if result.declined:
        best = f" (best match {result.relevance:.2f})" if result.relevance is not None else ""
        notes.append(f"The documents do not seem to answer this{best}. The nearest passages:")
    elif not result.generated:
        why = f"No answer generated: {clean(result.reason or 'no model available')}."
        if result.quote:
            more = " The quote above is what the sources say."
        else:
            more = " The closest passages:" if result.sources else " Nothing in the index matched."
        notes.append(why + more)
    elif result.incomplete:
        reason = f": {clean(result.reason)}" if result.reason else ""
        notes.append(f"(answer incomplete{reason})")
    unsupported = sum(not s.supported for s in result.sentences)
    if unsupported:
        notes.append(f"{unsupported} sentence(s) not supported by the sources (marked ⚠).")
    style = "yellow" if result.declined or not result.generated or unsupported else "dim"
    return Text(" ".join(notes), style=style, end="")


class AnswerFocused(Message):
    """An answer got the focus: the sources pane shows that answer's sources."""

    def __init__(self, block: AnswerBlock) -> None:
        super().__init__()
        self.block = block


class AnswerBlock(Vertical, can_focus=True):
    """One answer: the quote, the streamed Markdown, its citations and a note. Focused, its
    number keys open its own sources (an earlier answer's, not the latest one's), and left
    and right scroll its code blocks, whose long lines are never wrapped (app.tcss)."""

    BINDINGS = [
        *[Binding(str(n), f"open({n})", f"Source {n}", show=False) for n in range(1, 10)],
        Binding("up", "step(-1)", "Earlier answer", show=False),
        Binding("down", "step(1)", "Later answer", show=False),
        Binding("left", f"scroll_code(-{CODE_STEP})", "Scroll code left", show=False),
        Binding("right", f"scroll_code({CODE_STEP})", "Scroll code right", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(classes="answer")
        self._stream: MarkdownStream | None = None
        self.text = ""
        self.done = False
        self.refs: list[SourceRef] = []

    def compose(self) -> ComposeResult:
        yield Static(classes="answer-quote")
        yield Markdown(classes="answer-body", open_links=False)
        yield Static("searching...", classes="answer-note")
        yield Static(classes="answer-citations")

    def on_mount(self) -> None:
        self.query_one(".answer-quote", Static).display = False

    @property
    def body(self) -> Markdown:
        return self.query_one(".answer-body", Markdown)

    def show_quote(self, quote: list[QuoteRef]) -> None:
        box = self.query_one(".answer-quote", Static)
        box.display = bool(quote)
        box.update(quote_text(quote))

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
        """The stream ended: the checked text (docsight's citations, unsupported sentences
        marked), the citations, and a note when the answer fell short."""
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.stop()
        if result is None:
            failed = Text("(the answer failed; see the notification)", style="red")
            self.query_one(".answer-note", Static).update(failed)
        else:
            await self.show(result)
        self.done = True

    async def show(self, result: AnswerResult) -> None:
        """A finished answer (also a resumed conversation: no streaming)."""
        self.refs = result.refs
        self.show_quote(result.quote)
        if result.sentences:
            final = checked_markdown(result)
        elif result.generated and not result.quote:  # a saved turn: its text as composed
            final = clean(result.answer)
        else:
            final = ""
        if final != self.text:
            self.text = final
            await self.body.update(final)
        self.body.display = bool(final)
        self.query_one(".answer-note", Static).update(outcome_note(result))
        cited = result.citations if result.citations else result.sources
        self.query_one(".answer-citations", Static).update(
            citation_lines(cited, with_text=not result.citations)
        )
        self.done = True

    def on_focus(self) -> None:
        self.post_message(AnswerFocused(self))

    def action_open(self, n: int) -> None:
        """Open this answer's source [n]."""
        for index, ref in enumerate(self.refs):
            if ref.n == n:
                self.post_message(OpenSource(self.refs, index))
                return
        self.app.bell()

    def action_scroll_code(self, columns: int) -> None:
        for fence in self.body.query(MarkdownFence):
            fence.scroll_relative(x=columns, animate=False, immediate=True)

    def action_step(self, step: int) -> None:
        blocks = list(self.screen.query(AnswerBlock))
        index = blocks.index(self) + step
        if 0 <= index < len(blocks):
            blocks[index].focus()
            blocks[index].scroll_visible()


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
