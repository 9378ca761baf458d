"""The sources of the current answer: cited chunks first, then the retrieved ones."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.messages import EditSource, OpenSource, SourceRef
from tui.widgets.safe import clean, snippet


def source_line(ref: SourceRef, width: int = 26) -> Text:
    """Two lines: `[2] guide/keys.md:40-58`, then `0.82  "Rotate the signing key..."`."""
    text = Text(f"[{ref.n}] ", style="bold" if ref.cited else "dim", end="")
    text.append(clean(ref.where), style="" if ref.cited else "dim")
    text.append("\n    ")
    if ref.score is not None:
        text.append(f"{ref.score:.2f}  ", style="dim")
    text.append(f'"{snippet(ref.text, width)}"', style="italic dim")
    return text


class SourcesPane(OptionList):
    BINDINGS = [
        *[Binding(str(n), f"jump({n})", f"Citation {n}", show=False) for n in range(1, 10)],
        Binding(
            "e", "edit", "Edit", id="edit", tooltip="Open $VISUAL or $EDITOR at the cited line"
        ),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.refs: list[SourceRef] = []
        self.border_title = "Sources"

    def show(self, refs: list[SourceRef]) -> None:
        self.refs = refs
        self.clear_options()
        self.add_options(
            Option(source_line(ref), id=f"ref-{index}") for index, ref in enumerate(refs)
        )
        self.border_subtitle = f"{sum(r.cited for r in refs)} cited · {len(refs)} in all"
        self.display = bool(refs)
        self.highlighted = 0 if refs else None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(OpenSource(self.refs, event.option_index))

    def action_edit(self) -> None:
        if self.highlighted is None or self.highlighted >= len(self.refs):
            self.app.bell()
            return
        self.post_message(EditSource(self.refs[self.highlighted]))

    def action_jump(self, n: int) -> None:
        """Open citation [n] (number keys)."""
        for index, ref in enumerate(self.refs):
            if ref.n == n:
                self.highlighted = index
                self.post_message(OpenSource(self.refs, index))
                return
        self.app.bell()
