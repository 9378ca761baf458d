"""The folder browser's view of the engine: each file's state as the app's `FileState`."""

from __future__ import annotations

from typing import Any

from tui.messages import FileState


def file_states(engine: Any) -> dict[str, FileState]:
    """path -> state for every file the folder holds (ignored directories end with "/")."""
    return {state["path"]: FileState(**state) for state in engine.file_states()}
