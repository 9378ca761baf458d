"""The engine is a library with no UI in it: importing it must not import textual."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_engine_never_imports_textual() -> None:
    code = (
        "import importlib, pkgutil, sys, engine\n"
        "for info in pkgutil.iter_modules(engine.__path__):\n"
        "    importlib.import_module(f'engine.{info.name}')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')]\n"
        "print(len(list(pkgutil.iter_modules(engine.__path__))), bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[0]) >= 10  # every engine module was imported


# The cold path (issue: a torch-free CLI). Each command runs in a fresh interpreter, and
# what it imported is read from its sys.modules, so an import anywhere on the way counts.
MODEL_STACK = ("torch", "transformers", "sentence_transformers", "sklearn")
# scipy and pandas come with pymilvus, which a search needs anyway
HEAVY: tuple[str, ...] = (*MODEL_STACK, "onnxruntime", "tokenizers", "pymilvus", "milvus_lite")
HEAVY += ("numpy", "scipy", "pandas", "openai", "textual", "watchdog")


def imported_by(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    code = (
        "import json, sys\n"
        "from tui.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return result.returncode, json.loads(result.stderr.strip().splitlines()[-1])


def test_help_status_indexes_and_llm_status_import_nothing_heavy(notes: Path) -> None:
    for argv in (
        ["--help"],
        ["status", str(notes), "--json"],
        ["indexes", "--json"],
        ["llm", "status", "--json"],
    ):
        code, modules = imported_by(argv)
        assert code in (0, 2), argv  # --help exits 2 after printing the usage
        assert [m for m in HEAVY if m in modules] == [], argv


def test_search_and_ask_on_onnx_import_no_torch(notes: Path) -> None:
    code, modules = imported_by(["index", str(notes), "--json"])
    assert code == 0
    code, modules = imported_by(["search", str(notes), "tomatoes", "--json"])
    assert code == 0 and "onnxruntime" in modules  # the int8 encoder embedded the query
    assert [m for m in MODEL_STACK if m in modules] == []
    nowhere = {"DOCSIGHT_LLM__BASE_URL": "http://127.0.0.1:9/v1"}  # passages, no model
    code, modules = imported_by(["ask", str(notes), "when do I water the tomatoes?"], nowhere)
    assert code == 0 and "onnxruntime" in modules
    assert [m for m in MODEL_STACK if m in modules] == []
    code, modules = imported_by(["status", str(notes), "--json"])
    assert code == 0 and [m for m in HEAVY if m in modules] == []
