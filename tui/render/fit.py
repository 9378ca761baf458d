"""Fitting a line of parts into a width: the least important part gives way first.

A status line says several things at once; when the terminal is narrow, what matters
(the model's state, a failure's reason) must stay while what is merely nice (a model's
file name, a rate) gives way: shortened in the middle, cut at its end, or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from rich.text import Text

ELLIPSIS = "…"
Shrink = Literal["keep", "drop", "middle", "end"]


@dataclass(frozen=True)
class Part:
    """A piece of the line: `priority` (higher stays longer) and how it gives way;
    "middle" and "end" shorten it down to `least` cells, never below. A long part may
    grow at `priority` only up to `soon` cells, and past them at `later` (a reason's
    first words matter more than its last)."""

    text: Text
    priority: int
    shrink: Shrink = "keep"
    least: int = 0
    soon: int | None = None
    later: int = 0

    def requests(self) -> list[tuple[int, int]]:
        """(priority, cells up to which it grows at that priority), most wanted first."""
        full = self.text.cell_len
        if self.soon is None or self.soon >= full:
            return [(self.priority, full)]
        return [(self.priority, self.soon), (self.later, full)]

    def at_least(self) -> int:
        """The cells it takes when everything gives way."""
        if self.shrink == "drop":
            return 0
        if self.shrink == "keep":
            return self.text.cell_len
        return min(self.least, self.text.cell_len)


def elide_middle(text: Text, width: int) -> Text:
    """`SmolLM2-1…Q4_1.gguf`: both ends of a name tell it apart, so both stay."""
    if text.cell_len <= width:
        return text
    if width <= 1:
        return Text(ELLIPSIS[:width], end="")
    head = width // 2
    tail = width - 1 - head
    result = text[:head]
    result.append(ELLIPSIS)
    if tail:
        result.append_text(text[len(text) - tail :])
    return result


def elide_end(text: Text, width: int) -> Text:
    if text.cell_len <= width:
        return text
    result = text[: max(0, width - 1)]
    result.append(ELLIPSIS)
    return result


def fit(parts: list[Part], width: int) -> list[Part]:
    """`parts` fitted into `width` cells: each starts as small as it may be, then the
    room left goes to them most important first (a part dropped comes back only whole).
    Their order on the line stays as given."""
    room = width - sum(part.at_least() for part in parts)
    sizes = {n: part.at_least() for n, part in enumerate(parts)}
    wants = [(priority, n, upto) for n, p in enumerate(parts) for priority, upto in p.requests()]
    for _, n, upto in sorted(wants, key=lambda want: (-want[0], want[1])):
        wanted = upto - sizes[n]
        if parts[n].shrink == "drop":
            if 0 < wanted <= room:
                sizes[n], room = upto, room - wanted
        elif wanted > 0 and room > 0:
            grow = min(wanted, room)
            sizes[n], room = sizes[n] + grow, room - grow
    fitted = []
    for n, part in enumerate(parts):
        if sizes[n] == 0 and part.text.cell_len:
            continue
        if sizes[n] >= part.text.cell_len:
            fitted.append(part)
            continue
        shorten = elide_middle if part.shrink == "middle" else elide_end
        fitted.append(replace(part, text=shorten(part.text, sizes[n])))
    return fitted


def joined(parts: list[Part]) -> Text:
    text = Text(end="", no_wrap=True)
    for part in parts:
        text.append_text(part.text)
    return text
