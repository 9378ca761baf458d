"""`docsight mcp DIR`: the folder's live index as an MCP server on stdio (tui/mcp_server.py).

Nothing but the protocol goes to stdout; logs go to the data dir's docsight.log (and to
stderr with -v)."""

from __future__ import annotations

import argparse
from typing import Any

from tui.cli import common_options, config_path_from, data_dir_from, folder_from, settings_from


def register(subparsers: Any) -> None:
    mcp = subparsers.add_parser(
        "mcp",
        parents=[common_options()],
        help="serve a folder's live index to coding agents (MCP on stdio)",
    )
    mcp.add_argument("dir", nargs="?", default=".", help="the folder (default: here)")
    mcp.set_defaults(func=run_mcp)


def run_mcp(args: argparse.Namespace) -> int:
    from engine.live import LiveIndex
    from tui.mcp_server import build_server

    index = LiveIndex(
        folder_from(args),
        settings_from(args),
        data_dir_from(args),
        config_path=config_path_from(args),
    )
    build_server(index).run("stdio")
    return 0
