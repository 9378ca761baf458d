"""HTML -> readable lines, each carrying the line of the HTML file it came from.

Built on the standard library's `html.parser`, which reports the source position of every
piece of text (BeautifulSoup only knows where tags start). Scripts, styles, navigation,
headers, footers and forms are dropped; headings become markdown headings; block elements
end a paragraph; <pre> keeps its lines inside a ``` fence (so a shell comment is no
heading). Reference pages are mostly definition lists: a term (<dt>, an option or a
setting) is marked and stays in one paragraph with the first lines of its description, so
the chunker keeps an entry's name with its text. A table row is one line, cells "|"-joined.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from engine.types import SourceLine

DROPPED = {
    "script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside",
    "form", "button", "head", "iframe", "object", "canvas", "select", "option",
}  # fmt: skip
BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd",
    "table", "thead", "tbody", "blockquote", "pre", "br", "hr", "figure", "figcaption",
    "h1", "h2", "h3", "h4", "h5", "h6", "details", "summary", "body", "title",
}  # fmt: skip
VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source",
        "track", "wbr", "param"}  # fmt: skip
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
SPACES = re.compile(r"\s+")
MARKUP = re.compile(r"^(#{1,6}(\s|$)|`{3,}|~{3,})")  # what the chunker would read as syntax
FENCE = "```"


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[SourceLine] = []
        self._dropped = 0
        self._pre = 0
        self._heading = 0
        self._line_text = ""
        self._line_no: int | None = None
        self._stack: list[str] = []
        self._glue = False  # a term (<dt>) just ended: its description continues the block
        self._line_term = False  # the open line is (part of) a term

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            if tag in BLOCKS and not self._dropped:
                self._end_line()
            return
        self._stack.append(tag)
        if tag in DROPPED:
            self._dropped += 1
        elif self._dropped:
            return
        if tag in BLOCKS and not self._in_cell():
            self._end_block()
        elif tag in BLOCKS and not self._line_text.endswith(" "):
            self._line_text += " "  # a paragraph inside a table cell: the row stays one line
        if tag == "tr":
            self._end_row()
        if tag in ("td", "th"):
            self._line_text += " | " if self._line_text.strip() else "| "
        if tag in HEADINGS:
            self._heading = HEADINGS[tag]
        if tag == "pre":
            if not self._pre:  # preformatted text is code: fenced, so "# x" is no heading
                self.lines.append(SourceLine(FENCE, self.getpos()[0]))
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._stack:
            return
        while self._stack:
            open_tag = self._stack.pop()
            self._close(open_tag)
            if open_tag == tag:
                break

    def _close(self, tag: str) -> None:
        if tag in DROPPED:
            self._dropped -= 1
            return
        if self._dropped:
            return
        if tag == "pre":
            self._pre -= 1
            if not self._pre:
                self._end_line()
                while self.lines and not self.lines[-1].text.strip():
                    self.lines.pop()
                self.lines.append(SourceLine(FENCE, self.getpos()[0]))
        if tag == "dt":
            self._end_line()
            self._glue = True
        elif tag in ("tr", "table"):
            self._end_row()
        if tag in BLOCKS and tag != "dt" and not self._in_cell():
            self._end_block()
        if tag in HEADINGS:
            self._heading = 0

    def handle_data(self, data: str) -> None:
        if self._dropped or not data:
            return
        line_no = self.getpos()[0]
        for offset, piece in enumerate(data.split("\n")):
            if offset:
                self._newline_in_text(line_no + offset)
            self._add(piece, line_no + offset)

    def _newline_in_text(self, next_line: int) -> None:
        if self._pre or self._line_text.strip():
            self._end_line(keep_empty=bool(self._pre))

    def _add(self, piece: str, line_no: int) -> None:
        text = piece if self._pre else SPACES.sub(" ", piece)
        if not self._pre and not self._line_text.strip():
            text = text.lstrip()
        if not text and not self._pre:
            return
        if self._line_no is None:
            self._line_no = line_no
        if self._heading and not self._line_text:
            text = "#" * self._heading + " " + text
        self._line_text += text
        self._glue = False
        self._line_term = self._line_term or "dt" in self._stack

    def _end_line(self, keep_empty: bool = False) -> None:
        text = self._line_text.rstrip()
        if (text.strip() or keep_empty) and self._line_no is not None:
            # the open line is a heading's while its element is open (every line of it)
            literal = not self._pre and not self._heading and bool(MARKUP.match(text))
            line = SourceLine(text, self._line_no, term=self._line_term, literal=literal)
            self.lines.append(line)
        self._line_text, self._line_no, self._line_term = "", None, False

    def _in_cell(self) -> bool:
        return "td" in self._stack or "th" in self._stack

    def _end_row(self) -> None:
        if self._line_text.startswith("| "):
            self._line_text = self._line_text.rstrip() + " |"
        self._end_line()

    def _end_block(self) -> None:
        self._end_line()
        if self._glue:
            return
        if self.lines and self.lines[-1].text.strip():
            self.lines.append(SourceLine("", self.lines[-1].line))

    def close(self) -> None:
        super().close()
        self._end_line()


def html_lines(text: str) -> list[SourceLine]:
    extractor = _Extractor()
    extractor.feed(text)
    extractor.close()
    lines = extractor.lines
    while lines and not lines[-1].text.strip():
        lines.pop()
    return lines
