"""The MCP server: the ReAct agent's tools, as the agent sees them, for any MCP client.

One registry: the tools are listed from `tools.build_tools`, the FunctionTools the agent
is given, so an MCP client sees the same names, descriptions and argument schemas, and a
call goes through `tools.bind`, the function behind them and behind `codeagent tool NAME`:
the same jail, secret rules, output caps and one-line errors. Built on the low-level
`Server` of the official SDK rather than its decorator API because the schemas already
exist and must not be derived a second time.

The tools are synchronous (an embedding model, SQLite, Chroma): they run one at a time in
one worker thread, so the event loop goes on answering pings and cancellations, and the
index, opened lazily by the first call that needs it, is only ever used by that thread.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from codeagent import __version__
from codeagent.mcp_server.keeper import WAIT_SECONDS, IndexKeeper
from codeagent.settings import Settings
from codeagent.tools import READS_INDEX, TOOLS, ToolContext, bind, build_tools

log = logging.getLogger("codeagent.mcp")

INSTRUCTIONS = (
    "codeagent's index of one repository: semantic_search and multi_query_search find code "
    "by meaning (multi_query_search: a whole question or bug report, several phrasings, "
    "reranked), grep finds exact text, find_symbol definitions and references, read_file "
    "and list_files read. Paths are relative to the repository root; results cite "
    "path:start-end. The index follows the files on disk as they change.")


class ToolServer:
    """One repository's tools behind an MCP `Server` (`self.server`)."""

    def __init__(self, repo: Path, settings: Settings, *, update_index: bool = True,
                 index_wait: float = WAIT_SECONDS, embedding: Any = None) -> None:
        from mcp.server import Server

        self.ctx = ToolContext(repo, settings, embedding=embedding)
        self.keeper = IndexKeeper(self.ctx, embedding, enabled=update_index,
                                  wait_seconds=index_wait)
        self.tools = build_tools(self.ctx)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codeagent-tool")
        self.server = Server("codeagent", version=__version__, instructions=INSTRUCTIONS,
                             on_list_tools=self._list_tools, on_call_tool=self._call_tool)

    def start(self) -> None:
        """Bring the index up to date in the background (the first call does not wait)."""
        self.keeper.start()

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        self.keeper.stop()

    def listing(self) -> list[Any]:
        """The tools as MCP lists them: the agent's names, descriptions and schemas."""
        import mcp_types as types

        hints = types.ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                      idempotent_hint=True, open_world_hint=False)
        return [types.Tool(name=tool.metadata.get_name(), description=tool.metadata.description,
                           input_schema=tool.metadata.get_parameters_dict(), annotations=hints)
                for tool in self.tools]

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        """One tool call, as the agent makes it (in the worker thread): the index brought
        up to date first, then the tool's text, or its one-line `error: ...`."""
        try:
            self.keeper.before_call(reads_index=name in READS_INDEX)
        except Exception:  # an index that cannot be updated must not stop grep or read_file
            log.exception("could not start an index run before %s", name)
        return bind(TOOLS[name], self.ctx)(**arguments)

    async def _list_tools(self, request: Any, params: Any) -> Any:
        import mcp_types as types

        return types.ListToolsResult(tools=self.listing())

    async def _call_tool(self, request: Any, params: Any) -> Any:
        import mcp_types as types
        from mcp import MCPError

        if params.name not in TOOLS:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool '{params.name}'; the tools are: "
                                                 f"{', '.join(TOOLS)}")
        arguments = dict(params.arguments or {})
        log.debug("call %s %s", params.name, arguments)
        loop = asyncio.get_running_loop()
        try:
            text = await loop.run_in_executor(self._worker, self.call, params.name, arguments)
        except Exception as exc:  # bind answers every failure; this is the worker itself
            log.exception("%s failed", params.name)
            text = f"error: {params.name} failed ({type(exc).__name__}: {exc})"
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    is_error=text.startswith("error:"))
