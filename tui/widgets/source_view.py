"""The source viewer's text: a line-API widget, so a file of any length scrolls at once.

Lines are highlighted by Pygments (in the worker that read the file) with Rich's ANSI
syntax themes, which stay readable in a 16-colour terminal. Cited lines get a background,
the cursor line a marker in the gutter, a search match its own style.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine import clean_line
from tui.messages import SourceText

HIGHLIGHT_LIMIT = 2_000_000  # characters; larger files are shown without colours


def highlight(source: SourceText, dark: bool = True) -> list[Text]:
    """One styled Text per line of `source` (control characters made visible first)."""
    lines = [clean_line(line) for line in source.lines]
    code = "\n".join(lines)
    if source.language == "text" or len(code) > HIGHLIGHT_LIMIT:
        return [Text(line, end="") for line in lines]
    syntax = Syntax("", source.language, theme="ansi_dark" if dark else "ansi_light")
    styled = syntax.highlight(code)
    styled.remove_suffix("\n")  # the lexer ends the text with one
    split = list(styled.split("\n", allow_blank=True))
    split += [Text("", end="") for _ in range(len(lines) - len(split))]  # blank last lines
    if [line.plain for line in split] != lines:  # never show a line under another's number
        return [Text(line, end="") for line in lines]
    return split


class SourceView(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "source-view--gutter",
        "source-view--cursor",
        "source-view--cited",
        "source-view--match",
        "source-view--mark",
    }
    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", "Top", show=False),
        Binding("end", "edge(1)", "Bottom", show=False),
    ]

    cursor: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[Text] = []
        self.plain: list[str] = []
        self.cited: tuple[int, int] | None = None  # 0-based, inclusive
        self.match: tuple[int, int, int] | None = None  # line, start, end

    def show(self, lines: list[Text]) -> None:
        self.lines = lines
        self.plain = [line.plain for line in lines]
        self.match = None
        width = max((line.cell_len for line in lines), default=0)
        self.virtual_size = Size(width + self.gutter_width + 1, len(lines))
        self.cursor = 0
        self.refresh()

    @property
    def gutter_width(self) -> int:
        return len(str(max(len(self.lines), 1))) + 2

    # moving -------------------------------------------------------------------------------
    def focus_lines(self, first: int, last: int) -> None:
        """Mark lines first..last (0-based) as cited, put the cursor there, centre them."""
        last = max(first, min(last, len(self.lines) - 1))
        self.cited = (first, last)
        self.match = None
        self.cursor = first
        self.refresh()
        self.call_after_refresh(self._centre, first, last)  # once the new size is known

    def _centre(self, first: int, last: int) -> None:
        span = last - first + 1
        top = first - max(0, (self.scrollable_content_region.height - span) // 2)
        self.scroll_to(y=max(0, top), animate=False, immediate=True)

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()

    def action_move(self, delta: int) -> None:
        self._go(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._go(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_edge(self, end: int) -> None:
        self._go(len(self.lines) - 1 if end else 0)

    def _go(self, line: int) -> None:
        self.cursor = max(0, min(line, len(self.lines) - 1))
        height = self.scrollable_content_region.height
        if self.cursor < self.scroll_y:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= self.scroll_y + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def find(self, query: str, forward: bool = True) -> bool:
        """Move to the next (or previous) line containing `query`, case-insensitive."""
        needle = query.lower()
        if not needle or not self.plain:
            return False
        total = len(self.plain)
        for step in range(1, total + 1):
            index = (self.cursor + (step if forward else -step)) % total
            column = self.plain[index].lower().find(needle)
            if column >= 0:
                self.match = (index, column, column + len(needle))
                self._go(index)
                self.refresh()
                return True
        return False

    # drawing ------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[index].copy()
        cited = self.cited is not None and self.cited[0] <= index <= self.cited[1]
        if self.match is not None and self.match[0] == index:
            line.stylize(self.get_component_rich_style("source-view--match"), *self.match[1:])
        body = Strip(list(line.render(self.app.console)), line.cell_len)
        fill = base + self.get_component_rich_style("source-view--cited") if cited else base
        body = body.apply_style(fill).crop_extend(
            scroll_x, scroll_x + width - self.gutter_width, fill
        )
        return Strip([*self._gutter(index, cited, base), *body], width)

    def _gutter(self, index: int, cited: bool, base: Style) -> list[Segment]:
        number = f"{index + 1:>{self.gutter_width - 2}}"
        style = base + self.get_component_rich_style("source-view--gutter")
        if index == self.cursor:
            style = base + self.get_component_rich_style("source-view--cursor")
        mark = "▌" if cited else " "
        mark_style = self.get_component_rich_style("source-view--mark") if cited else Style()
        return [Segment(number, style), Segment(mark, style + mark_style), Segment(" ", base)]
