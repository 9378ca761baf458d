"""The evaluation corpora and their questions, shared by the retrieval and answer benches.

- docs: docsight's own guide (docs/ of this repository);
- git: the git manual as Debian's git-doc package installs it (242 HTML pages);
  `make bench-corpora` installs it.
Questions are bench/questions/<corpus>.jsonl, written by hand (see bench/questions/README.md).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from common import ROOT

from engine.evaluate import question_from

GIT_DOC = Path("/usr/share/doc/git-doc")


def corpus_folder(name: str, into: Path) -> Path:
    folder = into / name
    if folder.exists():
        return folder
    if name == "docs":
        shutil.copytree(ROOT / "docs", folder)
    elif name == "git":
        if not GIT_DOC.is_dir():
            sys.exit("bench: git-doc is not installed (make bench-corpora)")
        for page in GIT_DOC.rglob("*.html"):
            target = folder / page.relative_to(GIT_DOC)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, target)
    else:
        sys.exit(f"bench: unknown corpus {name}")
    return folder


def questions(name: str, split: str, answerable: bool = True) -> list[dict[str, Any]]:
    """The corpus' questions of a split: the answerable ones, or the unanswerable ones."""
    path = ROOT / "bench" / "questions" / f"{name}.jsonl"
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    items = [q for q in items if (q["kind"] != "unanswerable") == answerable]
    return [q for q in items if split == "all" or q["split"] == split]


def relevant(question: dict[str, Any], path: str, text: str) -> bool:
    """A chunk holds the answer (the rule of engine/evaluate.py, which `docsight eval` uses)."""
    return question_from(question).relevant(path, text)
