"""`codeagent mcp` driven by a real MCP client (the official SDK's `Client`): over stdio in a
subprocess, over streamable HTTP on 127.0.0.1, and in-process where a test must hold the
index run still. What the client gets must be what the agent's tools give."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from codeagent.settings import load_settings
from codeagent.tools import TOOLS, ToolContext, bind, build_tools
from support import make_repo, write_files

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
CALLS = {  # each tool with arguments that find something in the fixture repository
    "semantic_search": {"query": "follow HTTP redirects to the new location", "k": 3},
    "multi_query_search": {"question": "why does resolve_redirects loop forever?", "k": 3},
    "grep": {"pattern": "MAX_REDIRECTS", "path_glob": "*.py"},
    "find_symbol": {"name": "resolve_redirects"},
    "read_file": {"path": "net/redirects.py", "start_line": 1, "end_line": 12},
    "list_files": {},
}
REFUSED = {  # path -> what the jail says, as the agent would be told
    "../outside.py": "leads outside the repository",
    "/etc/passwd": "is an absolute path",
    ".env": "is a secret file",
    "outside_link.py": "symlink that leads outside the repository",
}


def server_command(repo: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "codeagent", "mcp", "--repo", str(repo),
            "--embed-model", MINILM, *extra]


def server_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def served_repo(tmp_path_factory, minilm):
    """The fixture repository (hostile files included), indexed with MiniLM; the tests of
    this module may change it (each adds its own files)."""
    from codeagent.index.run import run_index

    root = make_repo(tmp_path_factory.mktemp("mcp") / "repo")
    (root / ".codeagent.toml").write_text(f'embed_model = "{MINILM}"\n')
    run_index(root, load_settings(root, environ={}), embedding=minilm)
    return root


def in_process(repo: Path, minilm, name: str, arguments: dict) -> str:
    """What the agent (and `codeagent tool NAME`) gets for the same call."""
    ctx = ToolContext(repo, load_settings(repo, environ={}), embedding=minilm)
    try:
        return bind(TOOLS[name], ctx)(**arguments)
    finally:
        ctx.close()


def text_of(result) -> str:
    assert len(result.content) == 1 and result.content[0].type == "text"
    return result.content[0].text


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=240))


async def stdio_session(repo: Path, body, mode: str = "auto", extra: tuple = ()):
    from mcp import Client, StdioServerParameters

    command = server_command(repo, *extra)
    params = StdioServerParameters(command=command[0], args=command[1:], env=server_env())
    async with Client(params, mode=mode) as client:
        return await body(client)


@pytest.mark.slow
def test_stdio_lists_the_agents_tools_with_the_agents_schemas(served_repo):
    async def body(client):
        return (await client.list_tools()).tools, client.server_info

    tools, info = run(stdio_session(served_repo, body))
    assert info.name == "codeagent"
    agent_tools = {t.metadata.get_name(): t for t in build_tools(
        ToolContext(served_repo, load_settings(served_repo, environ={})))}
    assert [t.name for t in tools] == list(TOOLS)
    for tool in tools:
        expected = agent_tools[tool.name].metadata
        assert tool.input_schema == expected.get_parameters_dict()
        assert tool.description == expected.description
        assert tool.annotations.read_only_hint is True


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["legacy", "auto"])  # the 2025 handshake, the 2026 protocol
def test_stdio_calls_answer_as_the_tools_do(served_repo, minilm, mode):
    async def body(client):
        results = {}
        for name, arguments in CALLS.items():
            results[name] = await client.call_tool(name, arguments)
        return results

    results = run(stdio_session(served_repo, body, mode=mode))
    for name, arguments in CALLS.items():
        assert results[name].is_error is False, text_of(results[name])
        assert text_of(results[name]) == in_process(served_repo, minilm, name, arguments), name
    assert "net/redirects.py" in text_of(results["semantic_search"]).splitlines()[1]
    assert "net/redirects.py:" in text_of(results["find_symbol"])


@pytest.mark.slow
def test_stdio_refuses_paths_outside_and_secrets_and_survives_bad_calls(served_repo):
    from mcp import MCPError

    async def body(client):
        refused = {path: await client.call_tool("read_file", {"path": path})
                   for path in REFUSED}
        secret_grep = await client.call_tool("grep", {"pattern": "API_TOKEN"})
        bad_type = await client.call_tool("semantic_search", {"query": "x", "k": "many"})
        unknown_argument = await client.call_tool("grep", {"pattern": "x", "flags": "i"})
        try:
            await client.call_tool("delete_everything", {})
            unknown_tool = None
        except MCPError as exc:
            unknown_tool = exc
        after = await client.call_tool("grep", {"pattern": "MAX_REDIRECTS"})
        return refused, secret_grep, bad_type, unknown_argument, unknown_tool, after

    refused, secret_grep, bad_type, unknown_argument, unknown_tool, after = run(
        stdio_session(served_repo, body))
    for path, why in REFUSED.items():
        assert refused[path].is_error is True
        assert text_of(refused[path]).startswith("error: ") and why in text_of(refused[path])
    assert "supersecret" not in text_of(secret_grep) and ".env" not in text_of(secret_grep)
    assert bad_type.is_error and "'k' must be a whole number" in text_of(bad_type)
    assert unknown_argument.is_error and "has no argument 'flags'" in text_of(unknown_argument)
    assert unknown_tool is not None and "unknown tool 'delete_everything'" in unknown_tool.message
    assert after.is_error is False and "net/redirects.py" in text_of(after)


@pytest.mark.slow
def test_a_file_changed_mid_session_is_in_the_next_answer(served_repo):
    async def body(client):
        before = await client.call_tool("find_symbol", {"name": "flux_capacitor"})
        write_files(served_repo, {"physics/flux.py": (
            "def flux_capacitor(gigawatts):\n"
            '    """Time travel needs 1.21 gigawatts through the flux capacitor."""\n'
            "    return gigawatts >= 1.21\n")})
        symbol = await client.call_tool("find_symbol", {"name": "flux_capacitor"})
        search = await client.call_tool("semantic_search", {
            "query": "time travel flux capacitor gigawatts", "k": 1})
        (served_repo / "physics/flux.py").unlink()
        gone = await client.call_tool("find_symbol", {"name": "flux_capacitor"})
        return before, symbol, search, gone

    # A loaded machine may take longer than the default 10 s to embed the file.
    before, symbol, search, gone = run(stdio_session(served_repo, body,
                                                     extra=("--index-wait", "120")))
    assert "no definition of or reference to 'flux_capacitor'" in text_of(before)
    assert "physics/flux.py:1-3" in text_of(symbol)
    assert text_of(search).splitlines()[1].startswith("physics/flux.py:1-3")
    assert "no definition of or reference to 'flux_capacitor'" in text_of(gone)


def initialized_by_hand(repo: Path) -> subprocess.Popen:
    """A stdio server after the 2025 handshake's first request, written as JSON by hand:
    the tests that must see the process itself end (not be ended by the SDK's client)."""
    server = subprocess.Popen(server_command(repo), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env())
    request = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"}}}
    server.stdin.write((json.dumps(request) + "\n").encode())
    server.stdin.flush()
    reply = json.loads(server.stdout.readline())
    assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "codeagent"
    return server


@pytest.mark.slow
def test_the_server_ends_when_the_client_closes_stdin(served_repo):
    """No SDK here: the test must see the server leave by itself, not be killed."""
    server = initialized_by_hand(served_repo)
    server.stdin.close()
    assert server.wait(timeout=60) == 0
    rest, log = server.stdout.read(), server.stderr.read().decode()
    assert rest == b""  # nothing but protocol ever went to stdout
    assert "codeagent mcp: the client closed the connection" in log


@pytest.mark.slow
def test_streamable_http_on_loopback(served_repo, minilm):
    from mcp import Client

    server = subprocess.Popen(server_command(served_repo, "--http", "127.0.0.1:0"),
                              stderr=subprocess.PIPE, text=True, env=server_env())
    lines: list[str] = []
    url = _wait_for_url(server, lines)
    try:
        async def body():
            async with Client(url) as client:
                tools = (await client.list_tools()).tools
                found = await client.call_tool("grep", CALLS["grep"])
                refused = await client.call_tool("read_file", {"path": ".env"})
                return tools, found, refused

        tools, found, refused = run(body())
        assert [t.name for t in tools] == list(TOOLS)
        assert text_of(found) == in_process(served_repo, minilm, "grep", CALLS["grep"])
        assert refused.is_error and "is a secret file" in text_of(refused)
    finally:
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=60)
    assert code in (0, 130), "".join(lines) + server.stderr.read()


def _wait_for_url(server: subprocess.Popen, lines: list[str]) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"at (http://127\.0\.0\.1:\d+/mcp)", line)
        if found:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading.Thread(target=lambda: lines.extend(server.stderr), daemon=True).start()
            return found.group(1)
    server.kill()
    raise AssertionError("the server never said where it listens:\n" + "".join(lines))


def test_http_refuses_addresses_that_are_not_loopback(served_repo):
    out = subprocess.run(server_command(served_repo, "--http", "0.0.0.0:8765"),
                         capture_output=True, text=True, env=server_env(), timeout=120)
    assert out.returncode == 2
    assert "not a loopback address" in out.stderr


def test_while_the_first_index_fills_calls_are_answered_and_say_so(tmp_path, minilm):
    """In-process (the SDK's in-memory client), with an embedding model that waits for the
    test: the first index is still running when the calls come."""
    from mcp import Client

    from codeagent.mcp_server.server import ToolServer

    repo = make_repo(tmp_path / "repo", hostile=False)
    release = threading.Event()
    model, info = minilm

    class HeldModel(type(model)):
        def _get_text_embeddings(self, texts):
            release.wait(120)
            return super()._get_text_embeddings(texts)

    held = HeldModel(model_name=model.model_name, device="cpu")
    tools = ToolServer(repo, load_settings(repo, environ={}), embedding=(held, info))
    tools.start()

    async def body():
        async with Client(tools.server) as client:
            early = {name: await client.call_tool(name, CALLS[name])
                     for name in ("semantic_search", "grep", "read_file")}
            release.set()
            assert tools.ctx.filling.wait(120)
            late = await client.call_tool("semantic_search", CALLS["semantic_search"])
            return early, late

    try:
        early, late = run(body())
    finally:
        release.set()
        tools.close()
    assert early["semantic_search"].is_error
    assert "the index is still filling" in text_of(early["semantic_search"])
    assert not early["grep"].is_error and "net/redirects.py" in text_of(early["grep"])
    assert not early["read_file"].is_error
    assert not late.is_error and "net/redirects.py" in text_of(late).splitlines()[1]


@pytest.mark.slow
def test_ctrl_c_ends_the_stdio_server_at_once(served_repo):
    server = initialized_by_hand(served_repo)
    server.send_signal(signal.SIGINT)  # stdin stays open: the reader must not hold it up
    assert server.wait(timeout=30) == 130
    assert "codeagent mcp: interrupted" in server.stderr.read().decode()
    server.stdin.close()


README = Path(__file__).resolve().parent.parent / "README.md"
PLACEHOLDERS = {"/path/to/.venv/bin/codeagent": str(Path(sys.executable).parent / "codeagent")}


def readme_snippets() -> dict[str, list[str]]:
    """The client configurations of the README's `codeagent mcp` section, as commands."""
    import yaml

    text = README.read_text(encoding="utf-8")
    section = text[text.index("### `codeagent mcp`"):text.index("### `codeagent index")]
    claude_code = re.search(r"^\s+claude mcp add codeagent -- (.+)$", section, re.M).group(1)
    desktop = json.loads(re.search(r"```json\n(.+?)```", section, re.S).group(1))
    continue_ = yaml.safe_load(re.search(r"```yaml\n(.+?)```", section, re.S).group(1))
    entry, server = desktop["mcpServers"]["codeagent"], continue_["mcpServers"][0]
    return {"claude code": claude_code.split(),
            "claude desktop, cursor": [entry["command"], *entry["args"]],
            "continue": [server["command"], *server["args"]]}


@pytest.mark.slow
def test_the_readme_configurations_start_a_working_server(served_repo):
    from mcp import Client, StdioServerParameters

    from codeagent.mcp_server.transports import DEFAULT_PORT, PATH

    snippets = readme_snippets()
    assert len(snippets) == 3
    for client, command in snippets.items():
        command = [PLACEHOLDERS.get(part, part).replace("/path/to/your/repo", str(served_repo))
                   for part in command]
        assert Path(command[0]).exists(), (client, command)

        async def body():
            params = StdioServerParameters(command=command[0], args=command[1:],
                                           env=server_env())
            async with Client(params) as mcp_client:
                tools = (await mcp_client.list_tools()).tools
                return tools, await mcp_client.call_tool("semantic_search",
                                                         CALLS["semantic_search"])

        tools, found = run(body())
        assert [t.name for t in tools] == list(TOOLS), client
        assert not found.is_error and "net/redirects.py" in text_of(found), client
    section = README.read_text(encoding="utf-8")
    assert f'"url": "http://127.0.0.1:{DEFAULT_PORT}{PATH}"' in section
    assert f"--http 127.0.0.1:{DEFAULT_PORT}" in section
