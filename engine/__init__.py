"""docsight's engine: one folder's live index, and cited answers from it.

This is the one door the TUI and the CLI use (an import contract in pyproject.toml keeps
`tui` out of the modules behind it). Names that need numpy, Milvus, the encoder or the
watcher load on first use (PEP 562), so `docsight --help`, `status`, `indexes` and
`llm status` start without them; the light ones are imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from engine.config import (
    MAX_TOP_K,
    Settings,
    TUISettings,
    default_config_path,
    default_data_dir,
    load_settings,
)
from engine.errors import (
    ConfigError,
    ConversationNotFound,
    DiskFull,
    DocsightError,
    EmbeddingUnavailable,
    EmptyQuestion,
    IndexLockedError,
    IndexNotOpen,
    LLMUnavailable,
    OwnerGone,
    OwnerRefused,
    QuestionsError,
    ReadRefused,
    RebuildNeeded,
    SourceUnreadable,
    StoreError,
    UsageError,
    translated,
)
from engine.evaluate import DEPTH as EVAL_DEPTH
from engine.evaluate import evaluate as evaluate_search
from engine.evaluate import read_questions
from engine.evaluate import report as eval_report
from engine.events import (
    Event,
    FileFailed,
    FileIndexed,
    FileMoved,
    FileRemoved,
    FileSkipped,
    OwnerChanged,
    SyncFinished,
    SyncProgress,
    SyncReport,
    SyncStarted,
    WatcherDegraded,
)
from engine.indexes import (
    conversations_path,
    index_dir_for,
    list_indexes,
    owner_pid,
    owner_serves,
    private_dir,
    read_status,
    secure_data_dir,
)
from engine.paths import on_disk
from engine.results import (
    FileLines,
    FileState,
    FileStateKind,
    IndexStatus,
    IndexSummary,
    LeftOutFile,
    ServerStatus,
    Source,
    source_ref,
)
from engine.types import Hit
from engine.units import join_units
from engine.visible import clean, clean_line

if TYPE_CHECKING:
    from engine.answer import Answer, Answerer
    from engine.client import OwnerClient, connect
    from engine.conversations import Conversations
    from engine.embed import Embedder
    from engine.engine import Engine, forget_index, open_answerer
    from engine.live import IndexAccess, LiveIndex
    from engine.llm import Endpoint
    from engine.llm_server import server_status, stop_server
    from engine.prompt import Context
    from engine.read import SourceLines, source_lines
    from engine.watch import Following

# name -> the module that defines it, imported when the name is first used
LAZY = {
    "Answer": "engine.answer",
    "Answerer": "engine.answer",
    "OwnerClient": "engine.client",
    "connect": "engine.client",
    "Conversations": "engine.conversations",
    "Embedder": "engine.embed",
    "Engine": "engine.engine",
    "forget_index": "engine.engine",
    "open_answerer": "engine.engine",
    "IndexAccess": "engine.live",
    "LiveIndex": "engine.live",
    "Endpoint": "engine.llm",
    "server_status": "engine.llm_server",
    "stop_server": "engine.llm_server",
    "Context": "engine.prompt",
    "SourceLines": "engine.read",
    "source_lines": "engine.read",
    "Following": "engine.watch",
}

__all__ = [
    "EVAL_DEPTH",
    "MAX_TOP_K",
    "Answer",
    "Answerer",
    "ConfigError",
    "Context",
    "ConversationNotFound",
    "Conversations",
    "DiskFull",
    "DocsightError",
    "Embedder",
    "EmbeddingUnavailable",
    "EmptyQuestion",
    "Endpoint",
    "Engine",
    "Event",
    "FileFailed",
    "FileIndexed",
    "FileLines",
    "FileMoved",
    "FileRemoved",
    "FileSkipped",
    "FileState",
    "FileStateKind",
    "Following",
    "Hit",
    "IndexAccess",
    "IndexLockedError",
    "IndexNotOpen",
    "IndexStatus",
    "IndexSummary",
    "LLMUnavailable",
    "LeftOutFile",
    "LiveIndex",
    "OwnerChanged",
    "OwnerClient",
    "OwnerGone",
    "OwnerRefused",
    "QuestionsError",
    "ReadRefused",
    "RebuildNeeded",
    "ServerStatus",
    "Settings",
    "Source",
    "SourceLines",
    "SourceUnreadable",
    "StoreError",
    "SyncFinished",
    "SyncProgress",
    "SyncReport",
    "SyncStarted",
    "TUISettings",
    "UsageError",
    "WatcherDegraded",
    "clean",
    "clean_line",
    "connect",
    "conversations_path",
    "default_config_path",
    "default_data_dir",
    "eval_report",
    "evaluate_search",
    "forget_index",
    "index_dir_for",
    "join_units",
    "list_indexes",
    "load_settings",
    "on_disk",
    "open_answerer",
    "owner_pid",
    "owner_serves",
    "private_dir",
    "read_questions",
    "read_status",
    "secure_data_dir",
    "server_status",
    "source_lines",
    "source_ref",
    "stop_server",
    "translated",
]


def __getattr__(name: str) -> Any:
    """A heavy name, imported on first use and kept here for the next."""
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY))
