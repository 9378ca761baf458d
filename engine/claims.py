"""Checking what an answer states against the passages it cites.

A small model copies figures wrongly (a documented 4 MB becomes 40 MB, minutes become
seconds) and cites a passage that says something else. So every generated sentence is
checked, whatever the model: its checkable facts must appear in a passage it cites.

- figures: numbers, with the unit that follows them ("100", "4 MB", "90 days", "2.5.1");
- names: `code`, --options, snake_case, dotted.names, CamelCase, UPPER_CASE;
- quoted strings ("simple", 'on-demand').

A sentence whose facts all appear in one of the passages it cites is supported. If they
appear in another passage instead, its marker moves there. If no passage holds them, the
marker goes and the sentence is marked unsupported. A sentence with nothing checkable is
supported when a passage clearly shares its words or meaning (engine/cite.py); otherwise it
is marked too: what cannot be checked is said to be unchecked, never shown as grounded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.cite import MARGIN, MARKER, SUPPORT, says_not_found
from engine.units import split_units

NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(?:\s*(%|[A-Za-z]{1,12}))?")
NAME = re.compile(
    r"`([^`\n]{1,80})`"
    r"|(?<![\w-])(--?[A-Za-z][\w-]*)"
    r"|\b([A-Za-z][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+)\b"
    r"|\b([a-z]+[A-Z][A-Za-z0-9]*)\b"
    r"|\b([A-Z][a-z]+[A-Z][A-Za-z0-9]*)\b"
    r"|\b([A-Z]{2,}[A-Z0-9_]*)\b"
)
QUOTED = re.compile(r"\"([^\"\n]{2,80})\"|(?<!\w)'([^'\n]{2,80})'(?!\w)|“([^”\n]{2,80})”")
SPACES = re.compile(r"\s+")
# Units a number may carry; a word after a number that is not one of these is not its unit
# ("3 files" is checked as "3"; "3 MB" needs "MB" beside a 3 in the passage).
UNITS = {
    "%", "b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "k", "m", "g",
    "byte", "bytes", "kilobytes", "megabytes", "gigabytes", "ms", "s", "sec", "secs",
    "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour",
    "hours", "day", "days", "week", "weeks", "month", "months", "year", "years", "px",
    "chars", "characters", "tokens", "lines", "dimensions",
}  # fmt: skip
UNIT_NAMES = {
    "sec": "s", "secs": "s", "second": "s", "seconds": "s", "min": "minute",
    "mins": "minute", "minutes": "minute", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "days": "day", "weeks": "week", "months": "month", "years": "year", "bytes": "byte",
    "b": "byte", "megabytes": "mb", "gigabytes": "gb", "kilobytes": "kb", "chars": "characters",
}  # fmt: skip
IGNORED_NAMES = {"I", "OK", "A", "AND", "OR", "NOT", "THE", "IT"}


@dataclass(frozen=True)
class Fact:
    """One checkable piece of a sentence: what it is, and how it must appear."""

    kind: str  # "figure", "name", "quoted"
    text: str  # as the sentence writes it
    number: str = ""  # figures: the number alone
    unit: str = ""  # figures: the unit, normalised ("" when none)


@dataclass
class Checked:
    """One sentence of an answer after checking."""

    text: str
    citations: list[int] = field(default_factory=list)
    by: str = "model"  # who placed the citations: "model", or "attribution" (docsight)
    supported: bool = True
    facts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # facts no cited passage holds
    kind: str = "sentence"  # the unit it is (engine/units.py): "sentence", "item", "code"...

    def as_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "kind": self.kind,
            "citations": self.citations,
            "by": self.by,
            "unsupported": not self.supported,
            "missing": self.missing,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Checked:
        return cls(
            str(document["text"]),
            [int(n) for n in document.get("citations") or []],
            str(document.get("by") or "model"),
            not document.get("unsupported"),
            missing=[str(fact) for fact in document.get("missing") or []],
            kind=str(document.get("kind") or "sentence"),
        )


def facts_of(sentence: str) -> list[Fact]:
    """The checkable facts of a sentence, markers left out."""
    plain = MARKER.sub(" ", sentence)
    found: list[Fact] = []
    quoted_spans = []
    for match in QUOTED.finditer(plain):
        text = next(g for g in match.groups() if g)
        found.append(Fact("quoted", text))
        quoted_spans.append(match.span())
    for match in NAME.finditer(plain):
        if any(a <= match.start() < b for a, b in quoted_spans):
            continue
        text = next(g for g in match.groups() if g)
        if text in IGNORED_NAMES or text.lower() in UNITS or text.strip("-") == "":
            continue
        found.append(Fact("name", text))
    names = " ".join(f.text for f in found if f.kind != "figure")
    for match in NUMBER.finditer(plain):
        number, unit = match.group(1), (match.group(2) or "")
        if number in names:  # "2.5.1" inside `milvus-lite==2.5.1` is checked as the name
            continue
        unit = unit.lower() if unit.lower() in UNITS else ""
        found.append(Fact("figure", match.group(0).strip(), number, UNIT_NAMES.get(unit, unit)))
    return found


def holds(passage: str, fact: Fact) -> bool:
    """The passage states the fact (case-insensitive; figures by number and unit)."""
    text = SPACES.sub(" ", passage).lower()
    if fact.kind != "figure":
        wanted = SPACES.sub(" ", fact.text).lower()
        return wanted in text or wanted.replace("_", " ") in text
    for match in NUMBER.finditer(text):
        if _same_number(match.group(1), fact.number):
            unit = (match.group(2) or "").lower()
            if not fact.unit or UNIT_NAMES.get(unit, unit) == fact.unit:
                return True
            if fact.unit and _unit_near(text, match.end(), fact.unit):
                return True
    return False


def _same_number(a: str, b: str) -> bool:
    return a.replace(",", "") == b.replace(",", "")


def _unit_near(text: str, position: int, unit: str) -> bool:
    """'4 MiB' in the passage for '4 MB' in the answer is a different unit; but '90
    (days)' or 'default: 30 ... minutes' within a few words still states it."""
    window = text[position : position + 24]
    words = [UNIT_NAMES.get(w, w) for w in re.findall(r"[a-z%]+", window)]
    return unit in words[:3]


def check_sentence(
    sentence: str, cited: Sequence[int], passages: dict[int, str], similar: dict[int, float]
) -> Checked:
    """Check one sentence. `passages` maps context numbers to their text; `similar` holds
    the sentence's word/meaning support per context (engine/cite.py scores). A passage
    supports the sentence's facts when one of its units, or two neighbouring units, holds
    them all: a figure somewhere else on the page does not count."""
    facts = facts_of(sentence)
    text = MARKER.sub("", sentence).strip()
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    result = Checked(text, list(cited), "model", True, [f.text for f in facts])
    if says_not_found(sentence):
        return result
    if not facts:
        return _check_by_similarity(result, cited, similar)
    windows = {n: _windows(body) for n, body in passages.items()}
    supporting = [n for n in passages if any(_holds_all(w, facts) for w in windows[n])]
    if set(cited) & set(supporting):
        result.citations = [n for n in cited if n in supporting]
    elif supporting:
        result.citations, result.by = [_best(supporting, similar)], "attribution"
    else:
        every = [w for own in windows.values() for w in own]
        result.missing = [f.text for f in facts if not any(holds(w, f) for w in every)]
        result.missing = result.missing or [f.text for f in facts]
        result.citations, result.supported = [], False
    return result


def _windows(passage: str) -> list[str]:
    """Each unit of the passage, and each pair of neighbouring units."""
    units = [passage[u.start : u.end] for u in split_units(passage)] or [passage]
    return units + [f"{a} {b}" for a, b in zip(units, units[1:], strict=False)]


def _holds_all(window: str, facts: Sequence[Fact]) -> bool:
    return all(holds(window, fact) for fact in facts)


def _check_by_similarity(
    result: Checked, cited: Sequence[int], similar: dict[int, float]
) -> Checked:
    ranked = sorted(similar.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < SUPPORT:
        result.citations, result.supported = [], False
        return result
    best, score = ranked[0]
    strong = [n for n, s in similar.items() if s >= SUPPORT and s >= score - MARGIN]
    if not set(cited) & set(strong):
        result.citations, result.by = [best], "attribution"
    else:
        result.citations = [n for n in cited if n in strong]
    return result


def _best(candidates: Sequence[int], similar: dict[int, float]) -> int:
    return max(candidates, key=lambda n: similar.get(n, 0.0))
