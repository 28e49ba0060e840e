"""`codeagent mcp`: the index and the agent's tools served over the Model Context Protocol,
for the agents people already run (Claude Code, Cursor, Continue, ...).

    keeper.py       the index kept in line with the files while the server runs
    server.py       the MCP server (the SDK's low-level `Server`): the tool registry of the
                    ReAct agent, called in one worker thread
    transports.py   stdio and streamable HTTP
"""
