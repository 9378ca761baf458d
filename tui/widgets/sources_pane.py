"""The sources of the current answer: cited chunks first, then the retrieved ones."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine import clean
from tui.messages import EditSource, OpenSource, SourceRef
from tui.render.safe import snippet

LINE_WIDTH = 38  # of a source's lines before the pane has a size (a 44-column pane)
MIN_SNIPPET = 12


def elide_middle(text: str, width: int) -> str:
    """`guide/…/keys.md` rather than a wrapped line: the start and the end of a path say
    most about it."""
    if len(text) <= width:
        return text
    keep = max(width, 1) - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]


def where_within(ref: SourceRef, width: int) -> str:
    """`ref.where` on at most `width` columns: the path elided, the line range kept."""
    where = clean(ref.where)
    suffix = where[len(clean(ref.path)) :]
    return elide_middle(clean(ref.path), max(1, width - len(suffix))) + suffix


def source_line(ref: SourceRef, width: int = LINE_WIDTH) -> Text:
    """Two lines of at most `width` columns: `[2] guide/keys.md:40-58`, then
    `0.82  "Rotate the signing key..."`."""
    number = f"[{ref.n}] "
    text = Text(number, style="bold" if ref.cited else "dim", end="")
    text.append(where_within(ref, width - len(number)), style="" if ref.cited else "dim")
    text.append("\n    ")
    room = width - 4 - 2  # the indent, the quotes
    if ref.score is not None:
        text.append(f"{ref.score:.2f}  ", style="dim")
        room -= 6
    text.append(f'"{snippet(ref.text, max(room, MIN_SNIPPET))}"', style="italic dim")
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
        self._width = 0  # the line width the options were made for

    def show(self, refs: list[SourceRef]) -> None:
        self.refs = refs
        self._fill(0 if refs else None)
        self.border_subtitle = f"{sum(r.cited for r in refs)} cited · {len(refs)} in all"
        self.display = bool(refs)

    def _fill(self, highlighted: int | None) -> None:
        self._width = self._line_width()
        self.clear_options()
        self.add_options(
            Option(source_line(ref, self._width), id=f"ref-{index}")
            for index, ref in enumerate(self.refs)
        )
        self.highlighted = highlighted

    def _line_width(self) -> int:
        width = self.scrollable_content_region.width
        return width - 1 if width > MIN_SNIPPET else LINE_WIDTH  # room for a scrollbar

    def on_resize(self, event: events.Resize) -> None:
        if self.refs and self._line_width() != self._width:
            self._fill(self.highlighted)

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
