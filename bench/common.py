"""Shared pieces of the benchmarks: a reproducible corpus and one-line JSON output."""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "server",
    "backup",
    "rotate",
    "key",
    "token",
    "index",
    "cluster",
    "deploy",
    "config",
    "release",
    "build",
    "cache",
    "queue",
    "worker",
    "database",
    "schema",
    "migration",
    "replica",
    "shard",
    "latency",
    "memory",
    "disk",
    "network",
    "firewall",
    "certificate",
    "renew",
    "restart",
    "monitor",
    "alert",
    "dashboard",
    "metric",
    "log",
    "trace",
    "retry",
    "timeout",
    "upgrade",
    "rollback",
    "snapshot",
    "volume",
    "container",
    "image",
    "registry",
    "secret",
    "policy",
    "role",
    "user",
    "group",
    "permission",
    "audit",
    "report",
    "schedule",
    "cron",
    "job",
    "pipeline",
    "test",
    "lint",
    "format",
    "review",
)


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, sentences: int = 4) -> str:
    return " ".join(sentence(rng) for _ in range(sentences))


def markdown_file(rng: random.Random, sections: int = 3, paragraphs: int = 3) -> str:
    parts = [f"# {sentence(rng)[:40]}", ""]
    for s in range(sections):
        parts += [f"## Section {s}: {rng.choice(WORDS)} {rng.choice(WORDS)}", ""]
        for _ in range(paragraphs):
            parts += [paragraph(rng), ""]
    return "\n".join(parts)


def write_corpus(
    folder: Path, files: int, seed: int = 7, sections: int = 3, paragraphs: int = 3
) -> None:
    rng = random.Random(seed)
    for i in range(files):
        path = folder / f"area{i % 10}" / f"note{i:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown_file(rng, sections, paragraphs))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit(result: dict[str, Any]) -> None:
    result.setdefault("machine", machine())
    print(json.dumps(result), flush=True)
