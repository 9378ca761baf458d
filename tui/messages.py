"""What flows from the workers to the widgets: plain data and typed messages.

Workers run in threads and never touch a widget; they post these messages (posting is
thread-safe) and the handlers update the screen. The data classes are what a backend
returns, so the screens never see the engine's own types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from textual.message import Message
from textual.message_pump import MessagePump

from engine import DocsightError, FileState, IndexStatus, SyncProgress, source_ref


@dataclass(frozen=True)
class IndexView:
    """The index as the status line shows it: its status, and `served_by`, the owner's pid
    while this app is a client of another docsight."""

    status: IndexStatus
    served_by: int | None = None


@dataclass(frozen=True)
class SourceRef:
    """A chunk an answer cited or retrieved. `n` is the number shown as [n]."""

    n: int
    path: str
    start_line: int | None
    end_line: int | None
    page: int | None = None
    heading: str = ""
    score: float | None = None
    text: str = ""
    cited: bool = True
    by: str = ""

    @property
    def where(self) -> str:
        """`guide/keys.md:40-58` (or `report.pdf p.3`)."""
        return source_ref(self.path, self.start_line, self.end_line, self.page)


@dataclass(frozen=True)
class QuoteRef:
    """A sentence quoted verbatim from source [n], at its exact place on disk."""

    text: str
    n: int
    where: str


@dataclass(frozen=True)
class SentenceRef:
    """A sentence the model wrote, after checking: its citations, who placed them
    ("model" or "attribution"), whether any passage supports it, and the unit it is
    ("sentence", "item", "row", "heading", "code": a code line is shown in a code block)."""

    text: str
    citations: tuple[int, ...] = ()
    by: str = "model"
    supported: bool = True
    kind: str = "sentence"


@dataclass
class AnswerResult:
    question: str
    answer: str = ""
    generated: bool = False
    incomplete: bool = False
    reason: str = ""
    citations: list[SourceRef] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    conversation_id: str | None = None
    model: str = ""
    quote: list[QuoteRef] = field(default_factory=list)
    sentences: list[SentenceRef] = field(default_factory=list)
    declined: bool = False
    followup: bool = False
    relevance: float | None = None
    indexing: str = ""

    @property
    def refs(self) -> list[SourceRef]:
        """Cited first, then the retrieved ones nobody cited."""
        return [*self.citations, *self.sources]


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    turns: int
    updated: float | None = None


@dataclass(frozen=True)
class SourceText:
    """A file as the viewer shows it: its lines and the language to highlight it as."""

    path: str
    lines: list[str]
    language: str  # a Pygments lexer alias, or "text"
    pages: list[int | None] | None = None  # per line, for PDFs


@dataclass(frozen=True)
class IndexState:
    """Everything the status line shows."""

    folder: str = ""
    phase: Literal["opening", "syncing", "watching", "idle", "failed"] = "opening"
    files: int = 0
    chunks: int = 0
    done: int = 0
    total: int = 0
    unit: str = "files"
    rate: float | None = None
    seconds_left: float | None = None  # of the sync in progress, at its rate so far
    embedded: int = 0  # chunks embedded by the sync in progress
    reused: int = 0  # chunks whose vectors the catalog's cache held (not embedded again)
    failed: int = 0  # files that could not be read (the folder browser says why)
    last_sync: float | None = None  # when the index last finished a sync (epoch seconds)
    changed: int | None = None  # files that sync added, changed, moved or deleted (None: unknown)
    degraded: str = ""
    error: str = ""
    embedding_model: str = ""
    model: str = "model: waiting"
    model_ready: bool | None = None
    served_by: int | None = None  # the pid of the docsight that owns the index, if another

    def but(self, **changes: Any) -> IndexState:
        return replace(self, **changes)


# messages ---------------------------------------------------------------------------------
# What a worker reports goes to the one screen (or the app) that asked: it does not bubble.
def poster(target: MessagePump, message: Callable[..., Message]) -> Callable[..., None]:
    """A callback for engine threads: each call posts `message(*args)` to `target`."""

    def post(*args: Any) -> None:
        target.post_message(message(*args))

    return post


def one_line(error: BaseException) -> str:
    """A failure as one line a person can act on (never a traceback)."""
    text = str(error).strip().splitlines()
    reason = text[0] if text else ""
    if isinstance(error, DocsightError):
        return reason or type(error).__name__
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__


class EngineOpened(Message, bubble=False):
    def __init__(self, view: IndexView) -> None:
        super().__init__()
        self.view = view


class IndexEvent(Message, bubble=False):
    """One engine event (engine.events), posted from the sync or watcher thread."""

    def __init__(self, event: object) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        """Progress still queued behind newer progress of its phase is stale: the UI skips
        it, so a sync of thousands of files cannot flood the screen. Another phase's does
        not replace it: a batch committing must not hide how many files were loaded."""
        return (
            isinstance(message, IndexEvent)
            and isinstance(self.event, SyncProgress)
            and isinstance(message.event, SyncProgress)
            and message.event.phase == self.event.phase
        )


class StatusLoaded(Message, bubble=False):
    def __init__(self, view: IndexView) -> None:
        super().__init__()
        self.view = view


class WatchStarted(Message, bubble=False):
    def __init__(self, live: bool, reason: str = "") -> None:
        super().__init__()
        self.live = live
        self.reason = reason


class FilesLoaded(Message, bubble=False):
    def __init__(self, states: dict[str, FileState]) -> None:
        super().__init__()
        self.states = states


class ModelState(Message, bubble=False):
    def __init__(self, text: str, ready: bool | None) -> None:
        super().__init__()
        self.text = text
        self.ready = ready


class AnswerToken(Message, bubble=False):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class AnswerSources(Message, bubble=False):
    """Retrieval finished: what the answer will be built on (shown before the first token)."""

    def __init__(self, refs: list[SourceRef]) -> None:
        super().__init__()
        self.refs = refs


class AnswerQuote(Message, bubble=False):
    """The quote, before the model starts: what the sources say, verbatim."""

    def __init__(self, quote: list[QuoteRef], followup: bool, indexing: str) -> None:
        super().__init__()
        self.quote = quote
        self.followup = followup
        self.indexing = indexing


class AnswerNote(Message, bubble=False):
    """A line about the answer in flight ("waiting for the first index...")."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class AnswerFinished(Message, bubble=False):
    """The end of a stream; `result` is None when the worker failed."""

    def __init__(self, result: AnswerResult | None) -> None:
        super().__init__()
        self.result = result


class ConversationsLoaded(Message, bubble=False):
    def __init__(self, conversations: list[ConversationInfo]) -> None:
        super().__init__()
        self.conversations = conversations


class ConversationLoaded(Message, bubble=False):
    def __init__(self, conversation_id: str, turns: list[AnswerResult]) -> None:
        super().__init__()
        self.conversation_id = conversation_id
        self.turns = turns


class OpenSource(Message):
    """Open the viewer on `refs[index]`; next/previous walk the other refs."""

    def __init__(self, refs: list[SourceRef], index: int) -> None:
        super().__init__()
        self.refs = refs
        self.index = index


class EditSource(Message):
    """Open `ref`'s file in $VISUAL or $EDITOR at its first cited line."""

    def __init__(self, ref: SourceRef) -> None:
        super().__init__()
        self.ref = ref


class SourceLoaded(Message, bubble=False):
    """A file read and highlighted for the viewer (`lines` are Rich Text objects)."""

    def __init__(self, source: SourceText, lines: list[Any]) -> None:
        super().__init__()
        self.source = source
        self.lines = lines
