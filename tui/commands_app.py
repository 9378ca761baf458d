"""`docsight app DIR` (and plain `docsight DIR`): the terminal UI."""

from __future__ import annotations

import argparse
from typing import Any

from tui.arguments import add_dir, subcommand
from tui.commands_common import config_path_from, data_dir_from, folder_from, settings_from


def register(subparsers: Any) -> None:
    app = subcommand(
        subparsers,
        "app",
        "open the terminal UI on a folder (the default)",
        "docsight ~/notes     the same as docsight app ~/notes",
        "docsight app     on the folder you are in",
    )
    add_dir(app, optional=True)
    app.set_defaults(func=run_app)


def run_app(args: argparse.Namespace) -> int:
    from tui.app import DocsightApp
    from tui.session.backend import EngineBackend

    settings = settings_from(args)
    backend = EngineBackend(
        folder_from(args), settings, data_dir_from(args), config_path=config_path_from(args)
    )
    try:
        DocsightApp(backend, settings.tui, backend.data_dir).run()
    finally:
        backend.close()
    return 0
