"""Follow-ups only when they are follow-ups.

A question that stands on its own retrieves on its own. One that leans on the previous
turn ("how often should I do it?", "and the default?", "what about that one?") cannot:
its own words do not say what it is about, so it retrieves with the previous question.
When the wording does not tell, both are tried and the question's own hits are kept
unless they are weak and the joint ones clearly better.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.rerank import content_words, identifiers
from engine.types import Hit

# an opening that continues the last turn ("and how often?", "what about Windows?")
CONTINUES = re.compile(r"^\s*(and|but|also|or|so|then|what about|how about)\b", re.IGNORECASE)
# words that point back at something named before ("how do I undo it?")
POINTERS = re.compile(
    r"\b(it|its|it's|that|this|these|those|they|them|their|there|one|ones|the same|"
    r"above|previous|former|latter)\b",
    re.IGNORECASE,
)
# A pointer is a follow-up only in a question that names little of its own: "what is the
# default of gc.auto and how do I change it?" and "is there a shorthand for the branch I
# was on before?" stand alone; when the wording does not decide, the scores do.
FEW_WORDS = 2
CLEARLY_BETTER = 0.05


@dataclass(frozen=True)
class Retrieved:
    hits: list[Hit]
    followup: bool  # retrieved with the previous question
    query: str


def leans_on_previous(question: str) -> bool:
    if CONTINUES.match(question):
        return True
    if identifiers(question) or not POINTERS.search(question):
        return False
    return len(content_words(question)) <= FEW_WORDS


def best(hits: Sequence[Hit]) -> float:
    return max((hit.score for hit in hits), default=0.0)


def retrieve(
    question: str,
    previous: str | None,
    search: Callable[[str], list[Hit]],
    weak: float,
) -> Retrieved:
    """The hits for `question`, with the previous question when it leans on it."""
    if not previous:
        return Retrieved(search(question), False, question)
    joint_query = f"{previous}\n{question}"
    if leans_on_previous(question):
        return Retrieved(search(joint_query), True, joint_query)
    own = search(question)
    if best(own) >= weak:
        return Retrieved(own, False, question)
    joint = search(joint_query)
    if best(joint) > best(own) + CLEARLY_BETTER:
        return Retrieved(joint, True, joint_query)
    return Retrieved(own, False, question)
