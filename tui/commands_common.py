"""What every subcommand takes from its arguments (settings, data dir, folder, config
path) and how it prints: shared by tui/cli.py and the commands_*.py modules it registers,
so that none of them imports the entry point."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine import Settings, UsageError, default_config_path, default_data_dir, load_settings
from tui.arguments import is_folder


def counted(count: int, noun: str) -> str:
    """`1 file`, `2 files`: a count with its noun in agreement (every noun counted here
    takes an s)."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def settings_from(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Settings:
    config = getattr(args, "config", None)
    return load_settings(config, overrides=overrides)


def data_dir_from(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "data_dir", None)
    data_dir = Path(chosen) if chosen else default_data_dir()
    if data_dir.exists() and not data_dir.is_dir():
        where = "--data-dir" if chosen else "DOCSIGHT_DATA_DIR or the default data dir"
        raise UsageError(f"{where} {data_dir}: not a directory")
    return data_dir


def config_path_from(args: argparse.Namespace) -> Path:
    chosen = getattr(args, "config", None)
    return Path(chosen) if chosen else default_config_path()


def folder_from(args: argparse.Namespace) -> Path:
    if not is_folder(args.dir):
        raise UsageError(f"not a folder: {args.dir}")
    return Path(args.dir).expanduser().resolve()


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()
