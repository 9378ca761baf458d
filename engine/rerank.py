"""Rescoring: the fused candidates of a search, ranked again by what a person would check.

Hybrid search (dense + BM25, fused by rank) finds the right passage often but ranks it
first less often than dense search alone: RRF scores say nothing about how well a passage
answers. So the top `retrieval.candidates` chunks are scored again on four features, each
in 0-1, and ranked by their weighted mean, which is also the relevance shown to people:

- unit: the best cosine between the question and one unit (sentence, list item, table row)
  of the chunk, from unit vectors pooled at index time (engine/units.py, engine/embed.py);
  a fact sits in one sentence, and a chunk's mean vector dilutes it;
- chunk: the cosine between the question and the chunk's own vector;
- words: the share of the question's content words found in the heading path and text
  (a hyphenated or dotted word counts as its parts too: the title git-describe(1));
- names: the share of identifiers the question names (`max_file_mb`, `--onto`,
  gc.autoPackLimit, CamelCase, UPPER_CASE) found verbatim (case-insensitive): the BM25
  analyzer cuts them into pieces, so only this feature matches them exactly.

The weights were chosen on the dev split of bench/retrieval.py's questions (the README
quotes all questions). With
`retrieval.rerank = "remote"` a cross-encoder served at `retrieval.rerank_url` (vLLM's
`/v1/rerank`, or any server speaking it) replaces the unit feature.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.types import Hit
from engine.units import split_units

log = logging.getLogger(__name__)

WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'-]*")
IDENTIFIER = re.compile(
    r"`([^`\n]{2,80})`"  # anything in backquotes
    r"|(?<![\w-])(--?[A-Za-z][\w-]+)"  # --option, -x
    r"|\b([A-Za-z][A-Za-z0-9]*(?:[._][A-Za-z0-9]+)+)\b"  # snake_case, dotted.names
    r"|\b([a-z]+[A-Z][A-Za-z0-9]*)\b"  # camelCase
    r"|\b([A-Z]{2,}[A-Z0-9_]*)\b"  # UPPER_CASE
)
PARTED = re.compile(r"[-.]")
SETTING_LIKE = re.compile(r"^--?\w|\w[._]\w")
# a capitalised word, not an acronym: Python (of "Python's"), GitHub; not TUI, JSON
PROPER = re.compile(r"(?<![\w.`/-])([A-Z](?=[A-Za-z]*[a-z])[A-Za-z]{2,})(?![\w`/])")
_STOP_TEXT = """a an and are as at be by can could do does did for from had has have how i if in
into is it its me my of on or our should so than that the their them then there these they
this those to was we were what when where which who why will with would you your about any
some there one get use used using want make way like need just also only does don't i'm i've"""
STOPWORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Weights:
    # Chosen on the dev questions of both bench corpora (bench/retrieval.py): the best
    # summed MRR over a grid of 0-1.5 per weight.
    unit: float = 1.0
    chunk: float = 1.5
    words: float = 1.0
    names: float = 0.3


DEFAULT_WEIGHTS = Weights()
# (chunk hashes) -> {hash: (chunk vector, unit vectors or None)}
VectorLookup = Callable[[list[Hit]], dict[str, tuple[np.ndarray, np.ndarray | None]]]
# (query, texts) -> one relevance in 0-1 per text (a cross-encoder)
CrossScore = Callable[[str, list[str]], list[float]]


def content_words(text: str) -> set[str]:
    """The words of `text` less stop words, lower-cased; a hyphenated or dotted word is
    also its parts, so "git describe" meets the title git-describe(1)."""
    words = {w.lower().strip(".'-") for w in WORD.findall(text)}
    parts = {part for word in words if PARTED.search(word) for part in PARTED.split(word)}
    return (words | parts) - STOPWORDS - {""}


def identifiers(query: str) -> list[str]:
    """What the question names exactly, lower-cased, in order, without repeats."""
    found = (next(g for g in m.groups() if g) for m in IDENTIFIER.finditer(query))
    return list(dict.fromkeys(name.lower() for name in found))


def absent_names(
    query: str, hits: Sequence[Hit], search: Callable[[str], Sequence[Hit]] | None = None
) -> list[str]:
    """The settings, options, dotted names and commands (`index.turbo_mode`, --depth,
    `git undo`) and the proper names (Google Drive, Mercurial) the question names that no
    passage of the folder holds verbatim: a question about something the folder never
    mentions. A name missing from the hits is searched for on its own (`search`), since
    another passage may hold it (the guide says "Python" where the example client's code
    does not). Plain words and acronyms are left to the relevance floor (a passage may
    say "terminal UI" where the question says TUI)."""
    text = _plain("\n".join(_searchable(hit) for hit in hits))
    named = [n for n in identifiers(query) if len(n) > 3 and SETTING_LIKE.search(n)]
    named += [n for n in identifiers(query) if " " in n and n not in named]
    named += [n for n in proper_names(query) if n not in named]
    absent = []
    for name in named:
        if _holds(text, name):
            continue
        found = search(name) if search else ()
        if not any(_holds(_plain(_searchable(hit)), name) for hit in found):
            absent.append(name)
    return absent


def _holds(text: str, name: str) -> bool:
    """`name` is in `text`; a command's words may have a few characters between them
    (`docsight index --json` in "docsight index DIR --json")."""
    if " " not in name:
        return name in text
    gap = r".{0,12}?"
    return re.search(gap.join(re.escape(word) for word in name.split()), text) is not None


def _plain(text: str) -> str:
    """Lower-cased, runs of white space as one space (a command may wrap in a passage)."""
    return " ".join(text.lower().split())


def proper_names(query: str) -> list[str]:
    """Capitalised words inside a sentence of the question (not its first word), lower-
    cased: the names of products, places and people (Google, Jupyter, Peru). Acronyms
    (TUI, JSON) are not among them."""
    found = []
    for match in PROPER.finditer(query):
        before = query[: match.start()].rstrip()
        if before and before[-1] not in '.?!:;"(':
            found.append(match.group(1).lower())
    return list(dict.fromkeys(found))


def rescore(
    query: str,
    query_vector: np.ndarray,
    candidates: Sequence[Hit],
    vectors: VectorLookup,
    weights: Weights = DEFAULT_WEIGHTS,
    cross: CrossScore | None = None,
) -> list[Hit]:
    """The candidates best first, each with `score` = its relevance in 0-1 and
    `unit_scores` = each unit's cosine with the query (what answers quote from)."""
    if not candidates:
        return []
    found = vectors(list(candidates))
    words = content_words(query)
    names = identifiers(query)
    crossed = cross(query, [_searchable(hit) for hit in candidates]) if cross else None
    scored: list[tuple[float, int, Hit]] = []
    for position, hit in enumerate(candidates):
        chunk_vector, unit_vectors = found.get(hit.hash, (None, None))
        units = _unit_scores(query_vector, unit_vectors, hit.text)
        features = (
            crossed[position] if crossed is not None else max(units, default=0.0),
            max(float(chunk_vector @ query_vector), 0.0) if chunk_vector is not None else 0.0,
            _share(words, content_words(_searchable(hit))),
            _found_share(names, _searchable(hit).lower()),
        )
        relevance = _weighted(features, weights, bool(names))
        updated = replace(hit, score=round(relevance, 4), unit_scores=tuple(units))
        scored.append((relevance, -position, updated))  # ties keep the fused order
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [hit for _, _, hit in scored]


def _searchable(hit: Hit) -> str:
    return f"{hit.heading}\n{hit.text}" if hit.heading else hit.text


def _unit_scores(query_vector: np.ndarray, units: np.ndarray | None, text: str) -> list[float]:
    """Cosine of each unit with the query; units whose vectors are missing or empty
    (cut off by the encoder's length limit) score 0."""
    count = len(split_units(text))
    if units is None or len(units) != count:
        return [0.0] * count
    return [round(max(float(s), 0.0), 4) for s in units @ query_vector]


def _share(wanted: set[str], present: set[str]) -> float:
    return len(wanted & present) / len(wanted) if wanted else 0.0


def _found_share(names: list[str], text: str) -> float:
    return sum(name in text for name in names) / len(names) if names else 0.0


def _weighted(features: tuple[float, float, float, float], w: Weights, named: bool) -> float:
    """Weighted mean of the features; the names feature counts only when the question
    names something (else it would pull every score down)."""
    pairs = [(w.unit, features[0]), (w.chunk, features[1]), (w.words, features[2])]
    if named:
        pairs.append((w.names, features[3]))
    total = sum(weight for weight, _ in pairs)
    return sum(weight * value for weight, value in pairs) / total if total else 0.0
