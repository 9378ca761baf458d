"""The engine is a library with no UI in it: importing it must not import textual."""

from __future__ import annotations

import subprocess
import sys


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
