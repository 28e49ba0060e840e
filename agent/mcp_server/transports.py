"""How a `ToolServer` is reached: stdio (the client starts `codeagent mcp` and talks on its
stdin/stdout) or streamable HTTP on a loopback address (uvicorn, as the SDK recommends).

In stdio mode stdout belongs to the protocol: the SDK points file descriptor 1 at stderr
while it serves, so a stray print (ours or a library's) lands in the log, never in the
JSON-RPC stream; our own messages go to stderr through `logging`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading

from codeagent.errors import EXIT_INTERRUPTED, UsageError
from codeagent.mcp_server.server import ToolServer

log = logging.getLogger("codeagent.mcp")

DEFAULT_PORT = 8765
PATH = "/mcp"


def serve_stdio(tools: ToolServer) -> None:
    """Serve until the client closes stdin; Ctrl-C or SIGTERM end the process (130).

    The protocol runs in a thread of its own: the SDK reads stdin in a worker thread that
    no cancellation can interrupt, so an interrupted event loop would wait for the next
    line forever. The main thread keeps the signals; on one it stops the index run (what
    is committed stays) and leaves without waiting for that reader."""
    import anyio

    async def run() -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await tools.server.run(read, write, tools.server.create_initialization_options())

    failed: list[BaseException] = []

    def protocol() -> None:
        try:
            anyio.run(run)
        except BaseException as exc:  # re-raised in the main thread
            failed.append(exc)

    thread = threading.Thread(target=protocol, name="codeagent-mcp-stdio", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        log.info("interrupted")
        tools.close()
        logging.shutdown()
        os._exit(EXIT_INTERRUPTED)
    if failed:
        raise failed[0]
    log.info("the client closed the connection")


def parse_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:8765`, `localhost:9000`, `[::1]:8765`, `:8765` or `8765` -> (host, port);
    only loopback addresses: the server answers without authentication."""
    text = text.strip()
    host, port = "127.0.0.1", str(DEFAULT_PORT)
    if text.isdigit():
        port = text
    elif text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or port
    elif text.count(":") == 1:
        host, port = text.split(":")
        host = host or "127.0.0.1"
    elif text:
        host = text
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"'{text}' has no valid port", "give HOST:PORT, e.g. 127.0.0.1:8765")
    if not _loopback(host):
        raise UsageError(
            f"{host} is not a loopback address: codeagent mcp answers without "
            "authentication, with the code of your repository, so it listens on this "
            "machine only",
            "use 127.0.0.1, ::1 or localhost (from another machine, through an SSH tunnel)")
    return host, int(port)


def serve_http(tools: ToolServer, host: str, port: int) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until Ctrl-C / SIGTERM."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # clients queue from now on, before uvicorn is up
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                         "another server has the port? choose one with --http HOST:PORT") from None
    bound = sock.getsockname()[1]
    # The SDK turns on DNS-rebinding protection for loopback hosts (Host/Origin checked).
    app = tools.server.streamable_http_app(streamable_http_path=PATH,
                                           host="localhost" if host == "localhost" else host)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None,
                                           lifespan="on"))
    shown = f"[{host}]" if ":" in host else host
    log.info("serving %s at http://%s:%d%s", tools.ctx.repo, shown, bound, PATH)
    server.run(sockets=[sock])


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configure_logging(verbose: bool) -> None:
    """Our messages to stderr (`codeagent mcp: ...`), the libraries' warnings only."""
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(logging.Formatter("codeagent mcp: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("codeagent").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in ("mcp", "uvicorn", "httpx", "chromadb"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
