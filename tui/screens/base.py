"""What every screen of the docsight app shares: the app, with its type."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import ModalScreen, Screen

if TYPE_CHECKING:
    from tui.app import DocsightApp

ResultType = TypeVar("ResultType")


class DocsightScreen(Screen[ResultType]):
    @property
    def docsight(self) -> DocsightApp:
        """`self.app`, typed: the screens call the app's workers and read its state."""
        return cast("DocsightApp", self.app)


class DocsightModal(ModalScreen[ResultType], DocsightScreen[ResultType]):
    """A modal screen of the docsight app."""
