"""A deterministic stand-in for `tui.session.backend.Backend`, for snapshot tests only.

Snapshots must compare byte for byte, so what varies from run to run (model text, rates,
timings, temporary paths) is fixed here. It speaks the same protocol as `EngineBackend`
and raises the same kind of errors; behaviour tests use the real engine instead.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import tui.app
from engine import FileState, IndexStatus, LeftOutFile, SourceUnreadable
from engine import events as ev
from engine.events import SyncReport
from tui.app import DocsightApp
from tui.messages import (
    AnswerResult,
    ConversationInfo,
    IndexView,
    QuoteRef,
    SentenceRef,
    SourceRef,
    SourceText,
)
from tui.session.backend import EventSink, ModelSink, QuoteSink, RefsSink, TokenSink

KEYS_MD = """\
# Signing keys

docsight signs nothing itself; this page is an example runbook.

## Rotate

Rotate the signing key every 90 days:

```sh
keyctl rotate --key signing --grace 7d
keyctl publish signing
```

The old key stays valid for the grace period, so clients that cached it
keep working while they fetch the new one.

## Revoke

Revoke a key at once when it leaks: `keyctl revoke signing`.
Clients reject it on their next refresh.
"""

BACKUP_MD = "\n".join(
    ["# Backups", ""]
    + [
        f"Step {n}: copy the database snapshot number {n} to the offsite bucket."
        for n in range(1, 41)
    ]
)

SOURCES = {"guide/keys.md": KEYS_MD, "guide/backup.md": BACKUP_MD}

FILE_STATES = [
    FileState("guide/keys.md", "indexed", chunks=3),
    FileState("guide/backup.md", "indexed", chunks=5),
    FileState("notes/todo.txt", "pending"),
    FileState("notes/scan.pdf", "failed", reason="no text layer (a scanned image)"),
    FileState("build/", "ignored", reason=".gitignore: build/"),
    FileState(".env", "ignored", reason="a secrets file"),
]

FAILED = [state for state in FILE_STATES if state.state == "failed"]

ROTATE = SourceRef(
    1, "guide/keys.md", 7, 15, heading="Signing keys > Rotate", score=0.82, text=KEYS_MD[90:300]
)
REVOKE = SourceRef(
    2,
    "guide/keys.md",
    17,
    20,
    heading="Signing keys > Revoke",
    score=0.61,
    text=KEYS_MD[KEYS_MD.index("Revoke a key") :],
)
BACKUP = SourceRef(
    3, "guide/backup.md", 20, 24, score=0.33, text="Step 18: copy the snapshot", cited=False
)

ANSWER = (
    "Rotate the signing key **every 90 days** [1]:\n\n"
    "```sh\nkeyctl rotate --key signing --grace 7d\n```\n\n"
    "The old key stays valid for the grace period [1]; revoke a leaked key at once [2]."
)

QUOTE = [QuoteRef("Rotate the signing key every 90 days:", 1, "guide/keys.md:7")]

# The answer as docsight's check leaves it (markers out of the text, in `citations`): the
# second sentence's marker was placed by docsight, the last names a flag no passage has.
SENTENCES = [
    SentenceRef("Rotate the signing key **every 90 days**:", (1,)),
    SentenceRef("keyctl rotate --key signing --grace 7d", (1,), kind="code"),
    SentenceRef("The old key stays valid for the grace period.", (1,), "attribution"),
    SentenceRef("Pass --force to skip the grace period.", (), "model", supported=False),
]
MODEL_DOWN = "no model server answered at http://127.0.0.1:9/v1 (connection refused)"
LAST_SYNC = time.mktime((2026, 12, 2, 14, 5, 9, 0, 0, -1))  # 14:05:09 in any time zone
CONVERSATIONS = [
    ConversationInfo("c2", "How do I rotate the signing key?", 2),
    ConversationInfo("c1", "Where do backups go?", 1),
]


class StandInBackend:
    """Fixed folder, files, sources, answers and conversations; no threads, no clock."""

    def __init__(
        self, model_ready: bool = True, tokens: list[str] | None = None, syncing: bool = False
    ) -> None:
        self.folder = Path("/srv/notes")
        self.model_ready = model_ready
        self.syncing = syncing
        self.tokens = tokens if tokens is not None else ANSWER.split(" ")
        self.conversation_list = list(CONVERSATIONS)
        self.asked: list[tuple[str, list[str], str | None]] = []
        self.closed = False

    def open(self) -> IndexView:
        return self.status()

    def watch(self, on_event: EventSink) -> tuple[bool, str]:
        on_event(ev.SyncStarted("full"))
        if self.syncing:  # a sync in its embedding phase, too young to have a rate
            on_event(ev.SyncProgress("index", 120, 900, 300, 2000, 1900))
            on_event(ev.FileIndexed("guide/keys.md", 3, 3, True))
        else:  # the first sweep found two files edited since the last run
            on_event(ev.SyncFinished(SyncReport(files_scanned=4, files_changed=2)))
        return True, ""

    def sync(self, on_event: EventSink) -> None:
        on_event(ev.SyncStarted("full"))  # nothing changed since the first sweep
        on_event(ev.SyncFinished(SyncReport(files_scanned=4)))

    def status(self) -> IndexView:
        return IndexView(
            IndexStatus(
                files=3,
                chunks=8,
                embedding_model="sentence-transformers/all-MiniLM-L6-v2",
                failed=tuple(LeftOutFile(f.path, f.reason) for f in FAILED),
                last_sync=LAST_SYNC,
            )
        )

    def file_states(self) -> dict[str, FileState]:
        return {state.path: state for state in FILE_STATES}

    def read_source(self, path: str) -> SourceText:
        if path not in SOURCES:
            raise SourceUnreadable(f"cannot show {path}: no such file")
        return SourceText(path, SOURCES[path].split("\n"), "markdown")

    def start_model(self, on_state: ModelSink) -> None:
        if self.model_ready:  # as the answer API says them (tui/widgets/answers.py)
            on_state("llama.cpp SmolLM2-135M-Instruct.Q4_1.gguf: ready", True)
        else:
            on_state(f"unavailable: {MODEL_DOWN}", False)

    def ask(
        self,
        question: str,
        prefixes: list[str],
        conversation_id: str | None,
        on_sources: RefsSink,
        on_token: TokenSink,
        cancel: threading.Event,
        on_quote: QuoteSink | None = None,
    ) -> AnswerResult:
        self.asked.append((question, prefixes, conversation_id))
        refs = [ROTATE, REVOKE, BACKUP]
        on_sources(refs)
        if on_quote is not None:
            on_quote(QUOTE, False, "")
        if not self.model_ready:
            unanswered = [SourceRef(**{**r.__dict__, "cited": False}) for r in refs]
            return AnswerResult(
                question,
                reason="connection refused",
                sources=unanswered,
                conversation_id="c3",
                quote=QUOTE,
            )
        return self._stream(question, on_token, cancel)

    def _stream(self, question: str, on_token: TokenSink, cancel: threading.Event) -> AnswerResult:
        sent: list[str] = []
        for token in self.tokens:
            if cancel.is_set():
                break
            fragment = token if not sent else " " + token
            on_token(fragment)
            sent.append(fragment)
        return AnswerResult(
            question,
            answer="".join(sent),
            generated=True,
            incomplete=cancel.is_set(),
            reason="stopped" if cancel.is_set() else "",
            citations=[ROTATE, REVOKE],
            sources=[BACKUP],
            conversation_id="c3",
            model="SmolLM2-135M",
            quote=QUOTE,
            sentences=[] if cancel.is_set() else SENTENCES,
        )

    def conversations(self) -> list[ConversationInfo]:
        return list(self.conversation_list)

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        first = AnswerResult(
            "How do I rotate the signing key?",
            answer=ANSWER,
            generated=True,
            citations=[ROTATE, REVOKE],
            sources=[BACKUP],
            conversation_id=conversation_id,
        )
        return [first]

    def delete_conversation(self, conversation_id: str) -> None:
        self.conversation_list = [c for c in self.conversation_list if c.id != conversation_id]

    def close(self) -> None:
        self.closed = True


class PatientApp(DocsightApp):
    """The app with toasts that stay until the test ends: on a busy machine the steps
    before an assertion can take longer than a toast's 5 seconds on screen."""

    NOTIFICATION_TIMEOUT = 3600
    CSS_PATH = str(Path(tui.app.__file__).with_name("app.tcss"))  # else relative to tests/


LONG_CODE_LINE = "keyctl rotate --key signing --grace 7d --notify ops@example.com --keep-old 3"


class LongCodeBackend(StandInBackend):
    """The stand-in whose saved conversation answers with a code line wider than 80."""

    def conversation(self, conversation_id: str) -> list[AnswerResult]:
        answer = ANSWER.replace("keyctl rotate --key signing --grace 7d", LONG_CODE_LINE)
        return [AnswerResult("How do I rotate the signing key?", answer=answer, generated=True)]
