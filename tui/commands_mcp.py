"""`docsight mcp DIR`: the folder's live index as an MCP server on stdio (tui/mcp_server.py).

Nothing but the protocol goes to stdout; logs go to the data dir's docsight.log (and to
stderr with -v)."""

from __future__ import annotations

import argparse
from typing import Any

from tui.arguments import add_dir, subcommand
from tui.commands_common import config_path_from, data_dir_from, folder_from, settings_from


def register(subparsers: Any) -> None:
    mcp = subcommand(
        subparsers,
        "mcp",
        "serve a folder's live index to coding agents (MCP on stdio)",
        "docsight mcp ~/notes     as an agent starts it, from its mcpServers table",
        "(docs/guide/agents.md shows that table for Claude Code, Cursor and others)",
    )
    add_dir(mcp, optional=True)
    mcp.set_defaults(func=run_mcp)


def run_mcp(args: argparse.Namespace) -> int:
    from engine import LiveIndex
    from tui.mcp_server import build_server

    index = LiveIndex(
        folder_from(args),
        settings_from(args),
        data_dir_from(args),
        config_path=config_path_from(args),
    )
    build_server(index).run("stdio")
    return 0
