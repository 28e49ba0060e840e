"""`codeagent mcp`: the repository's index and tools as an MCP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from codeagent.cli.common import CONTEXT, repo_option, settings_from, store_options


@click.command(context_settings=CONTEXT)
@repo_option
@store_options
@click.option("--http", "address", metavar="HOST:PORT",
              help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio "
                   "(loopback only; `--http 8765` means 127.0.0.1:8765).")
@click.option("--no-index", is_flag=True,
              help="Do not update the index (at start or before calls): serve it as it is.")
@click.option("--index-wait", type=click.FloatRange(min=0), default=10.0, show_default=True,
              metavar="SECONDS",
              help="How long a call that reads the index waits for the update of files "
                   "changed on disk; past it the result says it is partial.")
@click.option("-v", "--verbose", is_flag=True, help="Log every call and the protocol to stderr.")
def mcp(repo: Path, address: str | None, no_index: bool, index_wait: float, verbose: bool,
        **flags: Any) -> None:
    """Serve the repository's index and the agent's tools over the Model Context Protocol.

    For the agents you already run (Claude Code, Cursor, Continue, ...): semantic_search,
    multi_query_search, grep, find_symbol, read_file and list_files, with the names,
    arguments and descriptions codeagent's own agent sees, jailed to the repository.
    The index is brought up to date at start (in the background: calls are answered at
    once, and say so while it fills) and before every call, so a file changed on disk is
    in the next answer.

    \b
      codeagent mcp                          # stdio: the client starts this command
      codeagent mcp --repo ~/src/app
      codeagent mcp --http 127.0.0.1:8765    # streamable HTTP, at /mcp

    Logs go to stderr. stdio ends when the client closes the connection; both end on
    Ctrl-C, keeping what the index run had committed.
    """
    from codeagent.mcp_server.server import ToolServer
    from codeagent.mcp_server.transports import (configure_logging, parse_address, serve_http,
                                                 serve_stdio)

    configure_logging(verbose)
    http = parse_address(address) if address is not None else None
    settings = settings_from(repo, **flags)
    tools = ToolServer(repo, settings, update_index=not no_index, index_wait=index_wait)
    tools.start()
    try:
        if http is None:
            serve_stdio(tools)
        else:
            serve_http(tools, *http)
    finally:
        tools.close()
