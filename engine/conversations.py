"""Saved conversations: every question, its answer, citations, model and timings (SQLite).

One database per folder, in the folder's index directory, so `docsight forget` takes the
conversations with the index. WAL mode lets a second docsight process read and append while
the owner runs. Each turn keeps the passages it was answered from (where, heading, score and
the start of the text), so a resumed conversation shows its sources as they were.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL, answer TEXT NOT NULL, result TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, id);
"""
TITLE_CHARS = 60


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    result: dict[str, Any] = field(default_factory=dict)  # the `ask --json` document
    created: float = 0.0
    passages: list[dict[str, Any]] = field(default_factory=list)  # Context.as_saved() of each


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    turns: int
    created: float
    updated: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "turns": self.turns,
            "created": self.created,
            "updated": self.updated,
        }


class Conversations:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():  # questions and answers about private notes: 0600
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._add_passages_column()

    def _add_passages_column(self) -> None:
        """Databases made before turns kept their passages get the column, empty."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(turns)")}
        if "passages" not in columns:
            with self._db:
                self._db.execute("ALTER TABLE turns ADD COLUMN passages TEXT NOT NULL DEFAULT '[]'")

    def close(self) -> None:
        self._db.close()

    def new(self, first_question: str) -> str:
        conversation_id = uuid.uuid4().hex[:12]
        title = " ".join(first_question.split())
        if len(title) > TITLE_CHARS:
            title = title[: TITLE_CHARS - 1].rstrip() + "…"
        now = time.time()
        with self._db:
            self._db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?)", (conversation_id, title, now, now)
            )
        return conversation_id

    def exists(self, conversation_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
        return row.fetchone() is not None

    def add_turn(
        self,
        conversation_id: str,
        question: str,
        result: dict[str, Any],
        passages: Sequence[dict[str, Any]] = (),
    ) -> None:
        """`result` is the `ask --json` document; `passages` what the answer was given
        (engine.prompt.Context.as_saved)."""
        now = time.time()
        saved = json.dumps(list(passages))
        answer = result.get("answer", "")
        with self._db:
            self._db.execute(
                "INSERT INTO turns (conversation_id, question, answer, result, created, passages) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, question, answer, json.dumps(result), now, saved),
            )
            self._db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id)
            )

    def turns(self, conversation_id: str) -> list[Turn]:
        rows = self._db.execute(
            "SELECT question, answer, result, created, passages FROM turns "
            "WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        )
        return [Turn(q, a, json.loads(r), c, json.loads(p)) for q, a, r, c, p in rows]

    def list(self) -> list[ConversationSummary]:
        rows = self._db.execute(
            "SELECT c.id, c.title, COUNT(t.id), c.created, c.updated FROM conversations c "
            "LEFT JOIN turns t ON t.conversation_id = c.id GROUP BY c.id ORDER BY c.updated DESC"
        )
        return [ConversationSummary(*row) for row in rows]

    def delete(self, conversation_id: str) -> bool:
        with self._db:
            cursor = self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return cursor.rowcount > 0
