"""Latency of a tool call through `codeagent mcp` (stdio, the SDK's client) vs the same tool
called in-process, and what keeping the index fresh costs.

    python bench/mcp_latency.py REPO [--rounds 20] [--embed-model NAME]

REPO is an indexed repository (e.g. a requests checkout after `codeagent index`); it is
changed during the run (one file appended to, then restored). Each round calls every tool
once through MCP and once in-process, alternating, with the same arguments; the p50s of
the two are side by side, with their difference (the protocol, the worker thread and the
no-op index run before each call). Then one file is changed before each of a few
`find_symbol` calls: what a call costs when the index must embed that file first.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CALLS = {
    "semantic_search": {"query": "where are redirects followed", "k": 8},
    "multi_query_search": {"question": "Session.send ignores the proxies of the environment "
                                       "when a request is redirected", "k": 8},
    "grep": {"pattern": "def send", "path_glob": "*.py"},
    "find_symbol": {"name": "Session.send"},
    "read_file": {"path": "src/requests/sessions.py", "start_line": 1, "end_line": 80},
    "list_files": {},
}
CHANGED = "src/requests/help.py"


async def measure(repo: Path, model: str, rounds: int) -> dict:
    from mcp import Client, StdioServerParameters

    from codeagent.index.embedding import load_embedding
    from codeagent.index.layout import open_manifest_readonly, recorded_backend_of
    from codeagent.settings import load_settings
    from codeagent.tools import TOOLS, ToolContext, bind

    manifest = open_manifest_readonly(repo)
    backend = recorded_backend_of(manifest)  # the in-process side embeds as the index did
    manifest.close()
    ctx = ToolContext(repo, load_settings(repo, {"embed_model": model}),
                      embedding=load_embedding(model, "cpu", 32, backend=backend))
    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "codeagent", "mcp", "--repo", str(repo), "--embed-model", model])
    mcp_ms: dict[str, list[float]] = {name: [] for name in CALLS}
    local_ms: dict[str, list[float]] = {name: [] for name in CALLS}
    started = time.perf_counter()
    async with Client(params) as client:
        connected = time.perf_counter() - started
        for name, arguments in CALLS.items():  # warm: models, store, keyword index
            await client.call_tool(name, arguments)
            bind(TOOLS[name], ctx)(**arguments)
        for _ in range(rounds):
            for name, arguments in CALLS.items():
                t = time.perf_counter()
                await client.call_tool(name, arguments)
                mcp_ms[name].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                bind(TOOLS[name], ctx)(**arguments)
                local_ms[name].append((time.perf_counter() - t) * 1000)
        changed_ms = []
        path = repo / CHANGED
        original = path.read_bytes()
        try:
            for i in range(5):
                path.write_bytes(original + f"\n\ndef bench_marker_{i}():\n    return {i}\n".encode())
                t = time.perf_counter()
                result = await client.call_tool("find_symbol", {"name": f"bench_marker_{i}"})
                changed_ms.append((time.perf_counter() - t) * 1000)
                assert CHANGED in result.content[0].text, result.content[0].text
        finally:
            path.write_bytes(original)
            await client.call_tool("find_symbol", {"name": "main"})
    ctx.close()
    p50 = {name: {"mcp_ms": round(statistics.median(mcp_ms[name]), 1),
                  "in_process_ms": round(statistics.median(local_ms[name]), 1),
                  "overhead_ms": round(statistics.median(mcp_ms[name])
                                       - statistics.median(local_ms[name]), 1),
                  "ratio": round(statistics.median(mcp_ms[name])
                                 / max(statistics.median(local_ms[name]), 0.01), 2)}
           for name in CALLS}
    return {"repo": str(repo), "model": model, "backend": backend, "rounds": rounds,
            "connect_s": round(connected, 2), "p50": p50,
            "after_a_one_file_change_ms": {"p50": round(statistics.median(changed_ms), 1),
                                           "each": [round(x) for x in changed_ms]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--embed-model", default=MODEL)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.repo.resolve(), args.embed_model, args.rounds)),
                     indent=2))


if __name__ == "__main__":
    main()
