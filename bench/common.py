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


# Third-party documentation from Debian packages (`make bench-corpora` installs them).
DEBIAN_CORPORA = {
    "python3.11-doc": Path("/usr/share/doc/python3.11/html"),
    "git-doc": Path("/usr/share/doc/git-doc"),
}


def debian_corpus(package: str) -> Path:
    """The folder a Debian documentation package installs; exits with one line if absent."""
    folder = DEBIAN_CORPORA[package]
    if not folder.is_dir():
        sys.exit(f"{folder} is missing: run `make bench-corpora` (apt-get install {package})")
    return folder


def sample_files(folder: Path, count: int, suffixes: tuple[str, ...], seed: int = 7) -> list[Path]:
    """`count` files of `folder` (all when count <= 0), the same ones on every run."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in suffixes)
    if 0 < count < len(found):
        found = sorted(random.Random(seed).sample(found, count))
    return found


def copy_files(files: list[Path], root: Path, into: Path) -> None:
    for path in files:
        target = into / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())


def cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for (Milvus Lite)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
